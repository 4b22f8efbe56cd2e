package functions

import (
	"math/rand"
	"testing"
)

// benchCF is a random model at the demo's scale 50.
func benchCF(b *testing.B) *UserCF {
	r := rand.New(rand.NewSource(1))
	var us, is []int
	var vs []float64
	for u := 0; u < 50000; u++ {
		seen := map[int]bool{}
		for len(seen) < 17 {
			i := r.Intn(200)
			if !seen[i] {
				seen[i] = true
				us, is, vs = append(us, u), append(is, i), append(vs, float64(1+r.Intn(5)))
			}
		}
	}
	m, err := NewUserCF(us, is, vs, 50000, 200)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkUserCFNeighbors: one user's 10 nearest at the demo's scale 50
// (50,000 users, 200 items, 17 ratings each).
func BenchmarkUserCFNeighbors(b *testing.B) {
	m := benchCF(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Neighbors(i%50000, 10)
	}
}
