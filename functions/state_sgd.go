package functions

import "fmt"

const (
	stateKindSGD    = "sgd"
	stateVersionSGD = 1
)

// MarshalBinary encodes the whole state, options included, so that
// PartialFit on a decoded model continues exactly where this one stopped.
// Payload, version 1:
//
//	Float64 alpha, l1_ratio, eta0, power_t; String learning_rate, penalty;
//	Float64s w; Float64 wscale, intercept, t
func (m *SGDRegressor) MarshalBinary() ([]byte, error) {
	e := NewEncoder(stateKindSGD, stateVersionSGD, 8*len(m.W)+96)
	e.Float64(m.Alpha)
	e.Float64(m.L1Ratio)
	e.Float64(m.Eta0)
	e.Float64(m.PowerT)
	e.String(m.LearningRate)
	e.String(m.Penalty)
	e.Float64s(m.W)
	e.Float64(m.WScale)
	e.Float64(m.Intercept)
	e.Float64(m.T)
	return e.Finish(), nil
}

// UnmarshalBinary decodes a MarshalBinary blob and validates it as Fit
// would. On error m is unchanged.
func (m *SGDRegressor) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindSGD, stateVersionSGD)
	if err != nil {
		return err
	}
	r := &SGDRegressor{}
	r.Alpha = d.Float64()
	r.L1Ratio = d.Float64()
	r.Eta0 = d.Float64()
	r.PowerT = d.Float64()
	r.LearningRate = d.String()
	r.Penalty = d.String()
	r.W = d.Float64s()
	r.WScale = d.Float64()
	r.Intercept = d.Float64()
	r.T = d.Float64()
	if err := d.Finish(); err != nil {
		return err
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("%w: sgd state: %w", ErrStateCorrupt, err)
	}
	*m = *r
	return nil
}
