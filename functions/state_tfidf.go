package functions

import "math"

const (
	stateKindTfidf    = "tfidf"
	stateVersionTfidf = 1
)

// MarshalBinary encodes the vocabulary, idf and document vectors; the
// postings are rebuilt on decoding. Payload, version 1:
//
//	Strings vocabulary (t terms), Float64s idf (t),
//	Uvarint documents (n), Uvarint entries (e),
//	n × Uvarint       terms of each document
//	e × Uvarint       term of each entry, by document, terms ascending: the
//	                  first of a document as is, the others as the gap to
//	                  the previous one minus 1
//	Float64s          the e weights in the same order
func (x *TfidfIndex) MarshalBinary() ([]byte, error) {
	nd, ne := x.Len(), len(x.DocTerms)
	size := 8*len(x.IDF) + 3*nd + 11*ne + 32
	for _, s := range x.Vocabulary {
		size += len(s) + 1
	}
	e := NewEncoder(stateKindTfidf, stateVersionTfidf, size)
	e.Strings(x.Vocabulary)
	e.Float64s(x.IDF)
	e.Uvarint(uint64(nd))
	e.Uvarint(uint64(ne))
	for d := 0; d < nd; d++ {
		e.Uvarint(uint64(x.DocPtr[d+1] - x.DocPtr[d]))
	}
	for d := 0; d < nd; d++ {
		prev := int32(-1)
		for p := x.DocPtr[d]; p < x.DocPtr[d+1]; p++ {
			e.Uvarint(uint64(x.DocTerms[p] - prev - 1))
			prev = x.DocTerms[p]
		}
	}
	e.Float64s(x.DocWeights)
	return e.Finish(), nil
}

// UnmarshalBinary decodes a MarshalBinary blob and rebuilds the postings,
// so TopN and AllTopN answer exactly as the original's. On error x is
// unchanged.
func (x *TfidfIndex) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindTfidf, stateVersionTfidf)
	if err != nil {
		return err
	}
	r := &TfidfIndex{}
	r.Vocabulary = d.Strings()
	r.IDF = d.Float64s()
	nd := d.Count(1)
	ne := d.Count(9) // a term byte and 8 weight bytes each
	nt := len(r.Vocabulary)
	if d.Err() == nil && len(r.IDF) != nt {
		d.Fail("%d idf values for %d terms", len(r.IDF), nt)
	}
	if d.Err() == nil && nd < 1 {
		d.Fail("no documents")
	}
	if d.Err() == nil && nt-1 > math.MaxInt32 {
		d.Fail("%d terms do not fit 32-bit indices", nt)
	}
	allFiniteState(d, "idf", r.IDF)
	if err := d.Err(); err != nil {
		return err
	}
	r.DocPtr = make([]int, nd+1)
	for i := 0; i < nd; i++ {
		c := d.Uvarint()
		if c > uint64(nt) || c > uint64(ne-r.DocPtr[i]) {
			d.Fail("document %d has %d terms, more than the vocabulary or entries left", i, c)
		}
		if d.Err() != nil {
			return d.Err()
		}
		r.DocPtr[i+1] = r.DocPtr[i] + int(c)
	}
	if r.DocPtr[nd] != ne {
		d.Fail("documents' term counts sum to %d, not %d", r.DocPtr[nd], ne)
		return d.Err()
	}
	r.DocTerms = make([]int32, ne)
	for i := 0; i < nd; i++ {
		prev := int64(-1)
		for p := r.DocPtr[i]; p < r.DocPtr[i+1]; p++ {
			g := d.Uvarint()
			if g >= uint64(nt) || prev+1+int64(g) >= int64(nt) {
				d.Fail("document %d: term beyond the %d terms", i, nt)
			}
			if d.Err() != nil {
				return d.Err()
			}
			prev += 1 + int64(g)
			r.DocTerms[p] = int32(prev)
		}
	}
	r.DocWeights = d.Float64s()
	if d.Err() == nil && len(r.DocWeights) != ne {
		d.Fail("%d weights for %d entries", len(r.DocWeights), ne)
	}
	allFiniteState(d, "weights", r.DocWeights)
	if err := d.Finish(); err != nil {
		return err
	}
	r.buildPostings()
	*x = *r
	return nil
}
