package functions

import (
	"context"
	"testing"
)

// BenchmarkNMFInitScale50 times the nndsvda init alone (randomized SVD,
// then nndsvd) on nmfScale50, the fixed cost that dominates short fits.
func BenchmarkNMFInitScale50(b *testing.B) {
	us, is, vs := nmfScale50()
	x, _, _ := mfBuildCSR(us, is, vs, 50000, 200)
	xt := x.transpose()
	for b.Loop() {
		if _, _, err := nmfInit(context.Background(), x, xt, 10, "nndsvda", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNMFOrthonormalize times one orthonormalisation of the
// randomized SVD's 50,000 × 20 sketch.
func BenchmarkNMFOrthonormalize(b *testing.B) {
	us, is, vs := nmfScale50()
	x, _, _ := mfBuildCSR(us, is, vs, 50000, 200)
	rng := NewRandomState(0)
	omega := make([]float64, 200*20)
	for i := range omega {
		omega[i] = rng.StandardNormal()
	}
	y := make([]float64, 50000*20)
	x.mulDense(omega, 20, y)
	a := make([]float64, len(y))
	for b.Loop() {
		copy(a, y)
		mfOrthonormalize(a, 50000, 20)
	}
}
