package functions

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"slices"
	"testing"
)

// seedUsers is SEED_EXAMPLES.md section 5: purchase_frequency, avg_spend,
// last_purchase_days_ago for users 1..5.
var seedUsers = []float64{
	5, 500, 10,
	2, 100, 40,
	10, 1200, 5,
	1, 50, 90,
	4, 300, 20,
}

func TestKMeansSeedUnscaled(t *testing.T) {
	for _, alg := range []string{KMeansLloyd, KMeansElkan, KMeansAuto} {
		res, err := KMeans(context.Background(), slices.Clone(seedUsers), 3, KMeansOptions{K: 3, Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{0, 1, 2, 1, 0}; !slices.Equal(res.Labels, want) {
			t.Fatalf("%s: labels %v, want %v", alg, res.Labels, want)
		}
		if math.Abs(res.Inertia-22551.0) > 1e-9 {
			t.Errorf("%s: inertia %v, want 22551", alg, res.Inertia)
		}
		wantC := []float64{4.5, 400, 15, 1.5, 75, 65, 10, 1200, 5}
		for i := range wantC {
			if math.Abs(res.Centers[i]-wantC[i]) > 1e-9 {
				t.Fatalf("%s: centres %v, want %v", alg, res.Centers, wantC)
			}
		}
		if !slices.Equal(res.Sizes, []int{2, 2, 1}) {
			t.Errorf("%s: sizes %v", alg, res.Sizes)
		}
		var ss float64
		for _, d := range res.Distances {
			ss += d * d
		}
		if math.Abs(ss-res.Inertia) > 1e-9*res.Inertia {
			t.Errorf("%s: sum of squared distances %v != inertia %v", alg, ss, res.Inertia)
		}
	}
}

func TestKMeansSeedStandard(t *testing.T) {
	for _, alg := range []string{KMeansLloyd, KMeansElkan} {
		res, err := KMeans(context.Background(), slices.Clone(seedUsers), 3, KMeansOptions{K: 3, Scale: ScaleStandard, Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{0, 0, 1, 2, 0}; !slices.Equal(res.Labels, want) {
			t.Fatalf("%s: labels %v, want %v", alg, res.Labels, want)
		}
		if rel := math.Abs(res.Inertia-1.423229284449488) / 1.423229284449488; rel > 1e-13 {
			t.Errorf("%s: inertia %.17g, want 1.423229284449488 (rel err %g)", alg, res.Inertia, rel)
		}
		// Centres come back in the input's units: cluster 0 is the mean of
		// users 1, 2 and 5.
		want := []float64{11.0 / 3, 900.0 / 3, 70.0 / 3}
		for j, w := range want {
			if math.Abs(res.Centers[j]-w) > 1e-9*math.Abs(w) {
				t.Errorf("%s: centre 0 = %v, want %v", alg, res.Centers[:3], want)
			}
		}
	}
}

func TestKMeansBadInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		x    []float64
		d    int
		opt  KMeansOptions
		arg  string
		row  int
	}{
		{"empty", nil, 3, KMeansOptions{K: 1}, "input", -1},
		{"no features", []float64{1}, 0, KMeansOptions{K: 1}, "input", -1},
		{"ragged", []float64{1, 2, 3}, 2, KMeansOptions{K: 1}, "input", -1},
		{"k zero", []float64{1, 2}, 1, KMeansOptions{K: 0}, "k", -1},
		{"k negative", []float64{1, 2}, 1, KMeansOptions{K: -3}, "k", -1},
		{"k above rows", []float64{1, 2}, 1, KMeansOptions{K: 3}, "k", -1},
		{"k above distinct", []float64{1, 1, 2, 2, 1}, 1, KMeansOptions{K: 3}, "k", -1},
		{"all equal", []float64{7, 7, 7, 7}, 2, KMeansOptions{K: 2}, "k", -1},
		{"nan", []float64{1, 2, math.NaN(), 4}, 2, KMeansOptions{K: 1}, "input", 1},
		{"inf", []float64{math.Inf(-1), 2, 3, 4}, 2, KMeansOptions{K: 1}, "input", 0},
		{"bad scale", []float64{1, 2}, 1, KMeansOptions{K: 1, Scale: "log"}, "scale", -1},
		{"bad max_iter", []float64{1, 2}, 1, KMeansOptions{K: 1, MaxIter: -1}, "max_iter", -1},
		{"bad n_init", []float64{1, 2}, 1, KMeansOptions{K: 1, NInit: -2}, "n_init", -1},
		{"bad tol", []float64{1, 2}, 1, KMeansOptions{K: 1, Tol: math.NaN()}, "tol", -1},
	}
	for _, c := range cases {
		_, err := KMeans(ctx, c.x, c.d, c.opt)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: got %v, want *InputError", c.name, err)
			continue
		}
		if ie.Arg != c.arg || ie.Row != c.row {
			t.Errorf("%s: error %q names arg %q row %d, want %q row %d", c.name, ie, ie.Arg, ie.Row, c.arg, c.row)
		}
	}
}

// splitmixUniform mirrors testdata/reference/gen_kmeans.py: uniforms in
// [0, 1) from a counter-based splitmix64, bit-identical to the numpy code.
func splitmixUniform(seed uint64, start, count int) []float64 {
	out := make([]float64, count)
	for i := range out {
		z := seed + uint64(start+i+1)*0x9E3779B97F4A7C15
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		out[i] = float64(z>>11) * (1.0 / 9007199254740992.0)
	}
	return out
}

// refBlobs mirrors gen_kmeans.py's blobs(): flat row-major n x d.
func refBlobs(n, d, centers int, std float64, seed uint64) []float64 {
	if std == 0 {
		u := splitmixUniform(seed, 0, n*d)
		for i, v := range u {
			u[i] = -10.0 + 20.0*v
		}
		return u
	}
	c := splitmixUniform(seed, 0, centers*d)
	for i, v := range c {
		c[i] = -10.0 + 20.0*v
	}
	u := splitmixUniform(seed, centers*d, n*d*4)
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		lab := i % centers
		for j := 0; j < d; j++ {
			q := u[(i*d+j)*4 : (i*d+j)*4+4]
			noise := ((((q[0] + q[1]) + q[2]) + q[3]) - 2.0) * 1.7320508075688772
			x[i*d+j] = c[lab*d+j] + std*noise
		}
	}
	return x
}

// refChecksum mirrors gen_kmeans.py's checksum().
func refChecksum(x []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * (1 + float64(i%7))
	}
	return s
}

type kmeansRefCase struct {
	Name         string    `json:"name"`
	N            int       `json:"n"`
	D            int       `json:"d"`
	Centers      int       `json:"centers"`
	Std          float64   `json:"std"`
	Seed         uint64    `json:"seed"`
	K            int       `json:"k"`
	Scale        string    `json:"scale"`
	NInit        int       `json:"n_init"`
	Checksum     float64   `json:"checksum"`
	InertiaLloyd []float64 `json:"inertia_lloyd"`
	InertiaElkan []float64 `json:"inertia_elkan"`
}

// TestKMeansMatchesSklearn holds KMeans to scikit-learn's inertia on the
// cases in testdata/reference/kmeans.json. With the default seed (0) the
// inertia must not be more than 0.1% above scikit-learn's with
// random_state=0, same k and n_init; lower is allowed, being a better
// optimum of the same objective. The random streams differ, and on data
// without cluster structure the restarts land in different local minima
// (scikit-learn's own inertia varies by 0.2% across random_state 0..4 on
// uniform_k5), so other seeds are held to scikit-learn's worst of five
// random states plus 0.1%.
func TestKMeansMatchesSklearn(t *testing.T) {
	buf, err := os.ReadFile("../testdata/reference/kmeans.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []kmeansRefCase `json:"cases"`
	}
	if err := json.Unmarshal(buf, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range ref.Cases {
		x := refBlobs(c.N, c.D, c.Centers, c.Std, c.Seed)
		if got := refChecksum(x); got != c.Checksum {
			t.Fatalf("%s: data checksum %v, Python had %v: generators differ", c.Name, got, c.Checksum)
		}
		for _, alg := range []string{KMeansLloyd, KMeansElkan} {
			want := c.InertiaLloyd[0]
			if alg == KMeansElkan {
				want = c.InertiaElkan[0]
			}
			for seed := uint64(0); seed < 3; seed++ {
				res, err := KMeans(context.Background(), slices.Clone(x), c.D, KMeansOptions{
					K: c.K, NInit: c.NInit, Seed: seed, Scale: c.Scale, Algorithm: alg})
				if err != nil {
					t.Fatal(err)
				}
				rel := (res.Inertia - want) / want
				t.Logf("%s %s seed %d: inertia %.6f, sklearn %.6f (%+.4f%%)", c.Name, alg, seed, res.Inertia, want, 100*rel)
				if seed == 0 && rel > 1e-3 {
					t.Errorf("%s %s: inertia %v is %.3f%% above scikit-learn's %v", c.Name, alg, res.Inertia, 100*rel, want)
				}
				if worst := slices.Max(c.InertiaLloyd); res.Inertia > worst*(1+1e-3) {
					t.Errorf("%s %s seed %d: inertia %v is above scikit-learn's worst of five seeds %v by more than 0.1%%", c.Name, alg, seed, res.Inertia, worst)
				}
			}
		}
	}
}

func TestKMeansIndependentOfWorkers(t *testing.T) {
	x := refBlobs(40000, 4, 5, 3.0, 11)
	for _, alg := range []string{KMeansLloyd, KMeansElkan} {
		var first *KMeansResult
		for _, w := range []int{1, 2, 3, 8} {
			res, err := KMeans(context.Background(), slices.Clone(x), 4, KMeansOptions{K: 6, NInit: 3, Seed: 7, Algorithm: alg, Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = res
				continue
			}
			if res.Inertia != first.Inertia || !slices.Equal(res.Labels, first.Labels) ||
				!slices.Equal(res.Centers, first.Centers) || !slices.Equal(res.Distances, first.Distances) {
				t.Errorf("%s: %d workers gave inertia %v, 1 worker %v", alg, w, res.Inertia, first.Inertia)
			}
		}
	}
}

func TestKMeansEdgeCases(t *testing.T) {
	ctx := context.Background()
	// k = 1: one cluster whose centre is the mean.
	res, err := KMeans(ctx, []float64{1, 2, 3, 4, 5, 9}, 2, KMeansOptions{K: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Labels, []int{0, 0, 0}) || res.Centers[0] != 3 || res.Centers[1] != 5 || res.Sizes[0] != 3 {
		t.Errorf("k=1: %+v", res)
	}
	// A single row.
	res, err = KMeans(ctx, []float64{4, -2}, 2, KMeansOptions{K: 1, Scale: ScaleStandard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inertia != 0 || res.Distances[0] != 0 || res.Centers[0] != 4 || res.Centers[1] != -2 {
		t.Errorf("single row: %+v", res)
	}
	// k equal to the number of distinct points, with duplicates: exact fit.
	x := []float64{3, 1, 3, 2, 1, 2, 3}
	res, err = KMeans(ctx, x, 1, KMeansOptions{K: 3, Scale: ScaleMinMax})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inertia != 0 || !slices.Equal(res.Labels, []int{0, 1, 0, 2, 1, 2, 0}) || !slices.Equal(res.Sizes, []int{3, 2, 2}) {
		t.Errorf("k = distinct: %+v", res)
	}
	if !slices.Equal(res.Centers, []float64{3, 1, 2}) {
		t.Errorf("k = distinct: centres %v, want [3 1 2]", res.Centers)
	}
	// A constant column is left unscaled and does not break scaling.
	res, err = KMeans(ctx, []float64{1, 5, 2, 5, 10, 5, 11, 5}, 2, KMeansOptions{K: 2, Scale: ScaleStandard})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Labels, []int{0, 0, 1, 1}) || res.Centers[1] != 5 || res.Centers[3] != 5 {
		t.Errorf("constant column: %+v", res)
	}
}

func TestKMeansDeterministicAndCancellable(t *testing.T) {
	x := refBlobs(3000, 3, 4, 2.0, 5)
	a, err := KMeans(context.Background(), slices.Clone(x), 3, KMeansOptions{K: 4, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	b, err := KMeans(context.Background(), slices.Clone(x), 3, KMeansOptions{K: 4, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if a.Inertia != b.Inertia || !slices.Equal(a.Labels, b.Labels) {
		t.Error("same seed, different results")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := KMeans(ctx, slices.Clone(x), 3, KMeansOptions{K: 4}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// BenchmarkKMeans100kx8 is the speed case; bench_kmeans_sgd.py times
// scikit-learn on the same data (refBlobs(100000, 8, 6, 1.0, 2024)).
func BenchmarkKMeans100kx8(b *testing.B) {
	for _, alg := range []string{KMeansAuto, KMeansLloyd, KMeansElkan} {
		b.Run(alg, func(b *testing.B) {
			x := refBlobs(100000, 8, 6, 1.0, 2024)
			buf := make([]float64, len(x))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, x)
				if _, err := KMeans(context.Background(), buf, 8, KMeansOptions{K: 6, NInit: 10, Algorithm: alg}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKMeansMemoryMillionRows checks the memory bound: clustering
// 1,000,000 x 8 allocates no more than the input's own size again, so the
// whole run fits in twice the input.
func TestKMeansMemoryMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 64 MB of input")
	}
	const n, d = 1000000, 8
	x := refBlobs(n, d, 6, 1.0, 3)
	input := uint64(len(x) * 8)
	var before, after runtime.MemStats
	for _, scale := range []string{ScaleNone, ScaleStandard} {
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := KMeans(context.Background(), x, d, KMeansOptions{K: 6, NInit: 2, MaxIter: 20, Scale: scale})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("scale %s: allocated %.1f MB for a %.1f MB input (inertia %g)", scale, float64(alloc)/1e6, float64(input)/1e6, res.Inertia)
		if alloc > input {
			t.Errorf("scale %s: allocated %d bytes, more than the input's %d", scale, alloc, input)
		}
	}
}

// Lloyd and Elkan start from the same k-means++ centres and must reach the
// same partition: Elkan only skips distances that cannot change a label.
func TestKMeansLloydElkanAgree(t *testing.T) {
	for _, c := range []struct {
		d, centers, k int
		std           float64
	}{{3, 12, 12, 1.5}, {2, 5, 14, 3}, {6, 4, 4, 6}} {
		x := refBlobs(6000, c.d, c.centers, c.std, 21)
		l, err := KMeans(context.Background(), slices.Clone(x), c.d, KMeansOptions{K: c.k, NInit: 2, Seed: 3, Algorithm: KMeansLloyd})
		if err != nil {
			t.Fatal(err)
		}
		e, err := KMeans(context.Background(), slices.Clone(x), c.d, KMeansOptions{K: c.k, NInit: 2, Seed: 3, Algorithm: KMeansElkan})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(l.Labels, e.Labels) || l.NIter != e.NIter || math.Abs(l.Inertia-e.Inertia) > 1e-9*l.Inertia {
			t.Errorf("d=%d k=%d: lloyd inertia %v (%d iterations), elkan %v (%d)", c.d, c.k, l.Inertia, l.NIter, e.Inertia, e.NIter)
		}
	}
}
