package functions

import (
	"context"
	"runtime"
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

// BenchmarkNMFOrthonormalizeGS times the Gram-Schmidt fallback on the
// same sketch.
func BenchmarkNMFOrthonormalizeGS(b *testing.B) {
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
		mfOrthonormalizeGS(a, 50000, 20)
	}
}

// mfGramRef is mfGram's plain definition, row by row.
func mfGramRef(a []float64, n, k int, g []float64) {
	const block = 2048
	clear(g)
	part := make([]float64, k*k)
	for lo := 0; lo < n; lo += block {
		clear(part)
		for i := lo; i < min(n, lo+block); i++ {
			row := a[i*k : (i+1)*k]
			for p, x := range row {
				for q := p; q < k; q++ {
					part[p*k+q] += x * row[q]
				}
			}
		}
		for i, v := range part {
			g[i] += v
		}
	}
	for p := 0; p < k; p++ {
		for q := p + 1; q < k; q++ {
			g[q*k+p] = g[p*k+q]
		}
	}
}

// mfGram's tiles must give its plain definition's sums bit for bit.
func TestNMFGramTiles(t *testing.T) {
	rng := NewRandomState(2)
	for _, n := range []int{1, 7, 2048, 5000} {
		for _, k := range []int{1, 2, 3, 5, 10, 11, 20} {
			a := make([]float64, n*k)
			for i := range a {
				if v := rng.StandardNormal(); v > -0.5 {
					a[i] = v
				}
			}
			got, want := make([]float64, k*k), make([]float64, k*k)
			mfGram(a, n, k, got)
			mfGramRef(a, n, k, want)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("n=%d k=%d: g[%d] = %v, want %v", n, k, i, got[i], want[i])
				}
			}
		}
	}
}

// The scatter kernel Xᵀ·B must equal the gather one on Xᵀ bit for bit, on
// any number of cores.
func TestNMFMulTransDense(t *testing.T) {
	us, is, vs := ratingsData(300, 500, 12000, 3)
	x, _, _ := mfBuildCSR(us, is, vs, 300, 500)
	xt := x.transpose()
	rng := NewRandomState(1)
	for _, procs := range []int{1, 2, 3} {
		for _, c := range []int{1, 3, 5, 7, 10, 12, 20} {
			b := make([]float64, 300*c)
			for i := range b {
				b[i] = rng.StandardNormal()
			}
			want := make([]float64, 500*c)
			got := make([]float64, 500*c)
			for i := range got {
				got[i] = 99
			}
			xt.mulDense(b, c, want)
			prev := runtime.GOMAXPROCS(procs)
			x.mulTransDense(b, c, got)
			runtime.GOMAXPROCS(prev)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("procs=%d c=%d: [%d] = %v, want %v", procs, c, i, got[i], want[i])
				}
			}
		}
	}
}

// Cholesky QR must give Gram-Schmidt's basis to rounding level on
// well-conditioned columns, and fall back to Gram-Schmidt (zeroing the
// dependent column) when a column repeats another.
func TestNMFOrthonormalize(t *testing.T) {
	rng := NewRandomState(4)
	const p, c = 3000, 12
	a := make([]float64, p*c)
	for i := range a {
		a[i] = rng.StandardNormal() + 2 // correlated columns
	}
	gs := append([]float64(nil), a...)
	mfOrthonormalizeGS(gs, p, c)
	got := append([]float64(nil), a...)
	mfOrthonormalize(got, p, c)
	for i := range gs {
		if d := got[i] - gs[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("[%d] = %v, Gram-Schmidt %v", i, got[i], gs[i])
		}
	}
	for i := 0; i < p; i++ {
		a[i*c+5] = a[i*c+2]
	}
	gs = append(gs[:0], a...)
	mfOrthonormalizeGS(gs, p, c)
	got = append(got[:0], a...)
	mfOrthonormalize(got, p, c)
	for i := range gs {
		if got[i] != gs[i] {
			t.Fatalf("dependent columns: [%d] = %v, Gram-Schmidt %v", i, got[i], gs[i])
		}
	}
	if got[5] != 0 {
		t.Fatalf("dependent column not zeroed: %v", got[5])
	}
}
