package functions

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
)

// SEED_EXAMPLES.md section 8.
var (
	seedSGDX = []float64{10, 11, 11, 12, 12, 13}
	seedSGDY = []float64{4, 5, 6}
)

func TestSGDSeedOneCall(t *testing.T) {
	m, err := NewSGDRegressor(2, DefaultSGDOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PartialFit(context.Background(), seedSGDX, seedSGDY); err != nil {
		t.Fatal(err)
	}
	checkSGDSeed(t, m)
}

// One partial_fit per sample is how the seed was computed; the state is
// folded between calls, which must not change the numbers beyond 1e-12.
func TestSGDSeedPerSample(t *testing.T) {
	m, err := NewSGDRegressor(2, DefaultSGDOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range seedSGDY {
		if err := m.PartialFit(context.Background(), seedSGDX[2*i:2*i+2], seedSGDY[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	checkSGDSeed(t, m)
	if m.T != 4 {
		t.Errorf("t = %v, want 4", m.T)
	}
}

func checkSGDSeed(t *testing.T, m *SGDRegressor) {
	t.Helper()
	p, err := m.Predict([]float64{15, 16})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p[0]-19.29666937250204) > 1e-12 {
		t.Errorf("prediction %.17g, want 19.29666937250204", p[0])
	}
	coef := m.Coef()
	for j, w := range []float64{0.5935084036284761, 0.6463265698724844} {
		if math.Abs(coef[j]-w) > 1e-12 {
			t.Errorf("coef[%d] = %.17g, want %.17g", j, coef[j], w)
		}
	}
	if math.Abs(m.Intercept-0.05281820011515216) > 1e-12 {
		t.Errorf("intercept %.17g, want 0.05281820011515216", m.Intercept)
	}
}

// Training in two calls from a stored state must equal training on by
// the same calls without storing: the JSON form loses nothing.
func TestSGDStateJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	opt := DefaultSGDOptions()
	opt.Penalty = PenaltyElasticNet
	a, _ := NewSGDRegressor(2, opt)
	b, _ := NewSGDRegressor(2, opt)
	if err := a.PartialFit(ctx, seedSGDX[:4], seedSGDY[:2]); err != nil {
		t.Fatal(err)
	}
	if err := b.PartialFit(ctx, seedSGDX[:4], seedSGDY[:2]); err != nil {
		t.Fatal(err)
	}
	buf, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var c SGDRegressor
	if err := json.Unmarshal(buf, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.PartialFit(ctx, seedSGDX[4:], seedSGDY[2:]); err != nil {
		t.Fatal(err)
	}
	if err := b.PartialFit(ctx, seedSGDX[4:], seedSGDY[2:]); err != nil {
		t.Fatal(err)
	}
	if c.Intercept != b.Intercept || c.T != b.T || c.W[0] != b.W[0] || c.W[1] != b.W[1] || c.Penalty != PenaltyElasticNet {
		t.Errorf("restored model diverged: %+v vs %+v", c, *b)
	}
}

func TestSGDBadInput(t *testing.T) {
	ctx := context.Background()
	opt := func(f func(*SGDOptions)) SGDOptions { o := DefaultSGDOptions(); f(&o); return o }
	for _, c := range []struct {
		name string
		opt  SGDOptions
		arg  string
	}{
		{"alpha", opt(func(o *SGDOptions) { o.Alpha = -1 }), "alpha"},
		{"optimal alpha 0", opt(func(o *SGDOptions) { o.Alpha = 0; o.LearningRate = LearningRateOptimal }), "alpha"},
		{"eta0 zero", opt(func(o *SGDOptions) { o.Eta0 = 0 }), "eta0"},
		{"eta0 nan", opt(func(o *SGDOptions) { o.Eta0 = math.NaN() }), "eta0"},
		{"power_t inf", opt(func(o *SGDOptions) { o.PowerT = math.Inf(1) }), "power_t"},
		{"lr", opt(func(o *SGDOptions) { o.LearningRate = "fast" }), "learning_rate"},
		{"penalty", opt(func(o *SGDOptions) { o.Penalty = "l3" }), "penalty"},
		{"l1_ratio", opt(func(o *SGDOptions) { o.L1Ratio = 2 }), "l1_ratio"},
	} {
		_, err := NewSGDRegressor(2, c.opt)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Arg != c.arg {
			t.Errorf("%s: got %v, want *InputError for %q", c.name, err, c.arg)
		}
	}
	m, _ := NewSGDRegressor(2, DefaultSGDOptions())
	for _, c := range []struct {
		name   string
		x, y   []float64
		epochs int
		row    int
	}{
		{"empty", nil, nil, 1, -1},
		{"ragged", []float64{1, 2, 3}, []float64{1, 2}, 1, -1},
		{"nan x", []float64{1, 2, 3, math.NaN()}, []float64{1, 2}, 1, 1},
		{"inf y", []float64{1, 2, 3, 4}, []float64{math.Inf(1), 2}, 1, 0},
		{"epochs", []float64{1, 2}, []float64{1}, 0, -1},
	} {
		err := m.Fit(ctx, c.x, c.y, c.epochs)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Row != c.row {
			t.Errorf("%s: got %v, want *InputError at row %d", c.name, err, c.row)
		}
	}
	// Overflow is an error and leaves the model untouched.
	big, _ := NewSGDRegressor(1, opt(func(o *SGDOptions) { o.LearningRate = LearningRateConstant; o.Eta0 = 10 }))
	err := big.Fit(ctx, []float64{1e300, -1e300, 1e300}, []float64{1e300, 1e300, -1e300}, 3)
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("overflow: got %v, want *InputError", err)
	}
	if big.W[0] != 0 || big.Intercept != 0 || big.T != 1 {
		t.Errorf("overflow changed the model: %+v", big)
	}
}

// sgdStream mirrors testdata/reference/gen_sgd.py's sgd_stream().
func sgdStream(n, d int, seed uint64, scale float64) (x, y []float64) {
	x = splitmixUniform(seed, 0, n*d)
	for i, u := range x {
		x[i] = scale * (2.0*u - 1.0)
	}
	w := make([]float64, d)
	for j := range w {
		sign := 1.0
		if j%2 == 1 {
			sign = -1.0
		}
		w[j] = (float64(j+1) / float64(d)) * sign
	}
	w[d-1] = 0
	noise := splitmixUniform(seed, n*d, n)
	y = make([]float64, n)
	for i := range y {
		s := 0.0
		for j := 0; j < d; j++ {
			s += x[i*d+j] * w[j]
		}
		y[i] = s + 0.5 + (0.2*noise[i] - 0.1)
	}
	return x, y
}

type sgdRefCase struct {
	Mode   string `json:"mode"`
	Epochs int    `json:"epochs"`
	Params struct {
		LearningRate string   `json:"learning_rate"`
		Penalty      *string  `json:"penalty"`
		Alpha        *float64 `json:"alpha"`
		Eta0         *float64 `json:"eta0"`
	} `json:"params"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
	T         float64   `json:"t"`
}

// TestSGDMatchesSklearn replays testdata/reference/sgd.json: every learning
// rate with every penalty, as one partial_fit, as a 40-pass fit (early
// stopping, adaptive eta decay) and as one partial_fit per sample.
// Coefficients and intercept must agree within 1e-9; in practice they
// agree to a few ulps.
func TestSGDMatchesSklearn(t *testing.T) {
	buf, err := os.ReadFile("../testdata/reference/sgd.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		N, D      int
		Seed      uint64
		Scale     float64
		ChecksumX float64 `json:"checksum_x"`
		ChecksumY float64 `json:"checksum_y"`
		Cases     []sgdRefCase
	}
	if err := json.Unmarshal(buf, &ref); err != nil {
		t.Fatal(err)
	}
	x, y := sgdStream(ref.N, ref.D, ref.Seed, ref.Scale)
	if refChecksum(x) != ref.ChecksumX || refChecksum(y) != ref.ChecksumY {
		t.Fatalf("stream checksums %v %v, Python had %v %v", refChecksum(x), refChecksum(y), ref.ChecksumX, ref.ChecksumY)
	}
	if len(ref.Cases) < 16 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	ctx := context.Background()
	worst := 0.0
	for _, c := range ref.Cases {
		opt := DefaultSGDOptions()
		opt.LearningRate = c.Params.LearningRate
		opt.Penalty = PenaltyNone
		if c.Params.Penalty != nil {
			opt.Penalty = *c.Params.Penalty
		}
		if c.Params.Alpha != nil {
			opt.Alpha = *c.Params.Alpha
		}
		if c.Params.Eta0 != nil {
			opt.Eta0 = *c.Params.Eta0
		}
		m, err := NewSGDRegressor(ref.D, opt)
		if err != nil {
			t.Fatal(err)
		}
		switch c.Mode {
		case "per_sample":
			for i := 0; i < ref.N; i++ {
				if err := m.PartialFit(ctx, x[i*ref.D:(i+1)*ref.D], y[i:i+1]); err != nil {
					t.Fatal(err)
				}
			}
		default:
			if err := m.Fit(ctx, x, y, c.Epochs); err != nil {
				t.Fatal(err)
			}
		}
		name := c.Mode + "/" + opt.LearningRate + "/" + opt.Penalty
		if m.T != c.T {
			t.Errorf("%s: t = %v, want %v (passes made differ)", name, m.T, c.T)
		}
		coef := m.Coef()
		diff := math.Abs(m.Intercept - c.Intercept)
		for j := range coef {
			diff = math.Max(diff, math.Abs(coef[j]-c.Coef[j]))
		}
		worst = math.Max(worst, diff)
		if diff > 1e-9 {
			t.Errorf("%s: coef %v intercept %v, want %v %v (max diff %g)", name, coef, m.Intercept, c.Coef, c.Intercept, diff)
		}
	}
	t.Logf("largest difference from scikit-learn over %d cases: %g", len(ref.Cases), worst)
}

// BenchmarkSGD100k learns a 100,000-row stream of 10 features with the
// default options; bench_kmeans_sgd.py times scikit-learn on the same
// stream (sgd_stream(100000, 10, 7, 1.0)). "batch" is one PartialFit over
// all rows; "per_row" is one PartialFit per row, as a stream arrives.
func BenchmarkSGD100k(b *testing.B) {
	const n, d = 100000, 10
	x, y := sgdStream(n, d, 7, 1.0)
	ctx := context.Background()
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			m, _ := NewSGDRegressor(d, DefaultSGDOptions())
			if err := m.PartialFit(ctx, x, y); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("per_row", func(b *testing.B) {
		for b.Loop() {
			m, _ := NewSGDRegressor(d, DefaultSGDOptions())
			for i := 0; i < n; i++ {
				if err := m.PartialFit(ctx, x[i*d:i*d+d], y[i:i+1]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
