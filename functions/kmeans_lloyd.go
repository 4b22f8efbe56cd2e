package functions

// Lloyd's iteration: the E-step (nearest centre per row, accumulating
// per-block sums) and the M-step (reducing the blocks in order, relocating
// empty clusters, moving the centres). Elkan's E-step shares both.

import (
	"math"
	"slices"
	"sort"
)

// lloydStep assigns every row to its nearest centre and, when accumulate is
// set, sums rows per cluster into the block buffers. It reports whether any
// label changed.
func (km *kmeans) lloydStep(centers []float64, labels []int32, accumulate bool) bool {
	d, k, x := km.d, km.k, km.x
	return km.eStep(accumulate, func(blk eBlock, lo, hi int) bool {
		changed := false
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d : i*d+d]
			best, bestD := int32(0), math.Inf(1)
			for c := 0; c < k; c++ {
				cen := centers[c*d : c*d+d : c*d+d]
				var s0, s1 float64
				j := 0
				for ; j+1 < len(row); j += 2 {
					u := row[j] - cen[j]
					v := row[j+1] - cen[j+1]
					s0 += u * u
					s1 += v * v
				}
				if j < len(row) {
					u := row[j] - cen[j]
					s0 += u * u
				}
				if s := s0 + s1; s < bestD {
					best, bestD = int32(c), s
				}
			}
			if blk.assign(labels, i, best, row) {
				changed = true
			}
		}
		return changed
	})
}

// eBlock is one block's share of an E-step's M-step accumulators.
type eBlock struct {
	d          int
	accumulate bool
	sums       []float64 // k×d: the block's row sums per cluster
	counts     []int     // k: the block's rows per cluster
}

// assign gives row i (its values row) label c, adding the row to c's sums
// when the step accumulates. It reports whether the label changed.
func (e eBlock) assign(labels []int32, i int, c int32, row []float64) bool {
	if e.accumulate {
		acc := e.sums[int(c)*e.d : int(c)*e.d+e.d : int(c)*e.d+e.d]
		for j, v := range row {
			acc[j] += v
		}
		e.counts[c]++
	}
	if labels[i] == c {
		return false
	}
	labels[i] = c
	return true
}

// eStep runs one E-step, assignRows labelling rows [lo, hi) of each block
// through blk.assign and reporting whether any label changed; so does
// eStep. With accumulate, the block sums start from zero and end holding
// every block's per-cluster sums in row order.
func (km *kmeans) eStep(accumulate bool, assignRows func(blk eBlock, lo, hi int) bool) bool {
	d, k := km.d, km.k
	if accumulate {
		clear(km.blockSums)
		clear(km.blockCounts)
	}
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		blk := eBlock{d: d, accumulate: accumulate, sums: km.blockSums[b*k*d : (b+1)*k*d], counts: km.blockCounts[b*k : (b+1)*k]}
		km.blockChg[b] = assignRows(blk, lo, hi)
	})
	return slices.Contains(km.blockChg, true)
}

// mStep reduces the block sums in block order, relocates empty clusters as
// scikit-learn does (onto the rows farthest from their centres), averages,
// and records each centre's shift.
func (km *kmeans) mStep(old, next []float64, labels []int32) {
	d, k := km.d, km.k
	clear(km.sums)
	clear(km.counts)
	for b := 0; b < km.nBlocks; b++ {
		bs := km.blockSums[b*k*d : (b+1)*k*d]
		for j, v := range bs {
			km.sums[j] += v
		}
		for c, v := range km.blockCounts[b*k : (b+1)*k] {
			km.counts[c] += v
		}
	}
	km.relocateEmpty(old, labels)
	for c := 0; c < k; c++ {
		nc := next[c*d : c*d+d]
		if km.counts[c] > 0 {
			alpha := 1.0 / float64(km.counts[c])
			for j := range nc {
				nc[j] = km.sums[c*d+j] * alpha
			}
		} else {
			copy(nc, old[c*d:c*d+d])
		}
		km.shift[c] = math.Sqrt(sqDist(nc, old[c*d:c*d+d]))
	}
}

func (km *kmeans) relocateEmpty(old []float64, labels []int32) {
	d, k, x := km.d, km.k, km.x
	var empty []int
	for c := 0; c < k; c++ {
		if km.counts[c] == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	// The len(empty) rows farthest from their centres, farthest first.
	type far struct {
		i    int
		dist float64
	}
	top := make([]far, 0, len(empty)+1)
	for i := 0; i < km.n; i++ {
		l := int(labels[i])
		v := sqDist(x[i*d:i*d+d], old[l*d:l*d+d])
		if len(top) == len(empty) && v <= top[len(top)-1].dist {
			continue
		}
		pos := sort.Search(len(top), func(p int) bool { return top[p].dist < v })
		top = slices.Insert(top, pos, far{i, v})
		if len(top) > len(empty) {
			top = top[:len(empty)]
		}
	}
	if len(top) == 0 || top[0].dist == 0 {
		return // every row sits on its centre: nothing to move
	}
	for e, c := range empty {
		if e >= len(top) || top[e].dist == 0 {
			break
		}
		i := top[e].i
		from := int(labels[i])
		row := x[i*d : i*d+d]
		for j, v := range row {
			km.sums[from*d+j] -= v
			km.sums[c*d+j] = v
		}
		km.counts[from]--
		km.counts[c] = 1
	}
}
