package functions

// Elkan's E-step: Lloyd's assignment with triangle-inequality bounds that
// skip most distance computations when there are many clusters.

import "math"

// centerDistances fills Elkan's half distances between centres and each
// centre's half distance to its nearest other centre.
func (km *kmeans) centerDistances(centers []float64) {
	d, k := km.d, km.k
	for a := 0; a < k; a++ {
		km.halfDist[a*k+a] = 0
		for b := a + 1; b < k; b++ {
			h := math.Sqrt(sqDist(centers[a*d:a*d+d], centers[b*d:b*d+d])) / 2
			km.halfDist[a*k+b] = h
			km.halfDist[b*k+a] = h
		}
	}
	for a := 0; a < k; a++ {
		m := math.Inf(1)
		for b := 0; b < k; b++ {
			if b != a && km.halfDist[a*k+b] < m {
				m = km.halfDist[a*k+b]
			}
		}
		km.nextDist[a] = m
	}
}

// elkanInit sets the first labels and bounds (scikit-learn's
// init_bounds_dense).
func (km *kmeans) elkanInit(centers []float64, labels []int32) {
	d, k, x := km.d, km.k, km.x
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		clear(km.lower[lo*k : hi*k])
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d]
			lb := km.lower[i*k : i*k+k]
			best := 0
			m := math.Sqrt(sqDist(row, centers[:d]))
			lb[0] = m
			for j := 1; j < k; j++ {
				if m > km.halfDist[best*k+j] {
					v := math.Sqrt(sqDist(row, centers[j*d:j*d+d]))
					lb[j] = v
					if v < m {
						m, best = v, j
					}
				}
			}
			labels[i] = int32(best)
			km.upper[i] = m
		}
	})
}

// elkanStep is one Elkan E-step (plus accumulation for the M-step): rows
// whose upper bound proves their centre is still nearest are skipped.
func (km *kmeans) elkanStep(centers []float64, labels []int32, accumulate bool) bool {
	d, k, x := km.d, km.k, km.x
	return km.eStep(accumulate, func(blk eBlock, lo, hi int) bool {
		changed := false
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d]
			lb := km.lower[i*k : i*k+k]
			ub := km.upper[i]
			lab := int(labels[i])
			if !(km.nextDist[lab] >= ub) {
				tight := false
				for j := 0; j < k; j++ {
					if j == lab || ub <= lb[j] || ub <= km.halfDist[lab*k+j] {
						continue
					}
					if !tight {
						ub = math.Sqrt(sqDist(row, centers[lab*d:lab*d+d]))
						lb[lab] = ub
						tight = true
						if ub <= lb[j] || ub <= km.halfDist[lab*k+j] {
							continue
						}
					}
					v := math.Sqrt(sqDist(row, centers[j*d:j*d+d]))
					lb[j] = v
					if v < ub {
						lab, ub = j, v
					}
				}
				km.upper[i] = ub
			}
			if blk.assign(labels, i, int32(lab), row) {
				changed = true
			}
		}
		return changed
	})
}

// elkanShiftBounds loosens the bounds by how far each centre moved.
func (km *kmeans) elkanShiftBounds(labels []int32) {
	k := km.k
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		for i := lo; i < hi; i++ {
			km.upper[i] += km.shift[labels[i]]
			lb := km.lower[i*k : i*k+k]
			for j, s := range km.shift {
				lb[j] = max(lb[j]-s, 0)
			}
		}
	})
}
