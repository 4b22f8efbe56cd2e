package functions

import (
	"math"
	"math/rand"
	"reflect"
	"sort"
	"testing"
)

// TestUserCFSparseEqualsBlocked: both paths of a query give the same
// neighbours and recommendations, scores and ties included, whichever a
// query would take, on random models shaped for either (few raters per
// item or many), with negative ratings, coarse values (ties), users with
// no ratings and k or n past everyone.
func TestUserCFSparseEqualsBlocked(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for c := 0; c < 60; c++ {
		users, items := 5+r.Intn(300), 2+r.Intn(400)
		if c%3 == 0 {
			items = 2 + r.Intn(8) // dense: every user overlaps
		}
		var us, is []int
		var vs []float64
		for u := 0; u < users; u++ {
			if r.Intn(10) == 0 {
				continue // no ratings
			}
			seen := map[int]bool{}
			for range 1 + r.Intn(6) {
				i := r.Intn(items)
				if seen[i] {
					continue
				}
				seen[i] = true
				v := float64(1 + r.Intn(3))
				if c%4 == 1 {
					v = float64(r.Intn(5) - 2) // negative and zero ratings
				}
				us, is, vs = append(us, u), append(is, i), append(vs, v)
			}
		}
		if len(us) == 0 {
			continue
		}
		m, err := NewUserCF(us, is, vs, users, items)
		if err != nil {
			t.Fatal(err)
		}
		sc := &cfScratch{sims: make([]float64, users)}
		sc.sp.size(users, items)
		for u := 0; u < users; u++ {
			k := 1 + r.Intn(users+2)
			if r.Intn(2) == 0 {
				k = 1 + r.Intn(5)
			}
			blocked := m.neighborsBlocked(u, k, sc)
			sparse := m.neighborsSparse(u, k, &sc.sp)
			if !reflect.DeepEqual(blocked, sparse) {
				t.Fatalf("case %d user %d k %d: neighbours\nblocked %v\n sparse %v", c, u, k, blocked, sparse)
			}
			if len(blocked) == 0 {
				continue
			}
			n := 1 + r.Intn(items+2)
			dense := m.recommendDense(u, n, blocked, sc)
			sp := m.recommendSparse(u, n, blocked, &sc.sp)
			if !reflect.DeepEqual(dense, sp) {
				t.Fatalf("case %d user %d n %d: recommendations\n dense %v\nsparse %v", c, u, n, dense, sp)
			}
		}
	}
}

// BenchmarkUserCFRecommendDemo: one user's top 10 from 20 neighbours on
// a random model the demo's shape at scale 50 (47,889 users rating 5 to
// 31 of 10,000 products, popularity falling off like a power law: the
// most popular has about 800 raters, the median about 80, as in the demo), on
// the path each query takes and on the blocked, dense one.
func BenchmarkUserCFRecommendDemo(b *testing.B) {
	const users, items = 47889, 10000
	r := rand.New(rand.NewSource(2))
	cum := make([]float64, items)
	tot := 0.0
	for i := range cum {
		tot += 1 / math.Pow(float64(i+5), 0.4)
		cum[i] = tot
	}
	var us, is []int
	var vs []float64
	seen := make([]bool, items)
	for u := 0; u < users; u++ {
		clear(seen)
		for c := 5 + r.Intn(27); c > 0; {
			i := sort.SearchFloat64s(cum, r.Float64()*tot)
			if i < items && !seen[i] {
				seen[i] = true
				us, is, vs = append(us, u), append(is, i), append(vs, float64(1+r.Intn(5)))
				c--
			}
		}
	}
	m, err := NewUserCF(us, is, vs, users, items)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("chosen", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := m.Recommend(i*7919%users, 10, 20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blocked", func(b *testing.B) {
		sc := &cfScratch{sims: make([]float64, users)}
		for i := 0; b.Loop(); i++ {
			m.recommendDense(i*7919%users, 10, m.neighborsBlocked(i*7919%users, 20, sc), sc)
		}
	})
}
