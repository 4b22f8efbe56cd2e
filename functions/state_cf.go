package functions

import "math"

// State kinds and the newest format version of each (see state.go).
const (
	stateKindUserCF    = "usercf"
	stateVersionUserCF = 1
)

// MarshalBinary encodes the ratings, by user; everything else is derived
// from them on decoding. Payload, version 1:
//
//	Uvarint users, Uvarint items, Uvarint ratings (n)
//	users × Uvarint   ratings of each user
//	n × Uvarint       item of each rating, by user, items ascending: the
//	                  first of a user as is, the others as the gap to the
//	                  previous one minus 1 (small gaps take one byte)
//	Float64s          the n rating values in the same order
//	items × Uvarint   ratings of each item: a check on the above, and it
//	                  bounds items by the blob's size
func (m *UserCF) MarshalBinary() ([]byte, error) {
	n := len(m.userItems)
	e := NewEncoder(stateKindUserCF, stateVersionUserCF, 3*binary10+m.Users+m.Items*2+n*10)
	e.Uvarint(uint64(m.Users))
	e.Uvarint(uint64(m.Items))
	e.Uvarint(uint64(n))
	for u := 0; u < m.Users; u++ {
		e.Uvarint(uint64(m.userPtr[u+1] - m.userPtr[u]))
	}
	for u := 0; u < m.Users; u++ {
		prev := int32(-1)
		for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
			e.Uvarint(uint64(m.userItems[p] - prev - 1))
			prev = m.userItems[p]
		}
	}
	e.Float64s(m.userVals)
	for i := 0; i < m.Items; i++ {
		e.Uvarint(uint64(m.itemPtr[i+1] - m.itemPtr[i]))
	}
	return e.Finish(), nil
}

// binary10 is the most bytes a Uvarint takes, for size hints.
const binary10 = 10

// UnmarshalBinary decodes a MarshalBinary blob and rebuilds the model as
// NewUserCF would have, so that every result equals the original's bit
// for bit. On error m is unchanged.
func (m *UserCF) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindUserCF, stateVersionUserCF)
	if err != nil {
		return err
	}
	users := d.Count(1) // each user has its count byte
	items := d.Count(1) // each item has its count byte
	n := d.Count(9)     // each rating has an item byte and 8 value bytes
	if d.Err() == nil && (users < 1 || items < 1 || n < 1) {
		d.Fail("%d users, %d items, %d ratings: a model needs at least one of each", users, items, n)
	}
	if d.Err() == nil && items-1 > math.MaxInt32 {
		d.Fail("%d items do not fit 32-bit indices", items)
	}
	if err := d.Err(); err != nil {
		return err
	}
	ptr := make([]int, users+1)
	for u := 0; u < users; u++ {
		c := d.Uvarint()
		if c > uint64(items) || c > uint64(n-ptr[u]) {
			d.Fail("user %d has %d ratings, more than the items or ratings left", u, c)
		}
		if d.Err() != nil {
			return d.Err()
		}
		ptr[u+1] = ptr[u] + int(c)
	}
	if ptr[users] != n {
		d.Fail("users' rating counts sum to %d, not %d", ptr[users], n)
		return d.Err()
	}
	idx := make([]int32, n)
	for u := 0; u < users; u++ {
		prev := int64(-1)
		for p := ptr[u]; p < ptr[u+1]; p++ {
			g := d.Uvarint()
			if g >= uint64(items) || prev+1+int64(g) >= int64(items) {
				d.Fail("user %d: item beyond the %d items", u, items)
			}
			if d.Err() != nil {
				return d.Err()
			}
			prev += 1 + int64(g)
			idx[p] = int32(prev)
		}
	}
	vals := d.Float64s()
	if d.Err() == nil && len(vals) != n {
		d.Fail("%d rating values for %d ratings", len(vals), n)
	}
	for p, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > mfMaxValue {
			d.Fail("rating %d is %v, not a finite number within ±%g", p, v, mfMaxValue)
			break
		}
	}
	if err := d.Err(); err != nil {
		return err
	}
	r := &UserCF{Users: users, Items: items, userPtr: ptr, userItems: idx, userVals: vals, scratch: newCFScratch(users)}
	r.index()
	for i := 0; i < items; i++ {
		c := d.Uvarint()
		if d.Err() == nil && c != uint64(r.itemPtr[i+1]-r.itemPtr[i]) {
			d.Fail("item %d: %d ratings stored, %d found", i, c, r.itemPtr[i+1]-r.itemPtr[i])
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = *r
	return nil
}

// index derives the unit-normalised values and the by-item transpose
// from the by-user ratings, for NewUserCF and for a decoded state alike.
func (m *UserCF) index() {
	m.userUnit = make([]float64, len(m.userVals))
	for u := 0; u < m.Users; u++ {
		lo, hi := m.userPtr[u], m.userPtr[u+1]
		ss := 0.0
		for p := lo; p < hi; p++ {
			ss += m.userVals[p] * m.userVals[p]
		}
		if ss == 0 {
			continue // a zero row stays zero: similarity 0 to everyone
		}
		nrm := math.Sqrt(ss)
		for p := lo; p < hi; p++ {
			m.userUnit[p] = m.userVals[p] / nrm
		}
	}
	m.itemPtr, m.itemUsers, m.itemUnit = csrTranspose(m.userPtr, m.userItems, m.userUnit, m.Items)
}

// dims reports whether n == a*b with a, b >= 1, without overflow.
func dims(n, a, b int) bool {
	return a >= 1 && b >= 1 && a <= n/b && a*b == n
}

// allFiniteState fails d unless every value is finite.
func allFiniteState(d *Decoder, what string, v []float64) {
	for i, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.Fail("%s[%d] is %v", what, i, f)
			return
		}
	}
}
