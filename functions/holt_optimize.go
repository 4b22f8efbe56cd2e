package functions

import (
	"context"
	"math"
	"slices"
	"sort"
)

// The estimation problem. statsmodels 0.13 fits ExponentialSmoothing by
// minimising the SSE of the one-step errors over the smoothing parameters
// and the initial states jointly, with the smoothing parameters mapped to
// the unit box as u_alpha, u_beta = beta/alpha, u_gamma = gamma/(1-alpha),
// u_phi = (phi-0.8)/0.195 (so beta <= alpha and gamma <= 1-alpha), starting
// from a grid search and running SLSQP once. Here the same problem, on the
// same feasible set, is solved by a projected Levenberg-Marquardt method
// with exact derivatives (forward-mode through the recursion), started
// from the best points of a coarse grid over the smoothing parameters. At
// each grid point the initial states are themselves optimal: for additive
// models the one-step errors are linear in the initial states, so one
// Gauss-Newton step solves for them exactly; for multiplicative models a
// few Levenberg-Marquardt steps from statsmodels' heuristic states do.
//
// A multiplicative trend makes the surface rugged (the growth factor
// trades off against the level and the seasonal states), so those models
// also restart the local optimiser from fixed perturbations of the best
// point (hop). Points whose SSE the data in its own units does not
// reproduce, because the recursion amplifies rounding, are rejected
// (unstable). Everything is deterministic: no random restarts.

// Bounds of the damping parameter, as statsmodels.
const (
	phiLower = 0.8
	phiUpper = 0.995
)

// positiveFloor is the lower bound of states that must stay positive
// (multiplicative components) on the normalised data, where the level is
// about 1: statsmodels' bound is 0, at which the recursion divides by zero.
const positiveFloor = 1e-10

type hwVar uint8

const (
	varAlpha hwVar = iota
	varBeta
	varGamma
	varPhi
	varLevel
	varTrend
	varSeason
)

// hwProblem is one series' estimation problem. The optimiser's vector z
// holds the free smoothing variables (in unit-box coordinates) first, then
// the initial states.
type hwProblem struct {
	spec hwSpec
	y    []float64
	// orig is the data in its own units: y = (orig - shift) / scale.
	orig         []float64
	shift, scale float64
	// fixed alpha, beta, gamma, phi; NaN where estimated.
	fixed [4]float64

	vars   []hwVar
	sidx   []int // seasonal index of each varSeason variable
	lo, hi []float64
	ks     int // number of smoothing variables
	ia     int // index in z of each smoothing variable, -1 if not estimated
	ib     int
	ig     int
	ip     int
	// sumZero: additive seasonal with a level-shift invariance; the last
	// initial seasonal is minus the sum of the others.
	sumZero bool
	// normMul: multiplicative seasonal, scale invariant; states are
	// renormalised to seasonal mean 1 after each step.
	normMul bool

	seedsAll, seedsStates *hwSeeds
	work                  hwWork
	p                     hwParams
	h, g, a, rhs, zt      []float64
	free                  []int
	ring                  []float64
}

func newHWProblem(spec hwSpec, y []float64, fixed [4]float64) *hwProblem {
	pr := &hwProblem{spec: spec, y: y, fixed: fixed, ia: -1, ib: -1, ig: -1, ip: -1}
	add := func(v hwVar, s int, lo, hi float64) int {
		pr.vars = append(pr.vars, v)
		pr.sidx = append(pr.sidx, s)
		pr.lo = append(pr.lo, lo)
		pr.hi = append(pr.hi, hi)
		return len(pr.vars) - 1
	}
	if math.IsNaN(fixed[0]) {
		pr.ia = add(varAlpha, 0, 0, 1)
	}
	if spec.trend != ComponentNone && math.IsNaN(fixed[1]) {
		pr.ib = add(varBeta, 0, 0, 1)
	}
	if spec.season != ComponentNone && math.IsNaN(fixed[2]) {
		pr.ig = add(varGamma, 0, 0, 1)
	}
	if spec.damped && math.IsNaN(fixed[3]) {
		pr.ip = add(varPhi, 0, 0, 1)
	}
	pr.ks = len(pr.vars)
	anyMul := spec.trend == ComponentMul || spec.season == ComponentMul
	lvlLo := math.Inf(-1)
	if anyMul {
		lvlLo = positiveFloor
	}
	add(varLevel, 0, lvlLo, math.Inf(1))
	if spec.trend != ComponentNone {
		trLo := math.Inf(-1)
		if spec.trend == ComponentMul {
			trLo = positiveFloor
		}
		add(varTrend, 0, trLo, math.Inf(1))
	}
	if spec.season != ComponentNone {
		pr.sumZero = spec.season == ComponentAdd && spec.trend != ComponentMul
		pr.normMul = spec.season == ComponentMul
		ns := spec.m
		if pr.sumZero {
			ns--
		}
		sLo := math.Inf(-1)
		if spec.season == ComponentMul {
			sLo = positiveFloor
		}
		for j := 0; j < ns; j++ {
			add(varSeason, j, sLo, math.Inf(1))
		}
	}
	nd := len(pr.vars)
	pr.seedsAll = newSeeds(nd, spec.m)
	pr.seedsStates = newSeeds(nd-pr.ks, spec.m)
	pr.stateSeeds(pr.seedsStates, 0)
	pr.p.s0 = make([]float64, spec.m)
	pr.h = make([]float64, nd*nd)
	pr.a = make([]float64, nd*nd)
	pr.g = make([]float64, nd)
	pr.rhs = make([]float64, nd)
	pr.zt = make([]float64, nd)
	pr.free = make([]int, 0, nd)
	pr.ring = make([]float64, spec.m)
	return pr
}

// decode maps z to model parameters (into pr.p).
func (pr *hwProblem) decode(z []float64) *hwParams {
	p := &pr.p
	sp := pr.spec
	p.alpha = pr.fixed[0]
	if pr.ia >= 0 {
		p.alpha = z[pr.ia]
	}
	p.beta, p.gamma, p.phi = 0, 0, 1
	if sp.trend != ComponentNone {
		p.beta = pr.fixed[1]
		if pr.ib >= 0 {
			p.beta = z[pr.ib] * math.Min(p.alpha, 1)
		}
	}
	if sp.season != ComponentNone {
		p.gamma = pr.fixed[2]
		if pr.ig >= 0 {
			p.gamma = z[pr.ig] * (1 - p.alpha)
		}
	}
	if sp.damped {
		p.phi = pr.fixed[3]
		if pr.ip >= 0 {
			p.phi = phiLower + z[pr.ip]*(phiUpper-phiLower)
		}
	}
	k := pr.ks
	p.l0 = z[k]
	k++
	p.b0 = 0
	if sp.trend != ComponentNone {
		p.b0 = z[k]
		k++
	}
	if sp.season != ComponentNone {
		var sum float64
		for j := 0; k < len(z); j, k = j+1, k+1 {
			p.s0[j] = z[k]
			sum += z[k]
		}
		if pr.sumZero {
			p.s0[sp.m-1] = -sum
		}
	}
	return p
}

// stateSeeds writes the (constant) seeds of the state variables into sd,
// whose direction 0 is variable number first.
func (pr *hwProblem) stateSeeds(sd *hwSeeds, first int) {
	nd := sd.nd
	m := pr.spec.m
	for v := pr.ks; v < len(pr.vars); v++ {
		k := v - pr.ks + first
		switch pr.vars[v] {
		case varLevel:
			sd.dl0[k] = 1
		case varTrend:
			sd.db0[k] = 1
		case varSeason:
			sd.ds0[pr.sidx[v]*nd+k] = 1
			if pr.sumZero {
				sd.ds0[(m-1)*nd+k] = -1
			}
		}
	}
}

// fullSeeds rebuilds the seeds of all variables at z (the smoothing
// variables' seeds depend on z through beta = u*alpha, gamma = u*(1-alpha)).
func (pr *hwProblem) fullSeeds(z []float64) *hwSeeds {
	sd := pr.seedsAll
	sd.reset()
	p := pr.decode(z)
	for v := 0; v < pr.ks; v++ {
		switch pr.vars[v] {
		case varAlpha:
			sd.da[v] = 1
			if pr.ib >= 0 && p.alpha < 1 {
				sd.db[v] = z[pr.ib]
			}
			if pr.ig >= 0 {
				sd.dg[v] = -z[pr.ig]
			}
		case varBeta:
			sd.db[v] = math.Min(p.alpha, 1)
		case varGamma:
			sd.dg[v] = 1 - p.alpha
		case varPhi:
			sd.dphi[v] = phiUpper - phiLower
		}
	}
	pr.stateSeeds(sd, pr.ks)
	return sd
}

func (pr *hwProblem) sse(z []float64) float64 {
	f, _, _ := pr.spec.sse(pr.y, pr.decode(z), pr.ring)
	return f
}

// normalise moves z along the model's invariance to a canonical point:
// multiplicative seasonal states with mean 1 (the level, and an additive
// trend, scaled inversely). The SSE does not change.
func (pr *hwProblem) normalise(z []float64) {
	if !pr.normMul {
		return
	}
	k := pr.ks + 1
	if pr.spec.trend != ComponentNone {
		k++
	}
	var mean float64
	for _, v := range z[k:] {
		mean += v
	}
	mean /= float64(len(z) - k)
	if !(mean > 0) || math.IsInf(mean, 0) {
		return
	}
	for i := k; i < len(z); i++ {
		z[i] /= mean
	}
	z[pr.ks] *= mean
	if pr.spec.trend == ComponentAdd {
		z[pr.ks+1] *= mean
	}
}

// clampTo projects z onto the box.
func (pr *hwProblem) clampTo(z []float64) {
	for i, v := range z {
		z[i] = math.Min(math.Max(v, pr.lo[i]), pr.hi[i])
	}
}

// solveStates replaces the states in z by the least-squares optimum for
// z's smoothing parameters and returns the SSE. For additive models one
// Gauss-Newton step is exact; for multiplicative models it runs a few
// damped steps.
func (pr *hwProblem) solveStates(ctx context.Context, z []float64, f float64) float64 {
	if pr.spec.trend == ComponentMul || pr.spec.season == ComponentMul {
		f, _ = pr.lm(ctx, z, f, true, 4)
		return f
	}
	ns := len(pr.vars) - pr.ks
	p := pr.decode(z)
	h, g := pr.h[:ns*ns], pr.g[:ns]
	if f0 := pr.spec.normalEq(pr.y, p, pr.seedsStates, &pr.work, h, g); math.IsInf(f0, 1) {
		return f
	}
	a, rhs := pr.a[:ns*ns], pr.rhs[:ns]
	for i := 0; i < ns; i++ {
		for j := i; j < ns; j++ {
			a[i*ns+j] = h[i*ns+j]
		}
		rhs[i] = -g[i]
	}
	if !cholSolve(a, ns, rhs, 1e-13) {
		return f
	}
	zt := pr.zt[:len(z)]
	copy(zt, z)
	for i := 0; i < ns; i++ {
		zt[pr.ks+i] += rhs[i]
	}
	if ft := pr.sse(zt); ft <= f || math.IsInf(f, 1) || math.IsNaN(f) {
		copy(z, zt)
		return ft
	}
	return f
}

// lm runs projected Levenberg-Marquardt from z (whose SSE is f), over all
// variables or over the states only, and returns the final SSE; z is
// updated in place.
func (pr *hwProblem) lm(ctx context.Context, z []float64, f float64, statesOnly bool, maxIter int) (float64, error) {
	off := 0
	if statesOnly {
		off = pr.ks
	}
	nd := len(z) - off
	if nd == 0 || math.IsInf(f, 1) {
		return f, nil
	}
	h, g, a, rhs := pr.h[:nd*nd], pr.g[:nd], pr.a, pr.rhs
	zt := pr.zt[:len(z)]
	lambda, nu := 1e-3, 2.0
	small := 0
	for iter := 0; iter < maxIter && f > 0; iter++ {
		// One iteration costs O(n * vars²): a long seasonal series makes
		// it slow enough to check for cancellation every time.
		if err := ctx.Err(); err != nil {
			return f, err
		}
		sd := pr.seedsStates
		if !statesOnly {
			sd = pr.fullSeeds(z)
		}
		if fc := pr.spec.normalEq(pr.y, pr.decode(z), sd, &pr.work, h, g); math.IsInf(fc, 1) {
			return f, nil
		}
		// Free set: variables not held at a bound by the gradient.
		free := pr.free[:0]
		var dmax float64
		for i := 0; i < nd; i++ {
			v := z[off+i]
			if (v <= pr.lo[off+i] && g[i] > 0) || (v >= pr.hi[off+i] && g[i] < 0) {
				continue
			}
			free = append(free, i)
			dmax = math.Max(dmax, h[i*nd+i])
		}
		if len(free) == 0 || dmax == 0 {
			return f, nil
		}
		floor := 1e-12 * dmax
		improved := false
		for try := 0; try < 30; try++ {
			nf := len(free)
			for fi, i := range free {
				for fj := fi; fj < nf; fj++ {
					a[fi*nf+fj] = h[i*nd+free[fj]]
				}
				a[fi*nf+fi] += lambda * math.Max(h[i*nd+i], floor)
				rhs[fi] = -g[i]
			}
			if !cholSolve(a, nf, rhs, 0) {
				lambda *= nu
				nu *= 2
				continue
			}
			copy(zt, z)
			for fi, i := range free {
				zt[off+i] += rhs[fi]
			}
			pr.clampTo(zt)
			// Predicted decrease of the quadratic model along the
			// projected step d: -(2 g'd + d'Hd).
			var gd, dhd float64
			for i := 0; i < nd; i++ {
				di := zt[off+i] - z[off+i]
				if di == 0 {
					continue
				}
				gd += g[i] * di
				hd := h[i*nd+i] * di
				for j := i + 1; j < nd; j++ {
					hd += 2 * h[i*nd+j] * (zt[off+j] - z[off+j])
				}
				dhd += di * hd
			}
			pred := -(2*gd + dhd)
			ft := pr.sse(zt)
			if ft < f && pred > 0 {
				rho := (f - ft) / pred
				lambda *= math.Max(1.0/3, 1-math.Pow(2*rho-1, 3))
				lambda = math.Max(lambda, 1e-15)
				nu = 2
				if f-ft <= 1e-13*f {
					small++
				} else {
					small = 0
				}
				copy(z, zt)
				pr.normalise(z)
				f = ft
				improved = true
				break
			}
			if ft < f {
				// Better than a model that predicted no gain: take it.
				copy(z, zt)
				pr.normalise(z)
				f = ft
				improved = true
				small++
				break
			}
			lambda *= nu
			nu *= 2
			if lambda > 1e20 {
				break
			}
		}
		if !improved || small >= 2 {
			break
		}
	}
	return f, nil
}

// cholSolve solves A x = b in place (b becomes x) for a symmetric positive
// definite A given by its upper triangle (n×n, row-major), adding jitter
// times the largest diagonal entry to the diagonal if asked. It reports
// false if A is not positive definite.
func cholSolve(a []float64, n int, b []float64, jitter float64) bool {
	if jitter > 0 {
		var dmax float64
		for i := 0; i < n; i++ {
			dmax = math.Max(dmax, a[i*n+i])
		}
		for i := 0; i < n; i++ {
			a[i*n+i] += jitter * dmax
		}
	}
	// Upper Cholesky: A = U'U, U stored in the upper triangle.
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= a[k*n+j] * a[k*n+j]
		}
		if !(s > 0) {
			return false
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			t := a[j*n+i]
			for k := 0; k < j; k++ {
				t -= a[k*n+j] * a[k*n+i]
			}
			a[j*n+i] = t / d
		}
	}
	// U' y = b, then U x = y.
	for i := 0; i < n; i++ {
		t := b[i]
		for k := 0; k < i; k++ {
			t -= a[k*n+i] * b[k]
		}
		b[i] = t / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		t := b[i]
		for k := i + 1; k < n; k++ {
			t -= a[i*n+k] * b[k]
		}
		b[i] = t / a[i*n+i]
	}
	return true
}

// gridAxis is the grid of starting values of one unit-box smoothing
// variable.
func gridAxis(v hwVar) []float64 {
	switch v {
	case varAlpha:
		return []float64{0.02, 0.2, 0.5, 0.8, 0.98}
	case varPhi:
		return []float64{0.2, 0.9}
	}
	return []float64{0.05, 0.5}
}

// optimise finds the SSE-minimising z. z0s hold starting states (used as
// is for multiplicative models; additive ones solve for them): every one
// is tried at every grid point, and the local optimiser runs from the
// best starts grid points overall plus the best of each starting state.
func (pr *hwProblem) optimise(ctx context.Context, z0s [][]float64, starts int) ([]float64, float64, error) {
	type cand struct {
		z      []float64
		f      float64
		origin int
	}
	var cands []cand
	ks := pr.ks
	// Enumerate the grid over the smoothing variables.
	axes := make([][]float64, ks)
	for v := 0; v < ks; v++ {
		axes[v] = gridAxis(pr.vars[v])
	}
	for o, z0 := range z0s {
		idx := make([]int, ks)
		for {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			z := append([]float64(nil), z0...)
			for v := 0; v < ks; v++ {
				z[v] = axes[v][idx[v]]
			}
			f := pr.solveStates(ctx, z, pr.sse(z))
			if !math.IsInf(f, 1) && !math.IsNaN(f) {
				cands = append(cands, cand{z, f, o})
			}
			v := 0
			for ; v < ks; v++ {
				idx[v]++
				if idx[v] < len(axes[v]) {
					break
				}
				idx[v] = 0
			}
			if v == ks {
				break
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if len(cands) == 0 {
		return nil, 0, errNoFiniteFit
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].f < cands[j].f })
	picked := cands[:min(starts, len(cands))]
	for o := 1; o < len(z0s); o++ {
		if !slices.ContainsFunc(picked, func(c cand) bool { return c.origin == o }) {
			if i := slices.IndexFunc(cands, func(c cand) bool { return c.origin == o }); i >= 0 {
				picked = append(picked, cands[i])
			}
		}
	}
	cands = picked
	best := -1
	for i := range cands {
		start := append([]float64(nil), cands[i].z...)
		f, err := pr.lm(ctx, cands[i].z, cands[i].f, false, 300)
		if err != nil {
			return nil, 0, err
		}
		if pr.unstable(cands[i].z, f) {
			// Keep the grid point rather than an artefact of rounding.
			copy(cands[i].z, start)
			f = cands[i].f
		}
		cands[i].f = f
		if best < 0 || f < cands[best].f {
			best = i
		}
	}
	z, f := cands[best].z, cands[best].f
	if pr.spec.trend == ComponentMul {
		var err error
		if f, err = pr.hop(ctx, z, f); err != nil {
			return nil, 0, err
		}
	}
	// The states are optimal for the final smoothing parameters up to the
	// optimiser's tolerance; for additive models make them exactly so.
	f = pr.solveStates(ctx, z, f)
	return z, f, nil
}

// hop escapes the local minima a multiplicative trend creates (the
// level's growth factor trades off against the level and, with an
// additive season, the seasonal states, which gives a rugged SSE surface):
// it restarts the local optimiser from fixed perturbations of the best
// point's smoothing parameters and initial states, keeping any
// improvement, until a round of restarts brings none.
func (pr *hwProblem) hop(ctx context.Context, z []float64, f float64) (float64, error) {
	// The perturbations: factors on alpha, on the level (the rest moved
	// into additive seasonal states) and on the growth rate b0-1, and a
	// reset of u_beta.
	hops := [...]struct{ alpha, level, growth, beta float64 }{
		{1, 0.5, 1, 0.5},
		{1, 1.5, 1, 0.5},
		{1, 1, -1, 0.05},
		{0.5, 1, 1, 0.05},
		{2, 1, 1, 0.05},
		{1, 0.7, 2, 0.5},
		{1, 1, 0.5, 0.05},
		{1, 0.3, 1, 0.05},
	}
	kl, kb := pr.ks, pr.ks+1
	zt := make([]float64, len(z))
	for round := 0; round < 8; round++ {
		improved := false
		for _, p := range hops {
			copy(zt, z)
			if pr.ia >= 0 {
				zt[pr.ia] *= p.alpha
			}
			if pr.ib >= 0 {
				zt[pr.ib] = p.beta
			}
			zt[kb] = 1 + (zt[kb]-1)*p.growth
			shift := zt[kl] * (1 - p.level)
			zt[kl] -= shift
			if pr.spec.season == ComponentAdd {
				for k := kb + 1; k < len(zt); k++ {
					zt[k] += shift
				}
			}
			pr.clampTo(zt)
			pr.normalise(zt)
			ft, err := pr.lm(ctx, zt, pr.sse(zt), false, 300)
			if err != nil {
				return f, err
			}
			if ft < f*(1-1e-9) && !pr.unstable(zt, ft) {
				copy(z, zt)
				f = ft
				improved = true
			}
		}
		if !improved {
			break
		}
	}
	return f, nil
}

// unstable reports whether the SSE at z is an artefact of rounding: a
// multiplicative model can drive its level towards zero until the
// recursion amplifies rounding errors, and the optimiser then "finds"
// SSEs that the same parameters do not reproduce on the data in its own
// units. Such a point is rejected: the SSE reported is the one on the
// data, and it must be the one minimised. Additive recursions are linear
// and never amplify rounding this way.
func (pr *hwProblem) unstable(z []float64, f float64) bool {
	if pr.orig == nil || (pr.spec.trend != ComponentMul && pr.spec.season != ComponentMul) {
		return false
	}
	p := pr.decode(z).clone()
	pr.unscale(&p)
	fo, _, _ := pr.spec.sse(pr.orig, &p, pr.ring)
	want := f * pr.scale * pr.scale
	return !(math.Abs(fo-want) <= 1e-6*want)
}

// unscale maps parameters of the normalised problem back to the data's
// units.
func (pr *hwProblem) unscale(p *hwParams) {
	p.l0 = p.l0*pr.scale + pr.shift
	if pr.spec.trend == ComponentAdd {
		p.b0 *= pr.scale
	}
	if pr.spec.season == ComponentAdd {
		for j := range p.s0 {
			p.s0[j] *= pr.scale
		}
	}
}
