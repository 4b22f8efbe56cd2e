package functions

import "slices"

// Recommend ranks row u's predicted scores (W·H) over the columns not in
// rated, highest first, ties in column order, and keeps n. Errors are
// *InputError on "user" or "n".
//
// It is topNDense over PredictRow's scores, computed without them: each
// column's score is summed over the factors in PredictRow's order (the
// same float64), four columns at a time so that their sums overlap, and
// goes straight to the ranking, which skips rated columns by walking them
// in order. Nothing the size of a row is allocated or written: H is read
// once, which bounds a call (10,000 columns × k 10 is 800 KB).
func (m *NMFModel) Recommend(u int, rated []int, n int) ([]Scored, error) {
	if u < 0 || u >= m.Rows {
		return nil, inputErr("user", "user %d out of range [0, %d)", u, m.Rows)
	}
	if n < 1 {
		return nil, inputErr("n", "must be at least 1, got %d", n)
	}
	if !slices.IsSorted(rated) {
		rated = slices.Sorted(slices.Values(rated))
	}
	k, cols := m.K, m.Cols
	// u's factors that are not zero (PredictRow skips the others), with
	// their rows of H.
	ws := make([]float64, 0, k)
	hs := make([][]float64, 0, k)
	for t, w := range m.W[u*k : (u+1)*k] {
		if w != 0 {
			ws, hs = append(ws, w), append(hs, m.H[t*cols:(t+1)*cols])
		}
	}
	h := scoredHeap{n: n}
	next := 0 // rated[next] is the first skipped column at or past j
	offer := func(j int, s float64) {
		for next < len(rated) && rated[next] < j {
			next++
		}
		if next < len(rated) && rated[next] == j {
			return
		}
		// Columns arrive ascending, so a tie with the current worst loses.
		if len(h.data) == n && s <= h.data[0].Score {
			return
		}
		h.offer(Scored{j, s})
	}
	j := 0
	for ; j+4 <= cols; j += 4 {
		var s0, s1, s2, s3 float64
		for f, w := range ws {
			r := hs[f][j : j+4 : j+4]
			s0 += w * r[0]
			s1 += w * r[1]
			s2 += w * r[2]
			s3 += w * r[3]
		}
		if len(h.data) == n {
			// Most columns fall below the worst kept: one test for four.
			thr := h.data[0].Score
			if s0 <= thr && s1 <= thr && s2 <= thr && s3 <= thr {
				continue
			}
		}
		offer(j, s0)
		offer(j+1, s1)
		offer(j+2, s2)
		offer(j+3, s3)
	}
	for ; j < cols; j++ {
		var s float64
		for f, w := range ws {
			s += w * hs[f][j]
		}
		offer(j, s)
	}
	return h.sorted(), nil
}
