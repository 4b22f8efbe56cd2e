package functions

import (
	"math"
	"math/rand"
	"sort"
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

// benchCFSkewed is a random model shaped like the demo's scale 50:
// 47,889 users rating 5 to 31 items each (about 862k ratings), 200 items
// whose popularity falls off like a power law, ratings 1 to 5.
func benchCFSkewed(b testing.TB) *UserCF {
	const users, items = 47889, 200
	r := rand.New(rand.NewSource(2))
	cum := make([]float64, items)
	tot := 0.0
	for i := range cum {
		tot += 1 / math.Pow(float64(i+5), 0.8)
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
	return m
}

// BenchmarkUserCFRecommendScale50: one user's top 10 from 20 neighbours
// (recommend's default) on the skewed scale-50 shape, users visited in a
// scattered order.
func BenchmarkUserCFRecommendScale50(b *testing.B) {
	m := benchCFSkewed(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Recommend(i*7919%m.Users, 10, 20); err != nil {
			b.Fatal(err)
		}
	}
}
