package functions

import "math"

// hwSpec is the structure of a Holt-Winters model: which components it has
// and the seasonal period (0 without a seasonal component).
type hwSpec struct {
	trend, season Component
	damped        bool
	m             int
}

// hwParams is a full parameter set: smoothing parameters and initial
// states. phi is 1 for an undamped trend.
type hwParams struct {
	alpha, beta, gamma, phi float64
	l0, b0                  float64
	s0                      []float64 // len m
}

func (p *hwParams) clone() hwParams {
	q := *p
	q.s0 = append([]float64(nil), p.s0...)
	return q
}

// hwSeeds are the forward-mode seed directions of the optimiser's
// variables: direction k moves alpha by da[k], the initial level by
// dl0[k], seasonal state j by ds0[j*nd+k], and so on. A variable that is a
// function of others (beta = u*alpha) simply seeds several of them.
type hwSeeds struct {
	nd                   int
	da, db, dg, dphi     []float64
	dl0, db0             []float64
	ds0                  []float64 // m*nd
	anySmoothing, anyPhi bool
}

func newSeeds(nd, m int) *hwSeeds {
	return &hwSeeds{
		nd: nd,
		da: make([]float64, nd), db: make([]float64, nd),
		dg: make([]float64, nd), dphi: make([]float64, nd),
		dl0: make([]float64, nd), db0: make([]float64, nd),
		ds0: make([]float64, m*nd),
	}
}

func (s *hwSeeds) reset() {
	for _, v := range [][]float64{s.da, s.db, s.dg, s.dphi, s.dl0, s.db0, s.ds0} {
		clear(v)
	}
	s.anySmoothing, s.anyPhi = false, false
}

// dampTrend returns D, the trend's contribution carried into the next
// step: phi*b for an additive trend, b^phi for a multiplicative one, as
// statsmodels' ExponentialSmoothing does.
func (sp *hwSpec) dampTrend(b, phi float64) float64 {
	switch sp.trend {
	case ComponentAdd:
		return phi * b
	case ComponentMul:
		if phi == 1 {
			return b
		}
		return math.Pow(b, phi)
	}
	return 0
}

// trended combines a level with a damped trend D.
func (sp *hwSpec) trended(l, d float64) float64 {
	switch sp.trend {
	case ComponentAdd:
		return l + d
	case ComponentMul:
		return l * d
	}
	return l
}

// sse runs the smoothing recursion over y with parameters p and returns
// the sum of squared one-step errors, +Inf if the recursion leaves the
// finite numbers (a multiplicative model with a state at or below zero).
// ring (len m) is scratch space; on return it holds the last m seasonal
// states, indexed by t mod m. l and b return the final level and trend.
//
// The recursion is statsmodels' (component form):
//
//	T_t    = trended(l_{t-1}, D_{t-1}),  D = phi*b or b^phi
//	ŷ_t    = T_t (+ or *) s_{t-m}
//	l_t    = alpha*deseason(y_t) + (1-alpha)*T_t
//	b_t    = beta*(l_t - or / l_{t-1}) + (1-beta)*D_{t-1}
//	s_t    = gamma*(y_t - or / T_t) + (1-gamma)*s_{t-m}
func (sp *hwSpec) sse(y []float64, p *hwParams, ring []float64) (sse, l, b float64) {
	m := sp.m
	copy(ring, p.s0)
	alpha, beta, gamma, phi := p.alpha, p.beta, p.gamma, p.phi
	l, b = p.l0, p.b0
	ri := 0
	for _, yt := range y {
		var d, tr float64
		switch sp.trend {
		case ComponentNone:
			tr = l
		case ComponentAdd:
			d = phi * b
			tr = l + d
		case ComponentMul:
			if phi == 1 {
				d = b
			} else {
				d = math.Pow(b, phi)
			}
			tr = l * d
		}
		var lN, e float64
		switch sp.season {
		case ComponentNone:
			e = yt - tr
			lN = alpha*yt + (1-alpha)*tr
		case ComponentAdd:
			s := ring[ri]
			e = yt - (tr + s)
			lN = alpha*(yt-s) + (1-alpha)*tr
			ring[ri] = gamma*(yt-tr) + (1-gamma)*s
		case ComponentMul:
			s := ring[ri]
			e = yt - tr*s
			lN = alpha*yt/s + (1-alpha)*tr
			ring[ri] = gamma*yt/tr + (1-gamma)*s
		}
		sse += e * e
		switch sp.trend {
		case ComponentAdd:
			b = beta*(lN-l) + (1-beta)*d
		case ComponentMul:
			b = beta*(lN/l) + (1-beta)*d
		}
		l = lN
		if m > 0 {
			ri++
			if ri == m {
				ri = 0
			}
		}
	}
	if math.IsNaN(sse) || math.IsInf(sse, 0) {
		return math.Inf(1), l, b
	}
	return sse, l, b
}

// hwWork is scratch space for normalEq, sized for nd directions.
type hwWork struct {
	dl, db, ds, row, ring []float64
}

func (w *hwWork) size(nd, m int) {
	grow := func(s []float64, n int) []float64 {
		if cap(s) < n {
			return make([]float64, n)
		}
		return s[:n]
	}
	w.dl = grow(w.dl, nd)
	w.db = grow(w.db, nd)
	w.ds = grow(w.ds, m*nd)
	w.row = grow(w.row, nd)
	w.ring = grow(w.ring, m)
}

// normalEq runs the recursion with forward-mode derivatives along the seed
// directions and accumulates the Gauss-Newton normal equations of the
// one-step errors e_t = y_t - ŷ_t: h (nd×nd, upper triangle, row-major)
// += J'J and g += J'e, where J = de/dz. It returns the SSE (+Inf if not
// finite, in which case h and g are meaningless).
func (sp *hwSpec) normalEq(y []float64, p *hwParams, sd *hwSeeds, w *hwWork, h, g []float64) float64 {
	if sp.trend != ComponentMul && sp.season != ComponentMul {
		return sp.normalEqAdd(y, p, sd, w, h, g)
	}
	return sp.normalEqGeneric(y, p, sd, w, h, g)
}

func (sp *hwSpec) normalEqGeneric(y []float64, p *hwParams, sd *hwSeeds, w *hwWork, h, g []float64) float64 {
	nd, m := sd.nd, sp.m
	w.size(nd, m)
	dl, db, ds, row, ring := w.dl, w.db, w.ds, w.row, w.ring
	copy(dl, sd.dl0)
	copy(db, sd.db0)
	copy(ds, sd.ds0)
	copy(ring, p.s0)
	clear(h)
	clear(g)
	da, dbe, dg, dphi := sd.da, sd.db, sd.dg, sd.dphi
	alpha, beta, gamma, phi := p.alpha, p.beta, p.gamma, p.phi
	l, b := p.l0, p.b0
	var sse float64
	ri := 0
	for _, yt := range y {
		var d, tr, logb float64
		switch sp.trend {
		case ComponentNone:
			tr = l
		case ComponentAdd:
			d = phi * b
			tr = l + d
		case ComponentMul:
			if phi == 1 {
				d = b
			} else {
				d = math.Pow(b, phi)
			}
			tr = l * d
			logb = math.Log(b)
		}
		s := 0.0
		if sp.season != ComponentNone {
			s = ring[ri]
		}
		var yhat, lN, bN, sN float64
		switch sp.season {
		case ComponentNone:
			yhat = tr
			lN = alpha*yt + (1-alpha)*tr
		case ComponentAdd:
			yhat = tr + s
			lN = alpha*(yt-s) + (1-alpha)*tr
			sN = gamma*(yt-tr) + (1-gamma)*s
		case ComponentMul:
			yhat = tr * s
			lN = alpha*yt/s + (1-alpha)*tr
			sN = gamma*yt/tr + (1-gamma)*s
		}
		switch sp.trend {
		case ComponentAdd:
			bN = beta*(lN-l) + (1-beta)*d
		case ComponentMul:
			bN = beta*(lN/l) + (1-beta)*d
		}
		e := yt - yhat
		sse += e * e

		// Partial derivatives of the updates that do not depend on the
		// direction, hoisted out of the direction loop.
		var lA, bB, sG float64 // d/d(alpha), d/d(beta), d/d(gamma)
		var lS float64         // dlN/dS
		switch sp.season {
		case ComponentNone:
			lA = yt - tr
		case ComponentAdd:
			lA = yt - s - tr
			lS = -alpha
			sG = yt - tr - s
		case ComponentMul:
			lA = yt/s - tr
			lS = -alpha * yt / (s * s)
			sG = yt/tr - s
		}
		switch sp.trend {
		case ComponentAdd:
			bB = lN - l - d
		case ComponentMul:
			bB = lN/l - d
		}
		dsBase := ri * nd
		for k := 0; k < nd; k++ {
			dlk := dl[k]
			var dd, dtr float64
			switch sp.trend {
			case ComponentNone:
				dtr = dlk
			case ComponentAdd:
				dd = phi*db[k] + b*dphi[k]
				dtr = dlk + dd
			case ComponentMul:
				dd = d * (phi*db[k]/b + logb*dphi[k])
				dtr = dlk*d + l*dd
			}
			var dsk, dy, dlN, dbN float64
			switch sp.season {
			case ComponentNone:
				dy = dtr
				dlN = lA*da[k] + (1-alpha)*dtr
			case ComponentAdd:
				dsk = ds[dsBase+k]
				dy = dtr + dsk
				dlN = lA*da[k] + lS*dsk + (1-alpha)*dtr
				ds[dsBase+k] = sG*dg[k] - gamma*dtr + (1-gamma)*dsk
			case ComponentMul:
				dsk = ds[dsBase+k]
				dy = dtr*s + tr*dsk
				dlN = lA*da[k] + lS*dsk + (1-alpha)*dtr
				ds[dsBase+k] = sG*dg[k] - gamma*yt/(tr*tr)*dtr + (1-gamma)*dsk
			}
			switch sp.trend {
			case ComponentAdd:
				dbN = bB*dbe[k] + beta*(dlN-dlk) + (1-beta)*dd
			case ComponentMul:
				dbN = bB*dbe[k] + beta*(dlN/l-lN*dlk/(l*l)) + (1-beta)*dd
			}
			dl[k] = dlN
			db[k] = dbN
			row[k] = -dy
		}
		for i := 0; i < nd; i++ {
			rv := row[i]
			if rv == 0 {
				continue
			}
			g[i] += rv * e
			hr := h[i*nd : i*nd+nd]
			for j := i; j < nd; j++ {
				hr[j] += rv * row[j]
			}
		}
		if sp.season != ComponentNone {
			ring[ri] = sN
			ri++
			if ri == m {
				ri = 0
			}
		}
		l, b = lN, bN
	}
	return finiteSSE(sse, g)
}

// normalEqAdd is normalEq for the additive models (trend none or add,
// season none or add), which are most of the work: one branch-free loop.
// A missing trend is a trend fixed at 0 (beta = 0, b0 = 0), a missing
// season a period-1 season fixed at 0 (gamma = 0), which leave the
// recursion and every derivative unchanged.
func (sp *hwSpec) normalEqAdd(y []float64, p *hwParams, sd *hwSeeds, w *hwWork, h, g []float64) float64 {
	nd, m := sd.nd, max(sp.m, 1)
	w.size(nd, m)
	dl, db, ds, row, ring := w.dl, w.db, w.ds, w.row, w.ring
	copy(dl, sd.dl0)
	copy(db, sd.db0)
	clear(ds)
	copy(ds, sd.ds0)
	clear(ring)
	copy(ring, p.s0)
	clear(h)
	clear(g)
	da, dbe, dg, dphi := sd.da, sd.db, sd.dg, sd.dphi
	alpha, beta, gamma, phi := p.alpha, p.beta, p.gamma, p.phi
	l, b := p.l0, p.b0
	if sp.trend == ComponentNone {
		beta, b, phi = 0, 0, 1
	}
	if sp.season == ComponentNone {
		gamma = 0
	}
	ac, bc, gc := 1-alpha, 1-beta, 1-gamma
	var sse float64
	ri := 0
	for _, yt := range y {
		d := phi * b
		tr := l + d
		s := ring[ri]
		e := yt - (tr + s)
		sse += e * e
		lN := alpha*(yt-s) + ac*tr
		bN := beta*(lN-l) + bc*d
		ring[ri] = gamma*(yt-tr) + gc*s
		lA, sG, bB := yt-s-tr, yt-tr-s, lN-l-d
		dsr := ds[ri*nd : ri*nd+nd]
		dl, db, da, dbe, dg, dphi, row := dl[:nd], db[:nd], da[:nd], dbe[:nd], dg[:nd], dphi[:nd], row[:nd]
		for k := range row {
			dlk := dl[k]
			dd := phi*db[k] + b*dphi[k]
			dtr := dlk + dd
			dsk := dsr[k]
			dlN := lA*da[k] - alpha*dsk + ac*dtr
			dsr[k] = sG*dg[k] - gamma*dtr + gc*dsk
			db[k] = bB*dbe[k] + beta*(dlN-dlk) + bc*dd
			dl[k] = dlN
			row[k] = -(dtr + dsk)
		}
		for i, rv := range row {
			if rv == 0 {
				continue
			}
			g[i] += rv * e
			hr := h[i*nd+i : i*nd+nd]
			for j, rw := range row[i:] {
				hr[j] += rv * rw
			}
		}
		l, b = lN, bN
		ri++
		if ri == m {
			ri = 0
		}
	}
	return finiteSSE(sse, g)
}

// finiteSSE is normalEq's result: sse, or +Inf when sse or a gradient
// entry is not finite (the recursion left the finite numbers).
func finiteSSE(sse float64, g []float64) float64 {
	if !finite(sse) {
		return math.Inf(1)
	}
	for _, v := range g {
		if !finite(v) {
			return math.Inf(1)
		}
	}
	return sse
}
