package functions

import "fmt"

const (
	stateKindHolt        = "holt"
	stateVersionHolt     = 1
	stateKindHoltMany    = "holt-many"
	stateVersionHoltMany = 1
)

// MarshalBinary encodes every field: Forecast and Interval read nothing
// else (the simulated intervals' seed is derived from these fields), so
// a decoded model forecasts exactly as this one. Payload, version 1:
//
//	holt series (below)
//
// where a holt series is
//
//	Uvarint trend, Bool damped, Uvarint seasonal, Varint period,
//	Float64 alpha, beta, gamma, phi, initial level, initial trend,
//	Float64s initial seasons, Float64 level, slope, Float64s seasons,
//	Varint n, Float64 sse, sigma2, aic
func (m *HoltModel) MarshalBinary() ([]byte, error) {
	e := NewEncoder(stateKindHolt, stateVersionHolt, 8*(len(m.Seasons)+len(m.InitialSeasons))+160)
	encodeHolt(e, m)
	return e.Finish(), nil
}

// UnmarshalBinary decodes a MarshalBinary blob. On error m is unchanged.
func (m *HoltModel) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindHolt, stateVersionHolt)
	if err != nil {
		return err
	}
	r := decodeHolt(d)
	if err := d.Finish(); err != nil {
		return err
	}
	*m = *r
	return nil
}

// MarshalHoltModels encodes the models of a multi-series fit (FitHoltMany)
// as one blob. Payload, version 1: Uvarint count, then that many holt
// series (see HoltModel.MarshalBinary).
func MarshalHoltModels(models []*HoltModel) ([]byte, error) {
	size := 0
	for i, m := range models {
		if m == nil {
			return nil, fmt.Errorf("holt models: model %d is nil", i)
		}
		size += 8*(len(m.Seasons)+len(m.InitialSeasons)) + 160
	}
	e := NewEncoder(stateKindHoltMany, stateVersionHoltMany, size)
	e.Uvarint(uint64(len(models)))
	for _, m := range models {
		encodeHolt(e, m)
	}
	return e.Finish(), nil
}

// UnmarshalHoltModels decodes a MarshalHoltModels blob.
func UnmarshalHoltModels(b []byte) ([]*HoltModel, error) {
	d, err := NewDecoder(b, stateKindHoltMany, stateVersionHoltMany)
	if err != nil {
		return nil, err
	}
	n := d.Count(holtMinBytes)
	models := make([]*HoltModel, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		models = append(models, decodeHolt(d))
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return models, nil
}

// holtMinBytes is the fewest bytes a holt series takes, to bound a series
// count: 11 floats and 7 one-byte fields (trend, damped, seasonal, period,
// two empty season counts, n) for a series without a seasonal component.
const holtMinBytes = 11*8 + 7

func encodeHolt(e *Encoder, m *HoltModel) {
	e.Uvarint(uint64(m.Trend))
	e.Bool(m.Damped)
	e.Uvarint(uint64(m.Seasonal))
	e.Int(m.Period)
	for _, v := range []float64{m.Alpha, m.Beta, m.Gamma, m.Phi, m.InitialLevel, m.InitialTrend} {
		e.Float64(v)
	}
	e.Float64s(m.InitialSeasons)
	e.Float64(m.Level)
	e.Float64(m.Slope)
	e.Float64s(m.Seasons)
	e.Int(m.N)
	e.Float64(m.SSE)
	e.Float64(m.Sigma2)
	e.Float64(m.AIC)
}

// decodeHolt reads one holt series and checks what Forecast and Interval
// index by; on failure d holds the error.
func decodeHolt(d *Decoder) *HoltModel {
	m := &HoltModel{}
	trend := d.Uvarint()
	m.Damped = d.Bool()
	s := d.Uvarint()
	m.Trend, m.Seasonal = Component(min(trend, 255)), Component(min(s, 255)) // checked below
	m.Period = d.Int("period", 0, maxStateDim)
	m.Alpha, m.Beta, m.Gamma, m.Phi = d.Float64(), d.Float64(), d.Float64(), d.Float64()
	m.InitialLevel, m.InitialTrend = d.Float64(), d.Float64()
	m.InitialSeasons = d.Float64s()
	m.Level, m.Slope = d.Float64(), d.Float64()
	m.Seasons = d.Float64s()
	m.N = d.Int("n", 0, maxStateDim)
	m.SSE, m.Sigma2, m.AIC = d.Float64(), d.Float64(), d.Float64()
	if d.Err() != nil {
		return m
	}
	switch {
	case trend > uint64(ComponentMul) || s > uint64(ComponentMul):
		d.Fail("unknown trend %d or seasonal component %d", trend, s)
	case m.Damped && m.Trend == ComponentNone:
		d.Fail("damped without a trend")
	case m.Seasonal != ComponentNone && (m.Period < 2 || len(m.Seasons) != m.Period || len(m.InitialSeasons) != m.Period):
		d.Fail("seasonal period %d with %d seasons and %d initial seasons", m.Period, len(m.Seasons), len(m.InitialSeasons))
	case m.Seasonal == ComponentNone && (m.Period != 0 || m.Seasons != nil || m.InitialSeasons != nil):
		d.Fail("seasonal period %d or seasons without a seasonal component", m.Period)
	}
	return m
}
