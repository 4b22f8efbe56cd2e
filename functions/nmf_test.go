package functions

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

// seedNMF is SEED_EXAMPLES.md section 7's rating matrix as triples (zeros
// are "not rated" and left out).
func seedNMF() (rows, cols []int, vals []float64) {
	r := [][]float64{{5, 3, 0, 1}, {4, 0, 0, 1}, {1, 1, 0, 5}, {1, 0, 0, 4}, {0, 1, 5, 4}}
	for i, row := range r {
		for j, v := range row {
			if v != 0 {
				rows, cols, vals = append(rows, i), append(cols, j), append(vals, v)
			}
		}
	}
	return
}

func TestNMFSeedRandomInit(t *testing.T) {
	rows, cols, vals := seedNMF()
	m, err := NMF(context.Background(), rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: "random", Seed: 0})
	if err != nil {
		t.Fatal(err)
	}
	// As printed by scikit-learn 1.2.1 (SEED_EXAMPLES.md section 7).
	want := [][]float64{
		{5.25583751, 1.99314304, 0, 1.45510614},
		{3.50429883, 1.32891643, 0, 0.97018348},
		{1.31291255, 0.9441558, 1.94957474, 3.94614513},
		{0.98126695, 0.72179626, 1.52760301, 3.0788861},
		{0, 0.65008539, 2.83998144, 5.21892451},
	}
	for i := range want {
		for j := range want[i] {
			if got := m.Predict(i, j); math.Abs(got-want[i][j]) > 1e-6 {
				t.Errorf("W·H[%d][%d] = %.10f, want %.8f", i, j, got, want[i][j])
			}
		}
	}
	if m.NIter != 16 {
		t.Errorf("n_iter = %d, want 16", m.NIter)
	}
	if math.Abs(m.ReconstructionErr-4.2765298341191516) > 1e-9 {
		t.Errorf("reconstruction error = %.12f, want 4.2765298341", m.ReconstructionErr)
	}
	row := m.PredictRow(2, nil)
	for j := range row {
		if row[j] != m.Predict(2, j) {
			t.Errorf("PredictRow(2)[%d] = %v, Predict = %v", j, row[j], m.Predict(2, j))
		}
	}
}

// scikit-learn 1.2.1's W·H and errors for the other inits (random_state=0).
func TestNMFSeedOtherInits(t *testing.T) {
	cases := []struct {
		init  string
		err   float64
		first []float64 // row 0 of W·H
	}{
		{"nndsvd", 4.276529831743077, []float64{5.2558264023, 1.9931383621, 0, 1.4551277214}},
		{"nndsvda", 4.27652983363938, []float64{5.2558356743, 1.9931422714, 0, 1.4551096971}},
		{"nndsvdar", 4.276529837050732, []float64{5.2558466999, 1.9931469202, 0, 1.4550882631}},
	}
	rows, cols, vals := seedNMF()
	for _, c := range cases {
		m, err := NMF(context.Background(), rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: c.init})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(m.ReconstructionErr-c.err) > 1e-7 {
			t.Errorf("%s: error = %.10f, want %.10f", c.init, m.ReconstructionErr, c.err)
		}
		for j, w := range c.first {
			if got := m.Predict(0, j); math.Abs(got-w) > 1e-6 {
				t.Errorf("%s: W·H[0][%d] = %.10f, want %.10f", c.init, j, got, w)
			}
		}
	}
}

func TestNMFBadInput(t *testing.T) {
	ctx := context.Background()
	rows, cols, vals := seedNMF()
	neg := append([]float64(nil), vals...)
	neg[3] = -1
	nan := append([]float64(nil), vals...)
	nan[0] = math.NaN()
	huge := append([]float64(nil), vals...)
	huge[5] = 1e101
	cases := []struct {
		name       string
		rows, cols []int
		vals       []float64
		n, m       int
		opt        NMFOptions
		arg        string
		row        int
	}{
		{"empty", nil, nil, nil, 0, 0, NMFOptions{K: 1}, "input", -1},
		{"k<1", rows, cols, vals, 5, 4, NMFOptions{K: 0}, "k", -1},
		{"k>min for nndsvd", rows, cols, vals, 5, 4, NMFOptions{K: 5}, "k", -1},
		{"negative", rows, cols, neg, 5, 4, NMFOptions{K: 2}, "input", 3},
		{"nan", rows, cols, nan, 5, 4, NMFOptions{K: 2}, "input", 0},
		{"huge", rows, cols, huge, 5, 4, NMFOptions{K: 2}, "input", 5},
		{"duplicate", []int{0, 1, 0}, []int{0, 0, 0}, []float64{1, 2, 3}, 2, 1, NMFOptions{K: 1}, "input", 2},
		{"bad init", rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: "svd"}, "init", -1},
		{"max_iter", rows, cols, vals, 5, 4, NMFOptions{K: 2, MaxIter: -3}, "max_iter", -1},
		{"l1_ratio", rows, cols, vals, 5, 4, NMFOptions{K: 2, L1Ratio: 2}, "l1_ratio", -1},
	}
	for _, c := range cases {
		_, err := NMF(ctx, c.rows, c.cols, c.vals, c.n, c.m, c.opt)
		ie, ok := AsInputError(err)
		if !ok {
			t.Errorf("%s: err = %v, want *InputError", c.name, err)
			continue
		}
		if ie.Arg != c.arg || ie.Row != c.row {
			t.Errorf("%s: got arg %q row %d (%v), want arg %q row %d", c.name, ie.Arg, ie.Row, err, c.arg, c.row)
		}
	}
}

// Random init may use more components than rows or columns, as in
// scikit-learn; all-zero data gives all-zero factors rather than NaN.
func TestNMFEdgeCases(t *testing.T) {
	ctx := context.Background()
	m, err := NMF(ctx, []int{0, 1}, []int{0, 1}, []float64{0, 0}, 2, 2, NMFOptions{K: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			if v := m.Predict(i, j); v != 0 {
				t.Errorf("all-zero data: W·H[%d][%d] = %v, want 0", i, j, v)
			}
		}
	}
	m, err = NMF(ctx, []int{0}, []int{0}, []float64{3}, 1, 1, NMFOptions{K: 3, Init: "random"})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Predict(0, 0); math.Abs(v-3) > 1e-3 {
		t.Errorf("1×1 matrix: W·H = %v, want ~3", v)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	rows, cols, vals := seedNMF()
	if _, err := NMF(cctx, rows, cols, vals, 5, 4, NMFOptions{K: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// Regularisation follows scikit-learn 1.2 (alpha_W, alpha_H='same',
// l1_ratio), checked against its output on the seed matrix.
func TestNMFRegularised(t *testing.T) {
	rows, cols, vals := seedNMF()
	m, err := NMF(context.Background(), rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: "random", AlphaW: 0.1, L1Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.ReconstructionErr-4.305698620896844) > 1e-7 {
		t.Errorf("regularised error = %.10f, want %.10f", m.ReconstructionErr, 4.305698620896844)
	}
}

// nmfReference is testdata/reference/nmf.json (gen_nmf_tfidf_cf.py).
type nmfReference struct {
	Matrices []struct {
		N, M, K int
		Rows    []int
		Cols    []int
		Vals    []float64
		Fits    map[string]struct {
			Err   float64
			NIter int `json:"n_iter"`
		}
	}
	Seed map[string]struct {
		WH    [][]float64
		Err   float64
		NIter int `json:"n_iter"`
	}
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// NMF's reconstruction error must be within 0.1% of scikit-learn's on
// random sparse matrices, for every init; the random init follows the
// same path (same iteration count) since its start is bit-identical.
func TestNMFReference(t *testing.T) {
	var ref nmfReference
	loadJSON(t, "nmf.json", &ref)
	worst := 0.0
	for mi, mat := range ref.Matrices {
		for _, init := range []string{"nndsvd", "nndsvda", "nndsvdar", "random"} {
			want := mat.Fits[init]
			m, err := NMF(context.Background(), mat.Rows, mat.Cols, mat.Vals, mat.N, mat.M, NMFOptions{K: mat.K, Init: init})
			if err != nil {
				t.Fatal(err)
			}
			rel := (m.ReconstructionErr - want.Err) / want.Err
			worst = math.Max(worst, math.Abs(rel))
			if math.Abs(rel) > 1e-3 {
				t.Errorf("matrix %d (%dx%d) %s: error %.10g, scikit-learn %.10g (%+.2e)", mi, mat.N, mat.M, init, m.ReconstructionErr, want.Err, rel)
			}
			if init == "random" && m.NIter != want.NIter {
				t.Errorf("matrix %d random: %d iterations, scikit-learn %d", mi, m.NIter, want.NIter)
			}
			t.Logf("matrix %d (%dx%d) %-8s error %.10g sklearn %.10g rel %+.2e iter %d/%d", mi, mat.N, mat.M, init, m.ReconstructionErr, want.Err, rel, m.NIter, want.NIter)
		}
	}
	t.Logf("worst relative error difference: %.2e", worst)
	rows, cols, vals := seedNMF()
	for init, want := range ref.Seed {
		m, err := NMF(context.Background(), rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: init})
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-3
		if init == "random" {
			tol = 1e-9
		}
		for i := range want.WH {
			for j, w := range want.WH[i] {
				if got := m.Predict(i, j); math.Abs(got-w) > tol {
					t.Errorf("seed %s: W·H[%d][%d] = %.12f, scikit-learn %.12f", init, i, j, got, w)
				}
			}
		}
	}
}

// BenchmarkNMF943x1682 factorises 943 × 1682 with 100,000 ratings, k = 10,
// init nndsvda, as bench_nmf_tfidf_cf.py times scikit-learn on the same
// data; it reports the iterations and the reconstruction error, which
// must match scikit-learn's for the timings to compare.
func BenchmarkNMF943x1682(b *testing.B) {
	users, items, vals := ratingsData(943, 1682, 100000, 42)
	var m *NMFModel
	for b.Loop() {
		var err error
		if m, err = NMF(context.Background(), users, items, vals, 943, 1682, NMFOptions{K: 10}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.NIter), "iter")
	b.ReportMetric(m.ReconstructionErr, "err")
}

// Results must not depend on the number of cores: the parallel sweeps use
// fixed blocks and sum in a fixed order.
func TestNMFAndTfidfSameOnAnyCores(t *testing.T) {
	users, items, vals := ratingsData(300, 500, 12000, 3)
	docs := corpusData(3000, 800, 9)
	run := func(procs int) (*NMFModel, [][]Scored) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := NMF(context.Background(), users, items, vals, 300, 500, NMFOptions{K: 6, MaxIter: 40})
		if err != nil {
			t.Fatal(err)
		}
		x, err := Tfidf(context.Background(), docs, TfidfOptions{})
		if err != nil {
			t.Fatal(err)
		}
		top, err := x.AllTopN(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return m, top
	}
	m1, top1 := run(1)
	m4, top4 := run(4)
	if !reflect.DeepEqual(m1, m4) {
		t.Error("NMF differs between 1 and 4 cores")
	}
	if !reflect.DeepEqual(top1, top4) {
		t.Error("TF-IDF top-10 lists differ between 1 and 4 cores")
	}
}
