package functions

const (
	stateKindNMF    = "nmf"
	stateVersionNMF = 1
)

// MarshalBinary encodes the factorisation. Payload, version 1:
//
//	Varint rows, Varint cols, Varint k, Varint n_iter,
//	Float64 reconstruction error, Float64s W (rows×k), Float64s H (k×cols)
func (m *NMFModel) MarshalBinary() ([]byte, error) {
	e := NewEncoder(stateKindNMF, stateVersionNMF, 8*(len(m.W)+len(m.H))+64)
	e.Int(m.Rows)
	e.Int(m.Cols)
	e.Int(m.K)
	e.Int(m.NIter)
	e.Float64(m.ReconstructionErr)
	e.Float64s(m.W)
	e.Float64s(m.H)
	return e.Finish(), nil
}

// UnmarshalBinary decodes a MarshalBinary blob. On error m is unchanged.
func (m *NMFModel) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindNMF, stateVersionNMF)
	if err != nil {
		return err
	}
	// Rows, cols and k are bounded by the factors' sizes, checked below;
	// a factor's count is checked against the bytes left.
	r := &NMFModel{}
	r.Rows = d.Int("rows", 1, maxStateDim)
	r.Cols = d.Int("cols", 1, maxStateDim)
	r.K = d.Int("k", 1, maxStateDim)
	r.NIter = d.Int("n_iter", 0, maxStateDim)
	r.ReconstructionErr = d.Float64()
	r.W = d.Float64s()
	r.H = d.Float64s()
	if d.Err() == nil && (!dims(len(r.W), r.Rows, r.K) || !dims(len(r.H), r.K, r.Cols)) {
		d.Fail("W has %d values and H %d for %d rows, %d columns, k %d", len(r.W), len(r.H), r.Rows, r.Cols, r.K)
	}
	allFiniteState(d, "W", r.W)
	allFiniteState(d, "H", r.H)
	if err := d.Finish(); err != nil {
		return err
	}
	*m = *r
	return nil
}
