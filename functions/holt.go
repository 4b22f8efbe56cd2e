package functions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
)

// Component is the form of a trend or seasonal component.
type Component uint8

// The component forms.
const (
	ComponentNone Component = iota
	ComponentAdd
	ComponentMul
)

func (c Component) String() string {
	switch c {
	case ComponentAdd:
		return "add"
	case ComponentMul:
		return "mul"
	}
	return "none"
}

// ParseComponent reads "none", "add"/"additive" or "mul"/"multiplicative"
// (case-insensitive; "" is "none"). arg names the argument in the error.
func ParseComponent(arg, s string) (Component, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return ComponentNone, nil
	case "add", "additive":
		return ComponentAdd, nil
	case "mul", "multiplicative":
		return ComponentMul, nil
	}
	return 0, inputErr(arg, "must be 'none', 'add' or 'mul', got %q", s)
}

// HoltOptions selects an exponential smoothing model, as statsmodels'
// ExponentialSmoothing(trend, damped_trend, seasonal, seasonal_periods),
// and optionally fixes smoothing parameters (nil: estimated).
type HoltOptions struct {
	Trend    Component
	Damped   bool
	Seasonal Component
	// Period is the seasonal period, used only with a seasonal component.
	Period int

	Alpha, Beta, Gamma, Phi *float64
}

// HoltModel is a fitted exponential smoothing model: its parameters, the
// state after the last observation (what forecasts start from) and fit
// statistics. It holds plain values only, so it serialises as is.
type HoltModel struct {
	Trend    Component
	Damped   bool
	Seasonal Component
	Period   int

	// Smoothing parameters. Beta is 0 without a trend, Gamma 0 without a
	// seasonal component, Phi 1 without damping.
	Alpha, Beta, Gamma, Phi float64
	// Initial states (before the first observation). InitialTrend is 0
	// without a trend; InitialSeasons has Period entries (none without a
	// seasonal component), normalised to sum 0 (additive, unless the trend
	// is multiplicative) or mean 1 (multiplicative): the level absorbs the
	// rest, which leaves every fitted value unchanged.
	InitialLevel, InitialTrend float64
	InitialSeasons             []float64

	// State after the last observation. Seasons[j] is the seasonal state
	// that applies to forecast step h when (h-1) mod Period == j.
	Level, Slope float64
	Seasons      []float64

	// N is the number of observations; SSE the sum of squared one-step
	// errors; Sigma2 = SSE/N, the error variance the prediction intervals
	// use (statsmodels' ETS mse). AIC is N*log(SSE/N) + 2k with
	// statsmodels' count k = 2 (alpha, initial level) + 2 with a trend
	// (beta, initial trend) + 1 when damped + Period with a seasonal
	// component; it is -Inf for a perfect fit (SSE = 0).
	N                int
	SSE, Sigma2, AIC float64
}

// HoltSeriesError reports which series of a FitHoltMany batch failed.
type HoltSeriesError struct {
	Series int
	Err    error
}

func (e *HoltSeriesError) Error() string { return fmt.Sprintf("series %d: %v", e.Series+1, e.Err) }
func (e *HoltSeriesError) Unwrap() error { return e.Err }

var errNoFiniteFit = errors.New("no parameter set gives a finite fit")

// maxHoltValue bounds the data's magnitude, so that sums of squared
// errors stay finite.
const maxHoltValue = 1e100

// holtStarts is the number of best grid points the local optimiser is run
// from.
const holtStarts = 3

// validate checks the options and returns the model structure and the
// fixed smoothing parameters (NaN where estimated).
func (o *HoltOptions) validate() (hwSpec, [4]float64, error) {
	sp := hwSpec{trend: o.Trend, season: o.Seasonal, damped: o.Damped}
	fixed := [4]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	if o.Trend > ComponentMul {
		return sp, fixed, inputErr("trend", "unknown trend component %d", o.Trend)
	}
	if o.Seasonal > ComponentMul {
		return sp, fixed, inputErr("seasonal", "unknown seasonal component %d", o.Seasonal)
	}
	if o.Damped && o.Trend == ComponentNone {
		return sp, fixed, inputErr("damped", "only a trend can be damped: set trend to 'add' or 'mul'")
	}
	if o.Seasonal != ComponentNone {
		if o.Period < 2 {
			return sp, fixed, inputErr("seasonal_periods", "must be at least 2 with a seasonal component, got %d", o.Period)
		}
		sp.m = o.Period
	}
	check := func(name string, v *float64, lo float64, loOpen bool, has bool, need string) error {
		if v == nil {
			return nil
		}
		if !has {
			return inputErr(name, "is given but the model has no %s", need)
		}
		x := *v
		if math.IsNaN(x) || x > 1 || x < lo || (loOpen && x == lo) {
			if loOpen {
				return inputErr(name, "must be in (%g, 1], got %g", lo, x)
			}
			return inputErr(name, "must be in [%g, 1], got %g", lo, x)
		}
		return nil
	}
	if err := check("alpha", o.Alpha, 0, false, true, ""); err != nil {
		return sp, fixed, err
	}
	if err := check("beta", o.Beta, 0, false, o.Trend != ComponentNone, "trend (set trend to 'add' or 'mul')"); err != nil {
		return sp, fixed, err
	}
	if err := check("gamma", o.Gamma, 0, false, o.Seasonal != ComponentNone, "seasonal component (set seasonal to 'add' or 'mul')"); err != nil {
		return sp, fixed, err
	}
	if err := check("phi", o.Phi, 0, true, o.Damped, "damped trend (set damped to true)"); err != nil {
		return sp, fixed, err
	}
	for i, v := range []*float64{o.Alpha, o.Beta, o.Gamma, o.Phi} {
		if v != nil {
			fixed[i] = *v
		}
	}
	return sp, fixed, nil
}

// checkSeries validates one series' values for the model.
func checkSeries(y []float64, sp hwSpec) error {
	if len(y) == 0 {
		return inputErr("input", "the series is empty")
	}
	if len(y) < 2 {
		return inputErr("input", "the series has a single row; at least 2 are needed")
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return rowErr("input", i, "value %v is not a finite number", v)
		}
		if math.Abs(v) > maxHoltValue {
			return rowErr("input", i, "value %g is too large: magnitudes above %g would overflow the squared errors", v, maxHoltValue)
		}
	}
	if sp.trend == ComponentMul || sp.season == ComponentMul {
		for i, v := range y {
			if v <= 0 {
				return rowErr("input", i, "value %v is not positive, which a multiplicative trend or seasonal component needs", v)
			}
		}
	}
	if sp.season != ComponentNone && len(y) < 2*sp.m {
		return inputErr("input", "the series has %d rows; a seasonal period of %d needs at least two full periods (%d rows)", len(y), sp.m, 2*sp.m)
	}
	return nil
}

// FitHolt fits an exponential smoothing model to y (in time order) as
// statsmodels 0.13 ExponentialSmoothing(...).fit() does with its default
// initialization_method='estimated': the smoothing parameters not fixed
// in opts and all initial states minimise the sum of squared one-step
// errors, subject to statsmodels' bounds: alpha in [0, 1], beta in
// [0, alpha], gamma in [0, 1-alpha], phi in [0.8, 0.995], and positive
// states for multiplicative components. Fixed parameters need only lie in
// [0, 1] (phi in (0, 1]), as with statsmodels' fit(smoothing_level=...).
//
// The optimiser is global in the initial states (exactly, for additive
// models) and multi-start in the smoothing parameters, so its SSE is at or
// below statsmodels' (see holt_optimize.go).
//
// Bad input (an empty or one-row series, fewer than two full seasonal
// periods, a non-finite value, a non-positive value with a multiplicative
// component, inconsistent options) returns an *InputError. A constant
// series fits exactly (SSE 0) and forecasts flat.
func FitHolt(ctx context.Context, y []float64, opts HoltOptions) (*HoltModel, error) {
	sp, fixed, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if err := checkSeries(y, sp); err != nil {
		return nil, err
	}
	return fitHolt(ctx, y, sp, fixed)
}

func fitHolt(ctx context.Context, y []float64, sp hwSpec, fixed [4]float64) (*HoltModel, error) {
	n := len(y)
	// Work on normalised data: the model is scale-equivariant (and
	// shift-equivariant when additive), and the optimiser's tolerances are
	// then independent of the data's units.
	additive := sp.trend != ComponentMul && sp.season != ComponentMul
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	shift, scale := 0.0, mean
	if additive {
		// Max-abs rather than standard deviation: no squares to overflow
		// or underflow.
		shift, scale = mean, 0
		for _, v := range y {
			scale = math.Max(scale, math.Abs(v-mean))
		}
		if !(scale > 0) {
			scale = 1
		}
	}
	ys := make([]float64, n)
	for i, v := range y {
		ys[i] = (v - shift) / scale
	}

	pr := newHWProblem(sp, ys, fixed)
	pr.orig, pr.shift, pr.scale = y, shift, scale
	z0 := make([]float64, len(pr.vars))
	l0, b0, s0 := hwInitialStates(ys, sp)
	k := pr.ks
	z0[k] = l0
	k++
	if sp.trend != ComponentNone {
		z0[k] = b0
		k++
	}
	for j := 0; k < len(z0); j, k = j+1, k+1 {
		z0[k] = s0[j]
	}
	pr.clampTo(z0)
	pr.normalise(z0)
	z0s := [][]float64{z0}
	if sp.trend == ComponentMul && sp.season == ComponentAdd {
		// With a multiplicative trend the split of the mean between level
		// and additive seasonal states is no invariance: a small, decaying
		// level with large seasonal states is a separate basin, which
		// statsmodels sometimes lands in.
		alt := append([]float64(nil), z0...)
		shift := 0.9 * alt[pr.ks]
		alt[pr.ks] -= shift
		alt[pr.ks+1] = 0.8
		for k := pr.ks + 2; k < len(alt); k++ {
			alt[k] += shift
		}
		z0s = append(z0s, alt)
	}
	z, _, err := pr.optimise(ctx, z0s, holtStarts)
	if err != nil {
		return nil, err
	}
	p := pr.decode(z).clone()
	pr.unscale(&p)
	return newHoltModel(y, sp, p), nil
}

// newHoltModel runs the recursion once more on the data in its own units
// for the reported SSE and the final state.
func newHoltModel(y []float64, sp hwSpec, p hwParams) *HoltModel {
	n := len(y)
	ring := make([]float64, sp.m)
	sse, l, b := sp.sse(y, &p, ring)
	mod := &HoltModel{
		Trend: sp.trend, Damped: sp.damped, Seasonal: sp.season, Period: sp.m,
		Alpha: p.alpha, Beta: p.beta, Gamma: p.gamma, Phi: p.phi,
		InitialLevel: p.l0, InitialTrend: p.b0, InitialSeasons: p.s0,
		Level: l, Slope: b,
		N: n, SSE: sse, Sigma2: sse / float64(n),
	}
	if sp.m > 0 {
		mod.Seasons = make([]float64, sp.m)
		for j := range mod.Seasons {
			mod.Seasons[j] = ring[(n+j)%sp.m]
		}
	} else {
		mod.InitialSeasons = nil
	}
	mod.AIC = float64(n)*math.Log(sse/float64(n)) + 2*float64(sp.aicParams())
	return mod
}

// aicParams is statsmodels' parameter count k in the AIC (see HoltModel).
func (sp hwSpec) aicParams() int {
	k := 2
	if sp.trend != ComponentNone {
		k += 2
	}
	if sp.damped {
		k++
	}
	return k + sp.m
}

// Advance returns the model continued through the observations y that
// follow its last one: the same parameters (nothing is re-optimised), the
// state run on through y by the fitting recursion, and N, SSE, Sigma2 and
// AIC over all observations. The state equals a fit's with these
// parameters over the whole series; SSE differs only in the rounding of
// its sum. m is not changed.
func (m *HoltModel) Advance(y []float64) (*HoltModel, error) {
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > maxHoltValue {
			return nil, rowErr("input", i, "value %v is not a finite number within ±1e100", v)
		}
		if v <= 0 && (m.Trend == ComponentMul || m.Seasonal == ComponentMul) {
			return nil, rowErr("input", i, "value %v: a multiplicative model needs positive values", v)
		}
	}
	sp := hwSpec{trend: m.Trend, season: m.Seasonal, damped: m.Damped, m: m.Period}
	p := hwParams{alpha: m.Alpha, beta: m.Beta, gamma: m.Gamma, phi: m.Phi, l0: m.Level, b0: m.Slope, s0: m.Seasons}
	ring := make([]float64, sp.m)
	sse, l, b := sp.sse(y, &p, ring)
	if math.IsInf(sse, 0) {
		return nil, inputErr("input", "the new observations give a non-finite error sum")
	}
	out := *m
	out.InitialSeasons = slices.Clone(m.InitialSeasons)
	out.Level, out.Slope = l, b
	if sp.m > 0 {
		out.Seasons = make([]float64, sp.m)
		for j := range out.Seasons {
			out.Seasons[j] = ring[(len(y)+j)%sp.m]
		}
	}
	out.N = m.N + len(y)
	out.SSE = m.SSE + sse
	out.Sigma2 = out.SSE / float64(out.N)
	out.AIC = float64(out.N)*math.Log(out.SSE/float64(out.N)) + 2*float64(sp.aicParams())
	return &out, nil
}

// Forecast returns the point forecasts for steps 1..h after the last
// observation: level + phi_h*trend (additive trend) or level*trend^phi_h
// (multiplicative), phi_h = phi + ... + phi^h, combined with the seasonal
// state of the step's season.
//
// statsmodels 0.13 uses a stale seasonal state for steps that are
// multiples of the period (it overwrites the latest one while building its
// forecast array); this uses the latest, as the model defines.
func (m *HoltModel) Forecast(h int) []float64 {
	out := make([]float64, h)
	sp := hwSpec{trend: m.Trend, season: m.Seasonal, damped: m.Damped, m: m.Period}
	var phiSum, pw float64
	pw = 1
	for i := 0; i < h; i++ {
		pw *= m.Phi
		phiSum += pw
		if !m.Damped {
			phiSum = float64(i + 1)
		}
		var f float64
		switch sp.trend {
		case ComponentNone:
			f = m.Level
		case ComponentAdd:
			f = m.Level + phiSum*m.Slope
		case ComponentMul:
			f = m.Level * math.Pow(m.Slope, phiSum)
		}
		switch sp.season {
		case ComponentAdd:
			f += m.Seasons[i%m.Period]
		case ComponentMul:
			f *= m.Seasons[i%m.Period]
		}
		out[i] = f
	}
	return out
}

// FitHoltMany fits one model per series, spreading the series over the
// available cores. Each fit is independent of the others and of the
// number of cores. An error names the first failing series (by index) in
// a *HoltSeriesError wrapping the series' own error.
func FitHoltMany(ctx context.Context, series [][]float64, opts HoltOptions) ([]*HoltModel, error) {
	sp, fixed, err := opts.validate()
	if err != nil {
		return nil, err
	}
	for i, y := range series {
		if err := checkSeries(y, sp); err != nil {
			return nil, &HoltSeriesError{Series: i, Err: err}
		}
	}
	models := make([]*HoltModel, len(series))
	errs := make([]error, len(series))
	parallelFor(len(series), runtime.GOMAXPROCS(0), func(i int) {
		if ctx.Err() == nil {
			models[i], errs[i] = fitHolt(ctx, series[i], sp, fixed)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, &HoltSeriesError{Series: i, Err: err}
		}
	}
	return models, nil
}

// hwInitialStates computes statsmodels' starting states (its
// _initialization_simple below 10 + 2*(m/2) observations, else
// _initialization_heuristic), made valid for multiplicative components.
func hwInitialStates(y []float64, sp hwSpec) (l0, b0 float64, s0 []float64) {
	n, m := len(y), sp.m
	if sp.season == ComponentNone {
		if n < 10 {
			l0 = y[0]
			b0 = y[1] - y[0]
		} else {
			l0, b0 = regress10(y)
		}
	} else {
		s0 = make([]float64, m)
		if n < 10+2*(m/2) {
			for _, v := range y[:m] {
				l0 += v
			}
			l0 /= float64(m)
			for i := m; i < 2*m; i++ {
				b0 += (y[i] - y[i-m]) / float64(m)
			}
			b0 /= float64(m)
			for j := range s0 {
				if sp.season == ComponentMul {
					s0[j] = y[j] / l0
				} else {
					s0[j] = y[j] - l0
				}
			}
		} else {
			l0, b0 = heuristicSeasonal(y, sp, s0)
		}
	}
	if sp.trend == ComponentMul {
		if l0 != 0 {
			b0 = 1 + b0/l0
		}
		if !(b0 > 0) || math.IsInf(b0, 0) {
			b0 = 1
		}
	}
	if (sp.trend == ComponentMul || sp.season == ComponentMul) && !(l0 > 0) {
		l0 = y[0]
	}
	for j := range s0 {
		if sp.season == ComponentMul && !(s0[j] > 0) {
			s0[j] = 1
		}
	}
	return l0, b0, s0
}

// regress10 fits a line to the first 10 values against 1..10 and returns
// its intercept and slope.
func regress10(y []float64) (a, b float64) {
	var sy, sty float64
	for i, v := range y[:10] {
		sy += v
		sty += float64(i+1) * v
	}
	// x = 1..10: mean 5.5, Sxx = 82.5.
	b = (sty - 5.5*sy) / 82.5
	a = sy/10 - 5.5*b
	return a, b
}

// heuristicSeasonal is statsmodels' _initialization_heuristic for a
// seasonal model: a centred moving average over up to five cycles gives
// the trend, the average detrended value of each season the seasonal
// states, and a line through the first ten trend values the level and
// trend.
func heuristicSeasonal(y []float64, sp hwSpec, s0 []float64) (l0, b0 float64) {
	m := sp.m
	minObs := 10 + 2*(m/2)
	k := min(5, len(y)/m)
	k = max(k, (minObs+m-1)/m)
	nn := min(k*m, len(y))
	ma := make([]float64, nn)
	var trend []float64
	for i := range ma {
		ma[i] = math.NaN()
		lo, hi := i-m/2, i+m/2
		if m%2 == 0 {
			if lo < 0 || hi >= nn {
				continue
			}
			s := 0.5*y[lo] + 0.5*y[hi]
			for j := lo + 1; j < hi; j++ {
				s += y[j]
			}
			ma[i] = s / float64(m)
		} else {
			if lo < 0 || hi >= nn {
				continue
			}
			var s float64
			for j := lo; j <= hi; j++ {
				s += y[j]
			}
			ma[i] = s / float64(m)
		}
		trend = append(trend, ma[i])
	}
	cnt := make([]int, m)
	clear(s0)
	for i, t := range ma {
		if math.IsNaN(t) {
			continue
		}
		if sp.season == ComponentMul {
			s0[i%m] += y[i] / t
		} else {
			s0[i%m] += y[i] - t
		}
		cnt[i%m]++
	}
	var mean float64
	for j := range s0 {
		if cnt[j] > 0 {
			s0[j] /= float64(cnt[j])
		} else if sp.season == ComponentMul {
			s0[j] = 1
		}
		mean += s0[j]
	}
	mean /= float64(m)
	for j := range s0 {
		if sp.season == ComponentMul {
			s0[j] /= mean
		} else {
			s0[j] -= mean
		}
	}
	if len(trend) >= 10 {
		return regress10(trend)
	}
	if len(trend) > 0 {
		return trend[0], 0
	}
	return y[0], 0
}
