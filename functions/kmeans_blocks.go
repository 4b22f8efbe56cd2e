package functions

// The fixed partition of rows into blocks and the in-order reductions
// over it, which make results independent of the number of goroutines.

// span is block b's row range.
func (km *kmeans) span(b int) (lo, hi int) {
	lo = b * km.blockRows
	return lo, min(lo+km.blockRows, km.n)
}

// forBlocks runs fn once per block, on up to km.workers goroutines. Each
// block writes only its own slots, so the order blocks run in is invisible.
func (km *kmeans) forBlocks(fn func(b int)) {
	parallelFor(km.nBlocks, km.workers, fn)
}

// sqDist is the squared Euclidean distance between two d-vectors.
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	j := 0
	for ; j+1 < len(a); j += 2 {
		u := a[j] - b[j]
		v := a[j+1] - b[j+1]
		s0 += u * u
		s1 += v * v
	}
	if j < len(a) {
		u := a[j] - b[j]
		s0 += u * u
	}
	return s0 + s1
}

func sumInOrder(v []float64) float64 {
	s := 0.0
	for _, f := range v {
		s += f
	}
	return s
}

// inertia is the sum of squared distances of rows to their centres.
func (km *kmeans) inertia(centers []float64, labels []int32) float64 {
	d, x := km.d, km.x
	part := km.blockF[:km.nBlocks]
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		s := 0.0
		for i := lo; i < hi; i++ {
			l := int(labels[i])
			s += sqDist(x[i*d:i*d+d], centers[l*d:l*d+d])
		}
		part[b] = s
	})
	return sumInOrder(part)
}
