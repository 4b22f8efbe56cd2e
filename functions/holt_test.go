package functions

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"testing"
)

func ptr(v float64) *float64 { return &v }

// holtRefCase is one series of testdata/reference/holt.json.
type holtRefCase struct {
	Name                    string
	Y                       []float64
	Horizon                 int
	Trend                   *string
	Damped                  bool
	Seasonal                *string
	SeasonalPeriods         int `json:"seasonal_periods"`
	Alpha, Beta, Gamma, Phi *float64
	Statsmodels             struct {
		SSE, AIC, Alpha  float64
		Beta, Gamma, Phi *float64
		Forecast         []float64
	}
}

func (c *holtRefCase) options(t *testing.T) HoltOptions {
	t.Helper()
	o := HoltOptions{Damped: c.Damped, Period: c.SeasonalPeriods, Alpha: c.Alpha, Beta: c.Beta, Gamma: c.Gamma, Phi: c.Phi}
	var err error
	if c.Trend != nil {
		if o.Trend, err = ParseComponent("trend", *c.Trend); err != nil {
			t.Fatal(err)
		}
	}
	if c.Seasonal != nil {
		if o.Seasonal, err = ParseComponent("seasonal", *c.Seasonal); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

type holtRefDoc struct {
	Cases    []holtRefCase
	Variance []struct {
		Trend           *string
		Damped          bool
		Seasonal        *string
		SeasonalPeriods int `json:"seasonal_periods"`
		Alpha, Beta     float64
		Gamma, Phi      float64
		RelVar          []float64 `json:"relvar"`
	}
}

func loadHoltRef(t *testing.T) *holtRefDoc {
	t.Helper()
	b, err := os.ReadFile("../testdata/reference/holt.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc holtRefDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 30 {
		t.Fatalf("only %d reference series", len(doc.Cases))
	}
	return &doc
}

// Seed example 6: monthly sales 200..420, additive trend, 3 months ahead.
func TestHoltSeedExample(t *testing.T) {
	y := []float64{200, 220, 240, 260, 250, 300, 320, 340, 360, 380, 400, 420}
	m, err := FitHolt(context.Background(), y, HoltOptions{Trend: ComponentAdd})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{439.545451, 459.860136, 480.174820}
	for i, f := range m.Forecast(3) {
		if math.Abs(f-want[i]) > 1e-4 {
			t.Errorf("forecast %d = %.9f, want %.6f within 1e-4", i+1, f, want[i])
		}
	}
	const smSSE, optSSE = 810.8391737, 810.8391608
	if m.SSE > smSSE || math.Abs(m.SSE-optSSE) > 1e-6 {
		t.Errorf("SSE = %.10f, want the optimum %.7f (statsmodels: %.7f)", m.SSE, optSSE, smSSE)
	}
	if m.Alpha > 1e-6 || m.Beta > 1e-6 {
		t.Errorf("alpha, beta = %g, %g, want both -> 0", m.Alpha, m.Beta)
	}
	// statsmodels' AIC for this fit is 58.55795694 at its (higher) SSE.
	if want := 12*math.Log(m.SSE/12) + 2*4; math.Abs(m.AIC-want) > 1e-12 || math.Abs(m.AIC-58.55795694) > 1e-6 {
		t.Errorf("AIC = %.9f, want %.9f", m.AIC, want)
	}
}

// Flywheel's SSE is never worse than statsmodels' on the reference
// series, and its AIC counts parameters as statsmodels does.
func TestHoltReference(t *testing.T) {
	doc := loadHoltRef(t)
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			m, err := FitHolt(context.Background(), c.Y, c.options(t))
			if err != nil {
				t.Fatal(err)
			}
			ref := c.Statsmodels.SSE
			var ss float64
			for _, v := range c.Y {
				ss += v * v
			}
			// Relative 1e-6, plus rounding noise for a perfect fit.
			if m.SSE > ref*(1+1e-6)+1e-20*ss {
				t.Errorf("SSE %.12g worse than statsmodels' %.12g (rel %+.2e)", m.SSE, ref, (m.SSE-ref)/ref)
			}
			n := float64(len(c.Y))
			if ref > 1e-9*ss {
				kSM := (c.Statsmodels.AIC - n*math.Log(ref/n)) / 2
				kGo := (m.AIC - n*math.Log(m.SSE/n)) / 2
				if math.Abs(kSM-kGo) > 1e-6 {
					t.Errorf("AIC parameter count %g, statsmodels %g", kGo, kSM)
				}
			}
			for name, fixed := range map[string][2]*float64{
				"alpha": {c.Alpha, &m.Alpha}, "beta": {c.Beta, &m.Beta},
				"gamma": {c.Gamma, &m.Gamma}, "phi": {c.Phi, &m.Phi},
			} {
				if fixed[0] != nil && *fixed[0] != *fixed[1] {
					t.Errorf("fixed %s = %g, fitted %g", name, *fixed[0], *fixed[1])
				}
			}
			checkBounds(t, m)
			// The one-step recursion from the reported initial states
			// reproduces the reported SSE.
			sp := hwSpec{trend: m.Trend, season: m.Seasonal, damped: m.Damped, m: m.Period}
			p := hwParams{alpha: m.Alpha, beta: m.Beta, gamma: m.Gamma, phi: m.Phi,
				l0: m.InitialLevel, b0: m.InitialTrend, s0: m.InitialSeasons}
			if sse, _, _ := sp.sse(c.Y, &p, make([]float64, m.Period)); sse != m.SSE {
				t.Errorf("recomputed SSE %g != %g", sse, m.SSE)
			}
			fc := m.Forecast(c.Horizon)
			if len(fc) != len(c.Statsmodels.Forecast) {
				t.Fatalf("%d forecasts, want %d", len(fc), len(c.Statsmodels.Forecast))
			}
		})
	}
}

func checkBounds(t *testing.T, m *HoltModel) {
	t.Helper()
	if m.Alpha < 0 || m.Alpha > 1 {
		t.Errorf("alpha %g out of [0,1]", m.Alpha)
	}
	if m.Trend == ComponentNone && (m.Beta != 0 || m.InitialTrend != 0) {
		t.Errorf("beta %g, initial trend %g without a trend", m.Beta, m.InitialTrend)
	}
	if m.Seasonal == ComponentNone && (m.Gamma != 0 || m.InitialSeasons != nil) {
		t.Errorf("gamma %g, seasons %v without a seasonal component", m.Gamma, m.InitialSeasons)
	}
	if !m.Damped && m.Phi != 1 {
		t.Errorf("phi %g without damping", m.Phi)
	}
	if m.Damped && (m.Phi < phiLower-1e-12 || m.Phi > 1) {
		t.Errorf("phi %g out of range", m.Phi)
	}
	if m.Seasonal == ComponentAdd && m.Trend != ComponentMul {
		var sum float64
		for _, s := range m.InitialSeasons {
			sum += s
		}
		if math.Abs(sum) > 1e-9*(1+math.Abs(m.InitialLevel)) {
			t.Errorf("additive initial seasons sum to %g, want 0", sum)
		}
	}
	if m.Seasonal == ComponentMul {
		var sum float64
		for _, s := range m.InitialSeasons {
			sum += s
		}
		if math.Abs(sum/float64(m.Period)-1) > 1e-9 {
			t.Errorf("multiplicative initial seasons average %g, want 1", sum/float64(m.Period))
		}
	}
}

// All 1000 fits of the benchmark (500 series, two models) against
// statsmodels' SSE recorded by bench_holt.py.
func TestHoltBenchReference(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 fits")
	}
	b, err := os.ReadFile("../testdata/reference/holt_bench.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var first []float64
	if err := json.Unmarshal(doc["first_values"], &first); err != nil {
		t.Fatal(err)
	}
	series := make([][]float64, 500)
	for i := range series {
		series[i] = benchSeries(i)
	}
	for i, v := range first {
		if math.Abs(series[0][i]-v) > 1e-9 {
			t.Fatalf("benchmark series differ from bench_holt.py's: %v vs %v", series[0][:3], first)
		}
	}
	for _, bm := range benchModels {
		var ref struct{ SSE []float64 }
		if err := json.Unmarshal(doc[bm.name], &ref); err != nil {
			t.Fatal(err)
		}
		models, err := FitHoltMany(context.Background(), series, bm.opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range models {
			if m.SSE > ref.SSE[i]*(1+1e-6) {
				t.Errorf("%s series %d: SSE %.10g worse than statsmodels' %.10g", bm.name, i, m.SSE, ref.SSE[i])
			}
		}
	}
}

func TestHoltAdditiveVarianceMatchesStatsmodels(t *testing.T) {
	doc := loadHoltRef(t)
	for i, v := range doc.Variance {
		m := &HoltModel{Alpha: v.Alpha, Beta: v.Beta, Gamma: v.Gamma, Phi: 1, Damped: v.Damped, Period: v.SeasonalPeriods}
		if v.Trend != nil {
			m.Trend = ComponentAdd
		}
		if v.Seasonal != nil {
			m.Seasonal = ComponentAdd
		}
		if v.Damped {
			m.Phi = v.Phi
		}
		got := m.relativeVariance(len(v.RelVar))
		for h := range got {
			if math.Abs(got[h]-v.RelVar[h]) > 1e-9*v.RelVar[h] {
				t.Errorf("case %d h=%d: relative variance %.12g, statsmodels %.12g", i, h+1, got[h], v.RelVar[h])
			}
		}
	}
}

// The analytic interval of an additive model agrees with the simulated
// one, which is the method multiplicative models use.
func TestHoltIntervalSimulationAgrees(t *testing.T) {
	doc := loadHoltRef(t)
	for _, c := range doc.Cases {
		if c.Name != "hw_add_add_rw" && c.Name != "holt_damped_rw" {
			continue
		}
		m, err := FitHolt(context.Background(), c.Y, c.options(t))
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, err := m.Interval(c.Horizon, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		slo, shi := make([]float64, c.Horizon), make([]float64, c.Horizon)
		m.simulateInterval(c.Horizon, 0.9, slo, shi)
		for h := range lo {
			w := hi[h] - lo[h]
			if math.Abs(slo[h]-lo[h]) > 0.05*w || math.Abs(shi[h]-hi[h]) > 0.05*w {
				t.Errorf("%s h=%d: analytic [%g, %g], simulated [%g, %g]", c.Name, h+1, lo[h], hi[h], slo[h], shi[h])
			}
		}
	}
}

func TestHoltIntervals(t *testing.T) {
	doc := loadHoltRef(t)
	for _, c := range doc.Cases {
		m, err := FitHolt(context.Background(), c.Y, c.options(t))
		if err != nil {
			t.Fatal(err)
		}
		fc := m.Forecast(c.Horizon)
		lo95, hi95, err := m.Interval(c.Horizon, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		lo80, hi80, _ := m.Interval(c.Horizon, 0.8)
		again, _, _ := m.Interval(c.Horizon, 0.95)
		for h := range fc {
			if !(lo95[h] <= lo80[h] && lo80[h] <= hi80[h] && hi80[h] <= hi95[h]) {
				t.Errorf("%s h=%d: intervals not nested: 95%% [%g, %g], 80%% [%g, %g]", c.Name, h+1, lo95[h], hi95[h], lo80[h], hi80[h])
			}
			if m.Seasonal != ComponentMul && m.Trend != ComponentMul && !(lo80[h] <= fc[h] && fc[h] <= hi80[h]) {
				t.Errorf("%s h=%d: forecast %g outside [%g, %g]", c.Name, h+1, fc[h], lo80[h], hi80[h])
			}
			if again[h] != lo95[h] {
				t.Errorf("%s: interval not deterministic", c.Name)
			}
			if c.Name == "constant" && (math.Abs(lo95[h]-7) > 1e-12 || math.Abs(hi95[h]-7) > 1e-12 || math.Abs(fc[h]-7) > 1e-12) {
				t.Errorf("constant series: forecast %g in [%g, %g], want 7", fc[h], lo95[h], hi95[h])
			}
		}
	}
	// One additive case by hand: SES, var_h = sigma²(1 + (h-1)alpha²).
	m := &HoltModel{Alpha: 0.5, Phi: 1, Level: 10, Sigma2: 4}
	lo, hi, _ := m.Interval(3, 0.95)
	z := 1.959963984540054
	for h := 1; h <= 3; h++ {
		d := z * 2 * math.Sqrt(1+float64(h-1)*0.25)
		if math.Abs(lo[h-1]-(10-d)) > 1e-12 || math.Abs(hi[h-1]-(10+d)) > 1e-12 {
			t.Errorf("SES h=%d: [%g, %g], want 10 ± %g", h, lo[h-1], hi[h-1], d)
		}
	}
}

// statsmodels 0.13's forecast at multiples of the period reuses a stale
// seasonal state; Flywheel uses the latest one.
func TestHoltForecastUsesLatestSeason(t *testing.T) {
	m := &HoltModel{Trend: ComponentNone, Seasonal: ComponentAdd, Period: 3, Phi: 1,
		Level: 10, Seasons: []float64{1, 2, 3}}
	got := m.Forecast(7)
	want := []float64{11, 12, 13, 11, 12, 13, 11}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("forecast %v, want %v", got, want)
		}
	}
	d := &HoltModel{Trend: ComponentAdd, Damped: true, Phi: 0.5, Level: 10, Slope: 8}
	if got := d.Forecast(3); got[0] != 14 || got[1] != 16 || got[2] != 17 {
		t.Errorf("damped forecast %v, want [14 16 17]", got)
	}
	mt := &HoltModel{Trend: ComponentMul, Phi: 1, Level: 10, Slope: 2, Seasonal: ComponentMul, Period: 2, Seasons: []float64{1, 0.5}}
	if got := mt.Forecast(3); got[0] != 20 || got[1] != 20 || got[2] != 80 {
		t.Errorf("multiplicative forecast %v, want [20 20 80]", got)
	}
}

func TestHoltConstantSeries(t *testing.T) {
	y := []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
	for _, o := range []HoltOptions{
		{}, {Trend: ComponentAdd}, {Trend: ComponentAdd, Damped: true}, {Trend: ComponentMul},
		{Seasonal: ComponentAdd, Period: 4}, {Trend: ComponentAdd, Seasonal: ComponentMul, Period: 4},
		{Trend: ComponentMul, Damped: true, Seasonal: ComponentMul, Period: 4},
	} {
		m, err := FitHolt(context.Background(), y, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if m.SSE > 1e-18 {
			t.Errorf("%+v: SSE %g, want 0", o, m.SSE)
		}
		fc := m.Forecast(5)
		lo, hi, err := m.Interval(5, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		for h := range fc {
			if math.Abs(fc[h]-5) > 1e-8 || math.Abs(lo[h]-5) > 1e-8 || math.Abs(hi[h]-5) > 1e-8 {
				t.Errorf("%+v: step %d forecast %g [%g, %g], want flat 5", o, h+1, fc[h], lo[h], hi[h])
			}
		}
	}
}

func TestHoltBadInput(t *testing.T) {
	ctx := context.Background()
	long := make([]float64, 30)
	for i := range long {
		long[i] = float64(10 + i%4)
	}
	cases := []struct {
		name string
		y    []float64
		o    HoltOptions
		arg  string
		row  int
	}{
		{"empty", nil, HoltOptions{}, "input", -1},
		{"single row", []float64{3}, HoltOptions{}, "input", -1},
		{"NaN", []float64{1, 2, math.NaN(), 4}, HoltOptions{}, "input", 2},
		{"Inf", []float64{1, math.Inf(1), 3}, HoltOptions{Trend: ComponentAdd}, "input", 1},
		{"huge", []float64{1, 2, 3, -1e200}, HoltOptions{}, "input", 3},
		{"zero with mul trend", []float64{1, 2, 0, 4}, HoltOptions{Trend: ComponentMul}, "input", 2},
		{"negative with mul season", append([]float64{-1}, long[1:]...), HoltOptions{Seasonal: ComponentMul, Period: 4}, "input", 0},
		{"short for period", long[:23], HoltOptions{Seasonal: ComponentAdd, Period: 12}, "input", -1},
		{"period 1", long, HoltOptions{Seasonal: ComponentAdd, Period: 1}, "seasonal_periods", -1},
		{"damped without trend", long, HoltOptions{Damped: true}, "damped", -1},
		{"beta without trend", long, HoltOptions{Beta: ptr(0.1)}, "beta", -1},
		{"gamma without season", long, HoltOptions{Gamma: ptr(0.1)}, "gamma", -1},
		{"phi without damping", long, HoltOptions{Trend: ComponentAdd, Phi: ptr(0.9)}, "phi", -1},
		{"alpha > 1", long, HoltOptions{Alpha: ptr(1.5)}, "alpha", -1},
		{"alpha NaN", long, HoltOptions{Alpha: ptr(math.NaN())}, "alpha", -1},
		{"phi 0", long, HoltOptions{Trend: ComponentAdd, Damped: true, Phi: ptr(0)}, "phi", -1},
		{"unknown trend", long, HoltOptions{Trend: 7}, "trend", -1},
	}
	for _, c := range cases {
		_, err := FitHolt(ctx, c.y, c.o)
		ie, ok := AsInputError(err)
		if !ok {
			t.Errorf("%s: error %v, want an *InputError", c.name, err)
			continue
		}
		if ie.Arg != c.arg || ie.Row != c.row {
			t.Errorf("%s: error %q names arg %q row %d, want %q row %d", c.name, err, ie.Arg, ie.Row, c.arg, c.row)
		}
		// FitHoltMany names the series.
		_, err = FitHoltMany(ctx, [][]float64{long, c.y}, c.o)
		var se *HoltSeriesError
		if _, ok := AsInputError(err); !ok {
			t.Errorf("%s: FitHoltMany error %v, want an *InputError", c.name, err)
		} else if errors.As(err, &se) && se.Series != 1 {
			t.Errorf("%s: series %d blamed, want 1", c.name, se.Series)
		}
	}
	if _, err := ParseComponent("trend", "quadratic"); err == nil {
		t.Error("ParseComponent accepted 'quadratic'")
	}
	m, err := FitHolt(ctx, long, HoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{0, -3} {
		if _, _, err := m.Interval(h, 0.95); err == nil {
			t.Errorf("horizon %d accepted", h)
		}
	}
	for _, lv := range []float64{0, 1, -0.5, 1.5, math.NaN()} {
		if _, _, err := m.Interval(3, lv); err == nil {
			t.Errorf("level %g accepted", lv)
		}
	}
}

func TestHoltManyIndependentOfCores(t *testing.T) {
	series := make([][]float64, 24)
	for i := range series {
		series[i] = benchSeries(i)[:36]
	}
	opts := HoltOptions{Trend: ComponentAdd, Damped: true, Seasonal: ComponentAdd, Period: 12}
	many, err := FitHoltMany(context.Background(), series, opts)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	one, err := FitHoltMany(context.Background(), series, opts)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range series {
		single, err := FitHolt(context.Background(), series[i], opts)
		if err != nil {
			t.Fatal(err)
		}
		if many[i].SSE != single.SSE || one[i].SSE != single.SSE || many[i].Alpha != one[i].Alpha {
			t.Errorf("series %d: SSE %v (parallel) %v (one core) %v (single)", i, many[i].SSE, one[i].SSE, single.SSE)
		}
	}
}

func TestHoltCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	series := [][]float64{benchSeries(0), benchSeries(1)}
	if _, err := FitHoltMany(ctx, series, HoltOptions{Trend: ComponentAdd}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if _, err := FitHolt(ctx, series[0], HoltOptions{Trend: ComponentAdd, Seasonal: ComponentAdd, Period: 12}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestQuantileSelect(t *testing.T) {
	x := []float64{9, 1, 8, 2, 7, 3, 6, 4, 5, 5}
	// numpy: np.quantile(x, [0, .025, .5, .975, 1]) = 1, 1.225, 5, 8.775, 9.
	for _, c := range [][2]float64{{0, 1}, {0.025, 1.225}, {0.5, 5}, {0.975, 8.775}, {1, 9}} {
		y := append([]float64(nil), x...)
		if got := quantileSelect(y, c[0]); math.Abs(got-c[1]) > 1e-12 {
			t.Errorf("quantile %g = %g, want %g", c[0], got, c[1])
		}
	}
}

// FuzzHolt fits random series under random options: nothing panics, and a
// fit that succeeds has finite numbers and ordered intervals.
func FuzzHolt(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(1), uint8(0), false, uint8(4))
	f.Add([]byte{10, 10, 10, 10, 10}, uint8(2), uint8(2), true, uint8(2))
	f.Add([]byte{200, 3, 0, 255, 17, 17, 90, 1, 1, 1, 40, 80}, uint8(0), uint8(1), false, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, trend, season uint8, damped bool, period uint8) {
		if len(data) > 200 {
			data = data[:200]
		}
		y := make([]float64, len(data))
		for i, b := range data {
			y[i] = float64(b) - 20
		}
		o := HoltOptions{Trend: Component(trend % 4), Seasonal: Component(season % 4), Damped: damped, Period: int(period % 16)}
		m, err := FitHolt(context.Background(), y, o)
		if err != nil {
			if _, ok := AsInputError(err); !ok {
				t.Fatalf("non-input error %v", err)
			}
			return
		}
		if math.IsNaN(m.SSE) || math.IsInf(m.SSE, 0) || m.SSE < 0 {
			t.Fatalf("SSE %v", m.SSE)
		}
		fc := m.Forecast(5)
		lo, hi, err := m.Interval(5, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		for h := range fc {
			if math.IsNaN(fc[h]) || math.IsNaN(lo[h]) || math.IsNaN(hi[h]) || lo[h] > hi[h] {
				t.Fatalf("step %d: forecast %v interval [%v, %v]", h+1, fc[h], lo[h], hi[h])
			}
		}
	})
}

// Fits are equivariant: scaling the data scales the SSE by the square,
// and shifting additive data changes nothing but the level.
func TestHoltScaleAndShift(t *testing.T) {
	y := benchSeries(3)
	for _, o := range []HoltOptions{
		{Trend: ComponentAdd, Seasonal: ComponentAdd, Period: 12},
		{Trend: ComponentAdd, Damped: true},
		{Trend: ComponentMul, Seasonal: ComponentMul, Period: 12},
	} {
		base, err := FitHolt(context.Background(), y, o)
		if err != nil {
			t.Fatal(err)
		}
		tiny := make([]float64, len(y))
		for i, v := range y {
			tiny[i] = v * 1e-100
		}
		m, err := FitHolt(context.Background(), tiny, o)
		if err != nil {
			t.Fatal(err)
		}
		if r := m.SSE / 1e-200 / base.SSE; math.Abs(r-1) > 1e-6 {
			t.Errorf("%+v: SSE of y*1e-100 is %g times 1e-200*SSE(y)", o, r)
		}
		if o.Trend == ComponentMul {
			continue
		}
		shifted := make([]float64, len(y))
		for i, v := range y {
			shifted[i] = v + 1e6
		}
		m, err = FitHolt(context.Background(), shifted, o)
		if err != nil {
			t.Fatal(err)
		}
		if r := m.SSE / base.SSE; math.Abs(r-1) > 1e-6 {
			t.Errorf("%+v: SSE of y+1e6 is %g times SSE(y)", o, r)
		}
		if d := m.InitialLevel - base.InitialLevel - 1e6; math.Abs(d) > 1e-3 {
			t.Errorf("%+v: level shifted by 1e6%+g", o, d)
		}
	}
}

// The branch-free additive kernel and the general one compute the same
// normal equations.
func TestHoltKernelsAgree(t *testing.T) {
	for _, sp := range []hwSpec{
		{trend: ComponentAdd, season: ComponentAdd, m: 12},
		{trend: ComponentAdd, damped: true, season: ComponentAdd, m: 4},
		{trend: ComponentAdd, damped: true}, {}, {season: ComponentAdd, m: 4},
	} {
		y := benchSeries(2)
		pr := newHWProblem(sp, y, [4]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()})
		z := make([]float64, len(pr.vars))
		for i := range z {
			z[i] = 0.3 + 0.1*float64(i%3)
		}
		z[pr.ks] = 100
		sd := pr.fullSeeds(z)
		p := pr.decode(z)
		nd := len(z)
		h1, g1 := make([]float64, nd*nd), make([]float64, nd)
		h2, g2 := make([]float64, nd*nd), make([]float64, nd)
		var w hwWork
		f1 := sp.normalEqAdd(y, p, sd, &w, h1, g1)
		f2 := sp.normalEqGeneric(y, p, sd, &w, h2, g2)
		if math.Abs(f1-f2) > 1e-12*f1 {
			t.Errorf("%+v: SSE %g vs %g", sp, f1, f2)
		}
		for i := range h1 {
			if math.Abs(h1[i]-h2[i]) > 1e-9*(1+math.Abs(h1[i])) {
				t.Errorf("%+v: J'J[%d] %g vs %g", sp, i, h1[i], h2[i])
				break
			}
		}
		for i := range g1 {
			if math.Abs(g1[i]-g2[i]) > 1e-9*(1+math.Abs(g1[i])) {
				t.Errorf("%+v: J'e[%d] %g vs %g", sp, i, g1[i], g2[i])
				break
			}
		}
	}
}

// The forward-mode Jacobian matches finite differences of the SSE for
// every model form: d SSE/dz = 2 J'e.
func TestHoltGradientMatchesFiniteDifferences(t *testing.T) {
	y := benchSeries(5)[:30]
	for _, sp := range []hwSpec{
		{trend: ComponentAdd, damped: true, season: ComponentAdd, m: 4},
		{trend: ComponentMul, damped: true, season: ComponentMul, m: 4},
		{trend: ComponentAdd, damped: true, season: ComponentMul, m: 4},
		{trend: ComponentMul, damped: true, season: ComponentAdd, m: 4},
		{trend: ComponentMul, damped: true},
	} {
		pr := newHWProblem(sp, y, [4]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()})
		z := make([]float64, len(pr.vars))
		l0, b0, s0 := hwInitialStates(y, sp)
		for i := 0; i < pr.ks; i++ {
			z[i] = 0.35 + 0.1*float64(i)
		}
		k := pr.ks
		z[k] = l0
		k++
		z[k] = b0
		k++
		for j := 0; k < len(z); j, k = j+1, k+1 {
			z[k] = s0[j]
		}
		nd := len(z)
		h, g := make([]float64, nd*nd), make([]float64, nd)
		var w hwWork
		sp.normalEq(y, pr.decode(z), pr.fullSeeds(z), &w, h, g)
		for i := range z {
			step := 1e-6 * math.Max(1, math.Abs(z[i]))
			zp := append([]float64(nil), z...)
			zm := append([]float64(nil), z...)
			zp[i] += step
			zm[i] -= step
			fd := (pr.sse(zp) - pr.sse(zm)) / (2 * step)
			if math.Abs(fd-2*g[i]) > 1e-5*(1+math.Abs(fd)) {
				t.Errorf("%+v: variable %d (%v): finite difference %g, forward mode %g", sp, i, pr.vars[i], fd, 2*g[i])
			}
		}
	}
}
