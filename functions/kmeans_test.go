package functions

import (
	"context"
	"errors"
	"math"
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
