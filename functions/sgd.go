package functions

import (
	"context"
	"fmt"
	"math"
)

// Online linear regression as scikit-learn 1.2's SGDRegressor does it
// (squared loss, fit_intercept, dense input, no averaging), one sample at a
// time in input order: scikit-learn's partial_fit/fit with shuffle=False.
// The per-sample rule is _plain_sgd's, operation for operation, so that
// results agree to the last bits rather than merely to a tolerance:
//
//	eta = learning rate at t (see below)
//	p = wscale * (w . x) + b ;  update = -eta * clip(p - y, ±1e12)
//	wscale *= max(0, 1 - (1 - l1_ratio) * eta * alpha)   (l2, elasticnet)
//	w += x * (update / wscale) ;  b += update
//	cumulative L1 truncation (Tsuruoka et al.)              (l1, elasticnet)
//	t += 1
//
// with w folded into wscale whenever wscale drops below 1e-9 and at the end
// of every Fit call, as scikit-learn does at the end of every partial_fit.

// Learning-rate schedules accepted by SGDOptions.LearningRate.
const (
	LearningRateInvScaling = "invscaling" // eta0 / t^power_t
	LearningRateConstant   = "constant"   // eta0
	LearningRateOptimal    = "optimal"    // 1 / (alpha (t0 + t - 1)), Bottou's heuristic t0
	LearningRateAdaptive   = "adaptive"   // eta0, divided by 5 after 5 passes without improvement
)

// Penalties accepted by SGDOptions.Penalty.
const (
	PenaltyL2         = "l2"
	PenaltyL1         = "l1"
	PenaltyElasticNet = "elasticnet"
	PenaltyNone       = "none"
)

// scikit-learn's defaults that Flywheel does not expose: fit's tol and
// n_iter_no_change, and _plain_sgd's constants.
const (
	sgdTol           = 1e-3
	sgdNoChange      = 5
	sgdMaxDLoss      = 1e12
	sgdWScaleMin     = 1e-9
	sgdCtxCheckEvery = 4096
)

// SGDOptions are SGDRegressor's hyper-parameters.
type SGDOptions struct {
	Alpha        float64 `json:"alpha"`
	L1Ratio      float64 `json:"l1_ratio"`
	Eta0         float64 `json:"eta0"`
	PowerT       float64 `json:"power_t"`
	LearningRate string  `json:"learning_rate"`
	Penalty      string  `json:"penalty"`
}

// DefaultSGDOptions are scikit-learn's SGDRegressor() defaults.
func DefaultSGDOptions() SGDOptions {
	return SGDOptions{
		Alpha:        1e-4,
		L1Ratio:      0.15,
		Eta0:         0.01,
		PowerT:       0.25,
		LearningRate: LearningRateInvScaling,
		Penalty:      PenaltyL2,
	}
}

// SGDRegressor is the whole state of an online linear regression. It is a
// plain value that round-trips through encoding/json, so a model catalog
// can store it and resume training later with exactly the same result as
// if training had never stopped.
type SGDRegressor struct {
	SGDOptions
	// W and WScale represent the coefficients as W * WScale, which makes L2
	// shrinkage O(1) per sample. Fit folds WScale into W before returning,
	// so a stored state normally has WScale 1.
	W         []float64 `json:"w"`
	WScale    float64   `json:"wscale"`
	Intercept float64   `json:"intercept"`
	// T is the learning-rate clock, scikit-learn's t_: 1 + samples seen.
	T float64 `json:"t"`
}

// NewSGDRegressor returns an untrained model for the given number of
// features.
func NewSGDRegressor(features int, opt SGDOptions) (*SGDRegressor, error) {
	m := &SGDRegressor{SGDOptions: opt, W: make([]float64, max(features, 0)), WScale: 1, T: 1}
	if features < 1 {
		return nil, inputErr("train", "needs at least one feature column")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validate checks options and state (which may come from storage) the way
// scikit-learn's parameter validation does.
func (m *SGDRegressor) validate() error {
	o := m.SGDOptions
	switch o.LearningRate {
	case LearningRateInvScaling, LearningRateConstant, LearningRateOptimal, LearningRateAdaptive:
	default:
		return inputErr("learning_rate", "must be 'invscaling', 'constant', 'optimal' or 'adaptive', got %q", o.LearningRate)
	}
	switch o.Penalty {
	case PenaltyL2, PenaltyL1, PenaltyElasticNet, PenaltyNone:
	default:
		return inputErr("penalty", "must be 'l2', 'l1', 'elasticnet' or 'none', got %q", o.Penalty)
	}
	if !finite(o.Alpha) || o.Alpha < 0 {
		return inputErr("alpha", "must be a finite number >= 0, got %v", o.Alpha)
	}
	if o.LearningRate == LearningRateOptimal && o.Alpha == 0 {
		return inputErr("alpha", "must be > 0 with learning_rate 'optimal'")
	}
	if !finite(o.L1Ratio) || o.L1Ratio < 0 || o.L1Ratio > 1 {
		return inputErr("l1_ratio", "must be between 0 and 1, got %v", o.L1Ratio)
	}
	if !finite(o.Eta0) || o.Eta0 < 0 {
		return inputErr("eta0", "must be a finite number >= 0, got %v", o.Eta0)
	}
	if o.LearningRate != LearningRateOptimal && o.Eta0 == 0 {
		return inputErr("eta0", "must be > 0 with learning_rate %q", o.LearningRate)
	}
	if !finite(o.PowerT) {
		return inputErr("power_t", "must be a finite number, got %v", o.PowerT)
	}
	if len(m.W) == 0 {
		return inputErr("train", "needs at least one feature column")
	}
	if !finite(m.WScale) || m.WScale <= 0 || !finite(m.Intercept) || !finite(m.T) || m.T < 1 {
		return inputErr("model", "state is corrupt (wscale %v, intercept %v, t %v)", m.WScale, m.Intercept, m.T)
	}
	for _, v := range m.W {
		if !finite(v) {
			return inputErr("model", "state has a non-finite coefficient")
		}
	}
	return nil
}

// Coef returns the coefficients (W * WScale).
func (m *SGDRegressor) Coef() []float64 {
	c := make([]float64, len(m.W))
	for j, v := range m.W {
		c[j] = v * m.WScale
	}
	return c
}

// PartialFit learns from the rows of x (flat, row-major, len(y) rows) in
// order, once each: scikit-learn's partial_fit with shuffle=False.
func (m *SGDRegressor) PartialFit(ctx context.Context, x, y []float64) error {
	return m.Fit(ctx, x, y, 1)
}

// Fit makes up to epochs passes over the rows in order, continuing from
// the current state. From a fresh model it is scikit-learn's
// fit(X, y) with shuffle=False and max_iter=epochs (tol 1e-3,
// n_iter_no_change 5): it stops early once the training loss has failed to
// improve by tol*n for 5 passes in a row, and for 'adaptive' it divides eta
// by 5 instead while eta > 1e-6. With epochs = 1 it is partial_fit.
//
// On failure (bad input, numeric overflow, cancellation) the model is left
// as it was before the call.
func (m *SGDRegressor) Fit(ctx context.Context, x, y []float64, epochs int) error {
	if err := m.validate(); err != nil {
		return err
	}
	d := len(m.W)
	n := len(y)
	if n == 0 {
		return inputErr("train", "is empty")
	}
	if len(x) != n*d {
		return inputErr("train", "has %d feature values for %d rows of %d features", len(x), n, d)
	}
	if epochs < 1 {
		return inputErr("epochs", "must be at least 1, got %d", epochs)
	}
	for i, v := range x {
		if !finite(v) {
			return rowErr("train", i/d, "feature %d is %v; values must be finite", i%d+1, v)
		}
	}
	for i, v := range y {
		if !finite(v) {
			return rowErr("train", i, "target is %v; values must be finite", v)
		}
	}

	o := m.SGDOptions
	w := append([]float64(nil), m.W...) // work on a copy: failure leaves m as it was
	wscale, b, t := m.WScale, m.Intercept, m.T
	alpha, eta0, powerT := o.Alpha, o.Eta0, o.PowerT

	l1Ratio := o.L1Ratio
	shrink := o.Penalty == PenaltyL2 || o.Penalty == PenaltyElasticNet
	truncate := o.Penalty == PenaltyL1 || o.Penalty == PenaltyElasticNet
	switch o.Penalty {
	case PenaltyL2:
		l1Ratio = 0
	case PenaltyL1:
		l1Ratio = 1
	}
	var q []float64 // L1 penalty actually applied to each weight (this call)
	if truncate {
		q = make([]float64, d)
	}
	u := 0.0 // L1 penalty that could have been applied so far (this call)

	eta := eta0
	optimalInit := 0.0
	if o.LearningRate == LearningRateOptimal {
		typw := math.Sqrt(1.0 / math.Sqrt(alpha))
		// Squared loss: dloss(-typw, 1) = -typw - 1 < 1, so eta0 = typw.
		initialEta0 := typw / math.Max(1.0, -typw-1.0)
		optimalInit = 1.0 / (initialEta0 * alpha)
	}
	bestLoss := math.Inf(1)
	noImprove := 0

	for epoch := 0; epoch < epochs; epoch++ {
		sumLoss := 0.0
		for i := 0; i < n; i++ {
			if i%sgdCtxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("sgd_regress: %w", err)
				}
			}
			row := x[i*d : i*d+d : i*d+d]
			yi := y[i]
			dot := 0.0
			for j, v := range row {
				dot += w[j] * v
			}
			p := dot*wscale + b
			switch o.LearningRate {
			case LearningRateOptimal:
				eta = 1.0 / (alpha * (optimalInit + t - 1))
			case LearningRateInvScaling:
				eta = eta0 / powT(t, powerT)
			}
			sumLoss += 0.5 * (p - yi) * (p - yi)
			dloss := p - yi
			if dloss < -sgdMaxDLoss {
				dloss = -sgdMaxDLoss
			} else if dloss > sgdMaxDLoss {
				dloss = sgdMaxDLoss
			}
			update := -eta * dloss
			if shrink {
				// Never scale to negative values when eta*alpha is large:
				// the weights become zero instead.
				wscale *= math.Max(0, 1.0-((1.0-l1Ratio)*eta*alpha))
				if wscale < sgdWScaleMin {
					for j := range w {
						w[j] *= wscale
					}
					wscale = 1
				}
			}
			if update != 0 {
				c := update / wscale
				for j, v := range row {
					w[j] += v * c
				}
				b += update
			}
			if truncate {
				u += l1Ratio * eta * alpha
				for j := range w {
					z := w[j]
					if wscale*z > 0 {
						w[j] = math.Max(0, w[j]-((u+q[j])/wscale))
					} else if wscale*z < 0 {
						w[j] = math.Min(0, w[j]+((u-q[j])/wscale))
					}
					q[j] += wscale * (w[j] - z)
				}
			}
			t++
		}
		if !finite(b) || !allFinite(w) {
			return inputErr("train", "floating-point overflow in pass %d; scale the features or lower eta0", epoch+1)
		}
		if sumLoss > bestLoss-sgdTol*float64(n) {
			noImprove++
		} else {
			noImprove = 0
		}
		if sumLoss < bestLoss {
			bestLoss = sumLoss
		}
		if noImprove >= sgdNoChange {
			if o.LearningRate == LearningRateAdaptive && eta > 1e-6 {
				eta /= 5
				noImprove = 0
			} else {
				break
			}
		}
	}
	for j := range w {
		w[j] *= wscale
	}
	m.W, m.WScale, m.Intercept, m.T = w, 1, b, t
	return nil
}

func allFinite(v []float64) bool {
	for _, f := range v {
		if !finite(f) {
			return false
		}
	}
	return true
}

// Predict returns coef . x + intercept for each row of x (flat, row-major).
func (m *SGDRegressor) Predict(x []float64) ([]float64, error) {
	d := len(m.W)
	if d == 0 || len(x)%d != 0 {
		return nil, inputErr("predict", "has %d feature values, not a multiple of %d features", len(x), d)
	}
	for i, v := range x {
		if !finite(v) {
			return nil, rowErr("predict", i/d, "feature %d is %v; values must be finite", i%d+1, v)
		}
	}
	coef := m.Coef()
	out := make([]float64, len(x)/d)
	for i := range out {
		s := 0.0
		for j, v := range x[i*d : i*d+d] {
			s += coef[j] * v
		}
		out[i] = s + m.Intercept
	}
	return out, nil
}

// powT is t^p for the invscaling schedule. Go's math.Pow is off by an ulp
// or more for most non-trivial exponents, while scikit-learn calls C's pow,
// which is correctly rounded in practice; the default p = 0.25 gets a
// Newton-corrected fourth root that agrees with it on all but ~0.1% of t.
func powT(t, p float64) float64 {
	switch p {
	case 0:
		return 1
	case 1:
		return t
	case 0.5:
		return math.Sqrt(t)
	case 0.25:
		return root4(t)
	}
	return math.Pow(t, p)
}

// root4 is t^(1/4) for t >= 1: sqrt(sqrt(t)) corrected by one Newton step
// whose residual r^4 - t is computed exactly enough with FMA.
func root4(t float64) float64 {
	r := math.Sqrt(math.Sqrt(t))
	a := r * r
	e := math.FMA(r, r, -a) // r^2 = a + e exactly
	c := a * a
	f := math.FMA(a, a, -c) // a^2 = c + f exactly
	res := (c - t) + f + 2*a*e + e*e
	return r - res/(4*r*r*r)
}
