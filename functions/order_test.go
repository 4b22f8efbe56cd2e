package functions

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestKeyIndexSort checks that Sort renumbers keys, their first rows and
// lookups consistently, and that remap carries old indices to new ones.
func TestKeyIndexSort(t *testing.T) {
	x := NewKeyIndex[string]()
	var idx []int
	for row, k := range []string{"c", "a", "c", "b", "a"} {
		idx = append(idx, x.Add(k, row))
	}
	remap := x.Sort(func(i, j int) int {
		switch a, b := x.Keys[i], x.Keys[j]; {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	for p, d := range idx {
		idx[p] = remap[d]
	}
	if !slices.Equal(x.Keys, []string{"a", "b", "c"}) || !slices.Equal(x.First, []int{1, 3, 0}) {
		t.Errorf("keys %v first %v", x.Keys, x.First)
	}
	if !slices.Equal(idx, []int{2, 0, 2, 1, 0}) {
		t.Errorf("renumbered indices %v", idx)
	}
	for i, k := range x.Keys {
		if d, ok := x.Lookup(k); !ok || d != i {
			t.Errorf("Lookup(%q) = %d, %v; want %d", k, d, ok, i)
		}
	}
}

// NMF and UserCF depend on the dense indices, not on the order of the
// triples: any permutation of the same triples gives the same bits.
func TestMatrixFactorisationTripleOrderFree(t *testing.T) {
	var rows, cols []int
	var vals []float64
	for u := 0; u < 30; u++ {
		for i := 0; i < 20; i++ {
			if (u*7+i*5)%3 != 0 {
				rows, cols, vals = append(rows, u), append(cols, i), append(vals, float64(1+(u+i)%5))
			}
		}
	}
	base, err := NMF(context.Background(), rows, cols, vals, 30, 20, NMFOptions{K: 4})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := NewUserCF(rows, cols, vals, 30, 20)
	if err != nil {
		t.Fatal(err)
	}
	baseRecs, _ := cf.Recommend(3, 10, 5)
	for s := uint64(1); s <= 3; s++ {
		perm := rand.New(rand.NewPCG(s, 9)).Perm(len(rows))
		pr, pc, pv := make([]int, len(perm)), make([]int, len(perm)), make([]float64, len(perm))
		for p, q := range perm {
			pr[p], pc[p], pv[p] = rows[q], cols[q], vals[q]
		}
		m, err := NMF(context.Background(), pr, pc, pv, 30, 20, NMFOptions{K: 4})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, base) {
			t.Errorf("permutation %d: NMF differs", s)
		}
		c, err := NewUserCF(pr, pc, pv, 30, 20)
		if err != nil {
			t.Fatal(err)
		}
		if recs, _ := c.Recommend(3, 10, 5); !reflect.DeepEqual(recs, baseRecs) {
			t.Errorf("permutation %d: user_cf %v, want %v", s, recs, baseRecs)
		}
	}
}
