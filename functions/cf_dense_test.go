package functions

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// denseUserCF is SEED_EXAMPLES.md section 4's definition computed the
// straightforward way on the dense matrix r (0 = not rated, rated marks
// the rated cells): unit rows, every pair's dot product over all items in
// item order, a stable sort for the neighbours, their rows' mean, a
// stable sort of u's unrated items.
func denseUserCF(r [][]float64, rated [][]bool, u, n, k int) (nb, recs []Scored) {
	unit := make([][]float64, len(r))
	for v, row := range r {
		ss := 0.0
		for _, x := range row {
			ss += x * x
		}
		unit[v] = make([]float64, len(row))
		if ss != 0 {
			nrm := math.Sqrt(ss)
			for i, x := range row {
				unit[v][i] = x / nrm
			}
		}
	}
	for v := range r {
		if v == u {
			continue
		}
		s := 0.0
		for i := range r[u] {
			s += unit[u][i] * unit[v][i]
		}
		nb = append(nb, Scored{v, s})
	}
	sort.SliceStable(nb, func(a, b int) bool { return nb[a].Score > nb[b].Score })
	nb = nb[:min(k, len(nb))]
	if len(nb) == 0 {
		return nil, nil
	}
	scores := make([]float64, len(r[u]))
	for _, s := range nb {
		for i, x := range r[s.Index] {
			scores[i] += x
		}
	}
	for i := range scores {
		if !rated[u][i] {
			recs = append(recs, Scored{i, scores[i] / float64(len(nb))})
		}
	}
	sort.SliceStable(recs, func(a, b int) bool { return recs[a].Score > recs[b].Score })
	return nb, recs[:min(n, len(recs))]
}

// TestUserCFEqualsDense: Neighbors and Recommend equal the dense
// definition bit for bit, ties in index order, on random models with few
// distinct ratings (many exact ties), duplicated rows, rows of zeros,
// users with no ratings, negative values, and more users than a block.
func TestUserCFEqualsDense(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for trial := 0; trial < 12; trial++ {
		users, items := 2+r.Intn(60), 1+r.Intn(12)
		if trial >= 9 {
			users, items = cfBlock+1+r.Intn(3*cfBlock), 3+r.Intn(8)
		}
		dense := make([][]float64, users)
		rated := make([][]bool, users)
		var us, is []int
		var vs []float64
		for u := 0; u < users; u++ {
			dense[u], rated[u] = make([]float64, items), make([]bool, items)
			switch {
			case u > 0 && r.Intn(6) == 0: // a duplicate of an earlier row
				w := r.Intn(u)
				copy(dense[u], dense[w])
				copy(rated[u], rated[w])
			case r.Intn(8) == 0: // no ratings
			default:
				zero := r.Intn(8) == 0 // rated, all zero
				for i := 0; i < items; i++ {
					if r.Float64() < 0.3 {
						rated[u][i] = true
						if !zero {
							dense[u][i] = float64(r.Intn(5) - 1)
						}
					}
				}
			}
			for i := 0; i < items; i++ {
				if rated[u][i] {
					us, is, vs = append(us, u), append(is, i), append(vs, dense[u][i])
				}
			}
		}
		if len(us) == 0 {
			continue
		}
		m, err := NewUserCF(us, is, vs, users, items)
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 40; c++ {
			u := r.Intn(users)
			if c == 0 {
				u = users - 1
			}
			for _, k := range []int{1, 2, 20, 1 + r.Intn(users+3), cfBlock + 7} {
				n := 1 + r.Intn(items+2)
				wantNb, wantRecs := denseUserCF(dense, rated, u, n, k)
				if got := m.Neighbors(u, k); !sameScored(got, wantNb) {
					t.Fatalf("trial %d user %d k %d: neighbours %v, want %v", trial, u, k, got, wantNb)
				}
				got, err := m.Recommend(u, n, k)
				if err != nil {
					t.Fatal(err)
				}
				if !sameScored(got, wantRecs) {
					t.Fatalf("trial %d user %d n %d k %d: %v, want %v", trial, u, n, k, got, wantRecs)
				}
			}
		}
	}
}

// sameScored: the same indices and bit-identical scores, nil and empty
// alike.
func sameScored(a, b []Scored) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || math.Float64bits(a[i].Score) != math.Float64bits(b[i].Score) {
			return false
		}
	}
	return true
}
