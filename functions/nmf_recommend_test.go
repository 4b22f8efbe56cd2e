package functions

import (
	"math/rand"
	"reflect"
	"testing"
)

// TestNMFRecommendMatchesDense: Recommend equals ranking PredictRow's
// scores with topNDense, bit for bit and ties included, on random models
// with zero factors, coarse values (many ties), any column count, rated
// columns unsorted, repeated or out of range, and n past the columns.
func TestNMFRecommendMatchesDense(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for c := 0; c < 300; c++ {
		rows, cols, k := 1+r.Intn(5), 1+r.Intn(40), 1+r.Intn(6)
		m := &NMFModel{Rows: rows, Cols: cols, K: k, W: make([]float64, rows*k), H: make([]float64, k*cols)}
		coarse := c%2 == 0
		val := func() float64 {
			if r.Intn(4) == 0 {
				return 0
			}
			if coarse {
				return float64(r.Intn(3)) / 2
			}
			return r.Float64()
		}
		for i := range m.W {
			m.W[i] = val()
		}
		for i := range m.H {
			m.H[i] = val()
		}
		u := r.Intn(rows)
		var rated []int
		for range r.Intn(cols + 2) {
			rated = append(rated, r.Intn(cols+4)-2)
		}
		n := 1 + r.Intn(cols+3)
		got, err := m.Recommend(u, rated, n)
		if err != nil {
			t.Fatal(err)
		}
		skip := map[int]bool{}
		for _, j := range rated {
			skip[j] = true
		}
		want := topNDense(m.PredictRow(u, nil), n, func(j int) bool { return skip[j] })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d (u %d, n %d, rated %v):\n got %v\nwant %v", c, u, n, rated, got, want)
		}
	}
}

// BenchmarkNMFRecommendDemo: one user's top 10 from a factor model the
// shape of the demo's at scale 50 (47,889 users × 10,000 products, k 10),
// 18 rated products skipped; the old way (PredictRow, then topNDense) for
// comparison.
func BenchmarkNMFRecommendDemo(b *testing.B) {
	const rows, cols, k = 47889, 10000, 10
	r := rand.New(rand.NewSource(1))
	m := &NMFModel{Rows: rows, Cols: cols, K: k, W: make([]float64, rows*k), H: make([]float64, k*cols)}
	for i := range m.W {
		m.W[i] = r.Float64()
	}
	for i := range m.H {
		m.H[i] = r.Float64()
	}
	rated := make([]int, 18)
	for i := range rated {
		rated[i] = i * 500
	}
	b.Run("fused", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			m.Recommend(i*7919%rows, rated, 10)
		}
	})
	b.Run("dense", func(b *testing.B) {
		skip := make([]bool, cols)
		for _, j := range rated {
			skip[j] = true
		}
		for i := 0; b.Loop(); i++ {
			topNDense(m.PredictRow(i*7919%rows, nil), 10, func(j int) bool { return skip[j] })
		}
	})
}
