package functions

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
)

// HoltSimulations is the number of simulated paths behind the prediction
// intervals of models with a multiplicative component.
const HoltSimulations = 5000

// Interval returns the bounds of the central prediction interval with
// coverage level (0 < level < 1) for forecast steps 1..h.
//
// The error model is the one the fit minimises: one-step errors
// independent N(0, sigma²), sigma² = SSE/N (statsmodels' ETS mse), fed
// back through the smoothing recursion.
//
// Additive models (trend none/add, damped or not; seasonal none/add) use
// the exact variance of ETS(A,·,·) (Hyndman et al. 2008, ch. 6; Hyndman &
// Athanasopoulos, FPP3 §8.7, the formulas statsmodels' ETSModel uses):
//
//	var_h = sigma² * (1 + sum_{j=1}^{h-1} c_j²)
//	c_j   = alpha + alpha*beta*phi_j + gamma*[j mod m == 0],  phi_j = phi + ... + phi^j
//
// (alpha*beta is the ETS form's beta), and the interval is forecast ±
// z*sqrt(var_h), z the standard normal quantile at (1+level)/2.
//
// Models with a multiplicative trend or season have no closed form: the
// interval is read off HoltSimulations simulated future paths (the
// recursion driven by N(0, sigma²) errors), as numpy's linear-interpolation
// quantiles at (1-level)/2 and (1+level)/2. The random stream is seeded
// from the model's own numbers, so the same fit always gives the same
// interval. Paths that leave the finite numbers (a multiplicative trend
// driven negative) are dropped.
func (m *HoltModel) Interval(h int, level float64) (lower, upper []float64, err error) {
	if h <= 0 {
		return nil, nil, inputErr("horizon", "must be positive, got %d", h)
	}
	if !(level > 0 && level < 1) {
		return nil, nil, inputErr("level", "must be between 0 and 1 (exclusive), got %g", level)
	}
	fc := m.Forecast(h)
	lower = make([]float64, h)
	upper = make([]float64, h)
	if m.Trend != ComponentMul && m.Seasonal != ComponentMul {
		z := math.Sqrt2 * math.Erfinv(level)
		v := m.relativeVariance(h)
		for i := range fc {
			d := z * math.Sqrt(m.Sigma2*v[i])
			lower[i], upper[i] = fc[i]-d, fc[i]+d
		}
		return lower, upper, nil
	}
	m.simulateInterval(h, level, lower, upper)
	return lower, upper, nil
}

// relativeVariance returns var_h / sigma² for h = 1..n of an additive
// model.
func (m *HoltModel) relativeVariance(n int) []float64 {
	v := make([]float64, n)
	v[0] = 1
	var phiJ, pw float64
	pw = 1
	for j := 1; j < n; j++ {
		pw *= m.Phi
		phiJ += pw
		c := m.Alpha
		if m.Trend != ComponentNone {
			c += m.Alpha * m.Beta * phiJ
		}
		if m.Seasonal != ComponentNone && j%m.Period == 0 {
			c += m.Gamma
		}
		v[j] = v[j-1] + c*c
	}
	return v
}

// seed derives the simulation's random seed from the model's numbers.
func (m *HoltModel) seed() (uint64, uint64) {
	hs := fnv.New128a()
	var buf [8]byte
	put := func(x float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
		hs.Write(buf[:])
	}
	for _, x := range []float64{m.Alpha, m.Beta, m.Gamma, m.Phi, m.Level, m.Slope, m.Sigma2, float64(m.N)} {
		put(x)
	}
	for _, x := range m.Seasons {
		put(x)
	}
	sum := hs.Sum(nil)
	return binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:])
}

func (m *HoltModel) simulateInterval(h int, level float64, lower, upper []float64) {
	sigma := math.Sqrt(m.Sigma2)
	fc := m.Forecast(h)
	if sigma == 0 {
		copy(lower, fc)
		copy(upper, fc)
		return
	}
	s1, s2 := m.seed()
	rng := rand.New(rand.NewPCG(s1, s2))
	sp := hwSpec{trend: m.Trend, season: m.Seasonal, damped: m.Damped, m: m.Period}
	sims := make([][]float64, h)
	for i := range sims {
		sims[i] = make([]float64, 0, HoltSimulations)
	}
	ring := make([]float64, m.Period)
	path := make([]float64, h)
	for r := 0; r < HoltSimulations; r++ {
		copy(ring, m.Seasons)
		l, b := m.Level, m.Slope
		ok := true
		for i := 0; i < h; i++ {
			d := sp.dampTrend(b, m.Phi)
			tr := sp.trended(l, d)
			var s, yhat float64
			switch sp.season {
			case ComponentNone:
				yhat = tr
			case ComponentAdd:
				s = ring[i%m.Period]
				yhat = tr + s
			case ComponentMul:
				s = ring[i%m.Period]
				yhat = tr * s
			}
			y := yhat + sigma*rng.NormFloat64()
			var lN float64
			switch sp.season {
			case ComponentNone:
				lN = m.Alpha*y + (1-m.Alpha)*tr
			case ComponentAdd:
				lN = m.Alpha*(y-s) + (1-m.Alpha)*tr
				ring[i%m.Period] = m.Gamma*(y-tr) + (1-m.Gamma)*s
			case ComponentMul:
				lN = m.Alpha*y/s + (1-m.Alpha)*tr
				ring[i%m.Period] = m.Gamma*y/tr + (1-m.Gamma)*s
			}
			switch sp.trend {
			case ComponentAdd:
				b = m.Beta*(lN-l) + (1-m.Beta)*d
			case ComponentMul:
				b = m.Beta*(lN/l) + (1-m.Beta)*d
			}
			l = lN
			if math.IsNaN(y) || math.IsInf(y, 0) {
				ok = false
				break
			}
			path[i] = y
		}
		if !ok {
			continue
		}
		for i := range path {
			sims[i] = append(sims[i], path[i])
		}
	}
	lo, hi := (1-level)/2, (1+level)/2
	for i := range sims {
		if len(sims[i]) == 0 {
			lower[i], upper[i] = math.Inf(-1), math.Inf(1)
			continue
		}
		lower[i] = quantileSelect(sims[i], lo)
		upper[i] = quantileSelect(sims[i], hi)
	}
}

// quantileSelect is numpy's default (linear interpolation) quantile q of
// x, found by selection rather than a full sort; x is reordered.
func quantileSelect(x []float64, q float64) float64 {
	pos := q * float64(len(x)-1)
	k := int(math.Floor(pos))
	v := selectKth(x, k)
	if frac := pos - float64(k); frac > 0 && k+1 < len(x) {
		// After selection everything right of k is >= x[k]: the next order
		// statistic is their minimum.
		next := x[k+1]
		for _, w := range x[k+2:] {
			next = math.Min(next, w)
		}
		return v + frac*(next-v)
	}
	return v
}

// selectKth partially orders x so that x[k] is its k-th smallest value,
// with smaller-or-equal values before it and larger-or-equal after
// (Hoare's quickselect, median-of-three pivots).
func selectKth(x []float64, k int) float64 {
	lo, hi := 0, len(x)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if x[mid] < x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] < x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] < x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		pivot := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] < pivot {
				i++
			}
			for x[j] > pivot {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return x[k]
		}
	}
	return x[k]
}

// HoltPrediction is a model's point forecasts for steps 1..h with the
// bounds of their prediction interval.
type HoltPrediction struct {
	Forecast, Lower, Upper []float64
}

// PredictHoltMany forecasts h steps from every model with prediction
// intervals at level, spreading the models over the available cores (the
// simulated intervals of multiplicative models are the costly part). Each
// prediction depends only on its model.
func PredictHoltMany(ctx context.Context, models []*HoltModel, h int, level float64) ([]HoltPrediction, error) {
	if h <= 0 {
		return nil, inputErr("horizon", "must be positive, got %d", h)
	}
	if !(level > 0 && level < 1) {
		return nil, inputErr("level", "must be between 0 and 1 (exclusive), got %g", level)
	}
	out := make([]HoltPrediction, len(models))
	parallelFor(len(models), runtime.GOMAXPROCS(0), func(i int) {
		if ctx.Err() != nil {
			return
		}
		p := &out[i]
		p.Forecast = models[i].Forecast(h)
		// h and level are valid, so Interval cannot fail.
		p.Lower, p.Upper, _ = models[i].Interval(h, level)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
