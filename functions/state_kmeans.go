package functions

import (
	"math"
	"runtime"
	"slices"
)

const (
	stateKindKMeans    = "kmeans"
	stateVersionKMeans = 1
)

// KMeansModel is what a fitted clustering needs to assign new rows: the
// centres in the space the clustering ran in and the scaling that maps
// input rows there.
type KMeansModel struct {
	K, D int
	// Centers is K×D, row-major, in scaled space, numbered as the fit's
	// clusters (by first appearance in the training input).
	Centers []float64
	// Order is the order in which Assign compares the centres (a
	// permutation of 0..K-1): the order the fit compared them in, so that
	// a row exactly as far from two centres gets the cluster the fit gave
	// it. Nil means 0..K-1.
	Order   []int
	Scaler  Scaler
	Inertia float64
}

// Model returns the state that assigns rows as this fit did. From a
// result made by KMeans it is exact: assigning the training rows gives
// the fit's Labels and Distances bit for bit (for Elkan's algorithm,
// which compares square roots of distances, up to rows whose two nearest
// distances agree to within rounding). A result built otherwise (e.g.
// decoded from JSON) lacks the scaled centres, which are then rebuilt by
// scaling Centers, exact to within rounding.
func (r *KMeansResult) Model() *KMeansModel {
	m := &KMeansModel{K: r.K, D: r.Features, Scaler: r.Scaler, Inertia: r.Inertia}
	if len(r.scaled) == r.K*r.Features && len(r.order) == r.K {
		m.Centers, m.Order = slices.Clone(r.scaled), slices.Clone(r.order)
	} else {
		m.Centers = slices.Clone(r.Centers)
		r.Scaler.Transform(m.Centers)
	}
	return m
}

// kmAssignBlock is Assign's unit of work (rows per scaled copy).
const kmAssignBlock = 2048

// Assign gives each of the n rows of x (flat, row-major, n×D, in the
// input's units; x is not modified) its nearest centre and its Euclidean
// distance to it in scaled space, which is what the kmeans function
// reports as distance. Errors are *InputError on "input": a wrong length,
// or a value that is not finite or beyond ±1e100 (as KMeans refuses).
func (m *KMeansModel) Assign(x []float64, n int) (labels []int, dist []float64, err error) {
	d := m.D
	if n < 0 || len(x) != n*d {
		return nil, nil, inputErr("input", "has %d values, not %d rows of %d features", len(x), n, d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, rowErr("input", i/d, "feature %d is %v; values must be finite", i%d+1, v)
		}
		if math.Abs(v) > kmMaxAbs {
			return nil, nil, rowErr("input", i/d, "feature %d is %v; values must be within ±%g", i%d+1, v, kmMaxAbs)
		}
	}
	order := m.Order
	if order == nil {
		order = make([]int, m.K)
		for c := range order {
			order[c] = c
		}
	}
	labels = make([]int, n)
	dist = make([]float64, n)
	workers := runtime.GOMAXPROCS(0)
	if n*d*m.K < kmParallelMin {
		workers = 1
	}
	blocks := (n + kmAssignBlock - 1) / kmAssignBlock
	parallelFor(blocks, workers, func(b int) {
		lo, hi := b*kmAssignBlock, min((b+1)*kmAssignBlock, n)
		xs := slices.Clone(x[lo*d : hi*d])
		m.Scaler.Transform(xs)
		for i := lo; i < hi; i++ {
			row := xs[(i-lo)*d : (i-lo+1)*d]
			// The fit's E-step rule: strictly nearer wins, so ties go to
			// the centre compared first.
			best, bestD := order[0], math.Inf(1)
			for _, c := range order {
				if s := sqDist(row, m.Centers[c*d:c*d+d]); s < bestD {
					best, bestD = c, s
				}
			}
			labels[i] = best
			dist[i] = math.Sqrt(sqDist(row, m.Centers[best*d:best*d+d]))
		}
	})
	return labels, dist, nil
}

// MarshalBinary encodes the model. Payload, version 1:
//
//	Varint k, Varint d, Float64 inertia, Float64s centers (k×d),
//	Ints order (k values, or none for 0..k-1),
//	String scaler kind, Float64s offset, Float64s factor (d each, or
//	none for "none")
func (m *KMeansModel) MarshalBinary() ([]byte, error) {
	e := NewEncoder(stateKindKMeans, stateVersionKMeans, 8*(len(m.Centers)+2*m.D)+4*m.K+64)
	e.Int(m.K)
	e.Int(m.D)
	e.Float64(m.Inertia)
	e.Float64s(m.Centers)
	e.Ints(m.Order)
	e.String(m.Scaler.Kind)
	e.Float64s(m.Scaler.Offset)
	e.Float64s(m.Scaler.Factor)
	return e.Finish(), nil
}

// UnmarshalBinary decodes a MarshalBinary blob. On error m is unchanged.
func (m *KMeansModel) UnmarshalBinary(b []byte) error {
	d, err := NewDecoder(b, stateKindKMeans, stateVersionKMeans)
	if err != nil {
		return err
	}
	r := &KMeansModel{}
	r.K = d.Int("k", 1, maxStateDim)
	r.D = d.Int("features", 1, maxStateDim)
	r.Inertia = d.Float64()
	r.Centers = d.Float64s()
	r.Order = d.Ints()
	r.Scaler.Kind = d.String()
	r.Scaler.Offset = d.Float64s()
	r.Scaler.Factor = d.Float64s()
	if d.Err() == nil && !dims(len(r.Centers), r.K, r.D) {
		d.Fail("%d centre values for %d clusters of %d features", len(r.Centers), r.K, r.D)
	}
	allFiniteState(d, "centers", r.Centers)
	if d.Err() == nil && r.Order != nil {
		seen := make([]bool, r.K)
		if len(r.Order) != r.K {
			d.Fail("order has %d entries for %d clusters", len(r.Order), r.K)
		}
		for _, c := range r.Order {
			if d.Err() != nil {
				break
			}
			if c < 0 || c >= r.K || seen[c] {
				d.Fail("order is not a permutation of the %d clusters", r.K)
				break
			}
			seen[c] = true
		}
	}
	if d.Err() == nil {
		checkScalerState(d, r.Scaler, r.D)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = *r
	return nil
}

// checkScalerState fails d unless s is a scaler for d features that
// transform can apply.
func checkScalerState(d *Decoder, s Scaler, features int) {
	switch s.Kind {
	case ScaleNone, "":
		if s.Offset != nil || s.Factor != nil {
			d.Fail("scaler %q has parameters", s.Kind)
		}
		return
	case ScaleStandard, ScaleMinMax:
	default:
		d.Fail("unknown scaler %q", s.Kind)
		return
	}
	if len(s.Offset) != features || len(s.Factor) != features {
		d.Fail("scaler has %d offsets and %d factors for %d features", len(s.Offset), len(s.Factor), features)
		return
	}
	allFiniteState(d, "scaler offset", s.Offset)
	allFiniteState(d, "scaler factor", s.Factor)
	for j, f := range s.Factor {
		if f == 0 {
			d.Fail("scaler factor %d is 0", j)
			return
		}
	}
}
