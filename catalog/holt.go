package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/flywheeldb/flywheel/functions"
	"github.com/jackc/pgx/v5/pgtype"
)

const holtDoc = "Exponential smoothing as statsmodels 0.13's ExponentialSmoothing(trend, damped_trend, seasonal, seasonal_periods).fit(): " +
	"Holt's linear trend (additive or multiplicative, optionally damped) and Holt-Winters additive or multiplicative seasonality. " +
	"Smoothing parameters not given and all initial states minimise the sum of squared one-step errors under statsmodels' bounds " +
	"(alpha in [0,1], beta in [0,alpha], gamma in [0,1-alpha], phi in [0.8,0.995]); the optimiser is exact in the initial states of " +
	"additive models and multi-start in the smoothing parameters, so its SSE is at or below statsmodels'. " +
	"Input columns: [series,] ts, value. With three columns the first names the series and each series is fitted on its own " +
	"(in parallel); rows may come in any order and are sorted by (series, ts). ts is a date, timestamp, timestamptz or integer column " +
	"with regular spacing: whole months keeping the day of the month (month-ends stay month-ends, 2024-01-31 then 2024-02-29), " +
	"whole days or weeks, a fixed duration, or a constant integer step; irregular or duplicate timestamps are an error naming the row. " +
	"A series needs at least 2 rows, and at least two full seasonal periods with a seasonal component (statsmodels' heuristic " +
	"initialisation needs as many); multiplicative components need positive values; NULL, NaN and infinite values are errors. " +
	"A constant series fits exactly and forecasts flat."

// holtOptionArgs are the model options holt_forecast and holt_fit share.
func holtOptionArgs() []Arg {
	return []Arg{
		{Name: "trend", Type: Text, Default: "add", Fit: true, Doc: "'add', 'mul' or 'none'"},
		{Name: "damped", Type: Bool, Default: false, Fit: true, Doc: "damp the trend with phi"},
		{Name: "seasonal", Type: Text, Default: "none", Fit: true, Doc: "'none', 'add' or 'mul'"},
		{Name: "seasonal_periods", Type: Int4, Default: int64(0), Fit: true, Doc: "season length in rows (12 for monthly data with a yearly cycle); at least 2 with a seasonal component, ignored without"},
	}
}

func holtFixedArgs() []Arg {
	return []Arg{
		{Name: "alpha", Type: Float8, Default: nil, Nullable: true, Fit: true, Doc: "fixed level smoothing in [0,1]; NULL: estimated"},
		{Name: "beta", Type: Float8, Default: nil, Nullable: true, Fit: true, Doc: "fixed trend smoothing in [0,1] (needs a trend); NULL: estimated"},
		{Name: "gamma", Type: Float8, Default: nil, Nullable: true, Fit: true, Doc: "fixed seasonal smoothing in [0,1] (needs a seasonal component); NULL: estimated"},
		{Name: "phi", Type: Float8, Default: nil, Nullable: true, Fit: true, Doc: "fixed damping in (0,1] (needs damped => true); NULL: estimated"},
	}
}

var holtInputArg = Arg{Name: "input", Relation: true, Required: true, Fit: true, Doc: "([series,] ts, value): an optional series key of any type, a date/timestamp/timestamptz/integer time column, a numeric value"}

// holtPredictArgs are the arguments holt_forecast and holt_fit take after
// the options: which series, and the stored model to read them from.
func holtPredictArgs(fn, positional string) []Arg {
	return []Arg{
		{Name: "series", Type: AnyType, Default: nil, Nullable: true, Doc: "only this series (matched to the series column by its text form); NULL: every series. An unknown series gives no rows"},
		{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "a stored model (flywheel.train(name, 'holt_forecast', (SELECT [series,] ts, value ...), <options>)) whose fitted series " + fn + " reads, in place of input and fitting; the positional arguments are then " + positional},
	}
}

// holtModelDoc says what a call with model => does.
const holtModelDoc = " With model => 'name' (trained by flywheel.train(name, 'holt_forecast', input, <options>)) the fitted series are read from the stored model instead: " +
	"input and the options are not given, and the result is the one-shot call's on the training input."

// HoltForecast declares holt_forecast(input, horizon, ...): horizon future
// rows per series with a prediction interval.
func HoltForecast() *Func {
	args := []Arg{holtInputArg, {Name: "horizon", Type: Int4, Required: true, Doc: "number of future steps per series, 1 .. 100000"}}
	args = append(args, holtOptionArgs()...)
	args = append(args, Arg{Name: "level", Type: Float8, Default: 0.95, Doc: "coverage of the prediction interval, between 0 and 1"})
	args = append(args, holtFixedArgs()...)
	args = append(args, holtPredictArgs("holt_forecast", "(horizon, level, series)")...)
	return &Func{
		Name: "holt_forecast",
		Doc: holtDoc + " Returns, per series, horizon rows: [series,] ts (continuing the input's spacing, same name and type), forecast, " +
			"and the prediction interval's lower and upper bounds at level. Intervals assume independent N(0, sigma²) one-step errors, " +
			"sigma² = SSE/n: exact variances (Hyndman et al.'s ETS formulas, as statsmodels' ETSModel) for additive models; for models " +
			"with a multiplicative component, quantiles of 5000 simulated paths with a seed derived from the fit (deterministic). " +
			"At steps that are multiples of the season length statsmodels 0.13 reuses a stale seasonal state; Flywheel uses the latest." +
			holtModelDoc + " E.g. holt_forecast(model => 'demand', horizon => 6) or holt_forecast(6, model => 'demand', series => 'north'); level is chosen at each call.",
		Args:         args,
		Columns:      holtForecastColumns,
		ModelColumns: holtForecastModelColumns,
		KeyColumn:    holtSeriesColumn,
		Run:          runHoltForecast,
		Returns:      []ReturnColumn{{"ts", AnyType}, {"forecast", Float8}, {"lower", Float8}, {"upper", Float8}},
	}
}

// HoltFit declares holt_fit(input, ...): one row per series with the
// fitted parameters and fit statistics.
func HoltFit() *Func {
	args := append([]Arg{holtInputArg}, holtOptionArgs()...)
	args = append(args, holtFixedArgs()...)
	args = append(args, holtPredictArgs("holt_fit", "(series)")...)
	return &Func{
		Name: "holt_fit",
		Doc: holtDoc + " Returns one row per series: [series,] alpha, beta, gamma, phi, initial_level, initial_trend, sse, aic. " +
			"Parameters the model lacks are NULL (beta and initial_trend without a trend, gamma without a seasonal component, phi " +
			"without damping). initial_level is the level before the first row, with the initial seasonal states normalised to sum 0 " +
			"(additive) or average 1 (multiplicative). sse is the sum of squared one-step errors; aic = n*ln(sse/n) + 2k with " +
			"statsmodels' count k = 2 + 2 (trend) + 1 (damped) + seasonal_periods (seasonal); NULL for a perfect fit (sse = 0)." +
			holtModelDoc + " E.g. holt_fit(model => 'demand') shows the stored model's parameters.",
		Args:         args,
		Columns:      holtFitColumns,
		ModelColumns: holtFitModelColumns,
		KeyColumn:    holtSeriesColumn,
		Run:          runHoltFit,
		Returns: []ReturnColumn{{"alpha", Float8}, {"beta", Float8}, {"gamma", Float8}, {"phi", Float8},
			{"initial_level", Float8}, {"initial_trend", Float8}, {"sse", Float8}, {"aic", Float8}},
	}
}

var holtFitNames = []string{"alpha", "beta", "gamma", "phi", "initial_level", "initial_trend", "sse", "aic"}

// holtTimeOIDs are the time column types holt_* accept.
var holtTimeOIDs = map[uint32]string{pgtype.DateOID: "date", pgtype.TimestampOID: "timestamp", pgtype.TimestamptzOID: "timestamptz", pgtype.Int8OID: "bigint", pgtype.Int2OID: "smallint", pgtype.Int4OID: "integer"}

// holtInput checks the input's shape: [series,] ts, value.
func holtInput(fn string, inputs [][]InputColumn) (series *InputColumn, ts, value InputColumn, err error) {
	if got := firstWidth(inputs); got < 2 || got > 3 {
		return nil, ts, value, &TypeError{Func: fn, Column: "input", Msg: fmt.Sprintf("want columns ([series,] ts, value), got %d columns", got)}
	}
	in := inputs[0]
	if len(in) == 3 {
		series = &in[0]
		in = in[1:]
	}
	ts, value = in[0], in[1]
	if _, ok := holtTimeOIDs[ts.Type]; !ok {
		return nil, ts, value, &TypeError{Func: fn, Column: ts.Name, Msg: "the time column must be date, timestamp, timestamptz, smallint, integer or bigint"}
	}
	if !value.Numeric() {
		return nil, ts, value, &TypeError{Func: fn, Column: value.Name, Msg: "the value column must be numeric (integer, bigint, smallint, real, double precision or numeric)"}
	}
	return series, ts, value, nil
}

// holtSeriesColumn is the column series => matches: the input's first of
// three, none of two.
func holtSeriesColumn(inputs [][]InputColumn) (InputColumn, bool) {
	if len(inputs) == 0 || len(inputs[0]) != 3 {
		return InputColumn{}, false
	}
	return inputs[0][0], true
}

func holtForecastColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	series, ts, _, err := holtInput("holt_forecast", inputs)
	if err != nil {
		return nil, err
	}
	var out []OutputColumn
	names := []string{ts.Name}
	if series != nil {
		out = append(out, OutputColumn{Name: series.Name, Type: series.Type})
		names = append(names, series.Name)
	}
	if err := nameClash("holt_forecast", names, "forecast", "lower", "upper"); err != nil {
		return nil, err
	}
	out = append(out, OutputColumn{Name: ts.Name, Type: ts.Type})
	for _, n := range []string{"forecast", "lower", "upper"} {
		out = append(out, OutputColumn{Name: n, Type: Float8.OID})
	}
	return out, nil
}

func holtFitColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	series, _, _, err := holtInput("holt_fit", inputs)
	if err != nil {
		return nil, err
	}
	var out []OutputColumn
	if series != nil {
		if err := nameClash("holt_fit", []string{series.Name}, holtFitNames...); err != nil {
			return nil, err
		}
		out = append(out, OutputColumn{Name: series.Name, Type: series.Type})
	}
	for _, n := range holtFitNames {
		out = append(out, OutputColumn{Name: n, Type: Float8.OID})
	}
	return out, nil
}

// holtData is the input split into series, each sorted by time.
type holtData struct {
	series *Column // nil without a series column
	ts     *Column
	// rows[s] are the input rows of series s in time order; series are
	// ordered by key (NULL last).
	rows [][]int
	y    [][]float64
	// Exactly one of times and ints is set, per series, with the
	// series' spacing in timeSteps or intSteps.
	times     [][]time.Time
	ints      [][]int64
	timeSteps []functions.TimeStep
	intSteps  []int64
}

// holtOptions reads the model options.
func holtOptions(fn string, call *Call) (functions.HoltOptions, error) {
	var o functions.HoltOptions
	for _, a := range []struct {
		name string
		dst  *functions.Component
	}{{"trend", &o.Trend}, {"seasonal", &o.Seasonal}} {
		s, err := call.String(a.name)
		if err != nil {
			return o, err
		}
		if *a.dst, err = functions.ParseComponent(a.name, s); err != nil {
			return o, holtArgError(fn, err, nil, -1)
		}
	}
	var err error
	if o.Damped, err = call.Bool("damped"); err != nil {
		return o, err
	}
	if o.Seasonal != functions.ComponentNone {
		p, err := call.Int("seasonal_periods")
		if err != nil {
			return o, err
		}
		if p < 2 || p > math.MaxInt32 {
			return o, &ArgError{Func: fn, Arg: "seasonal_periods", Msg: fmt.Sprintf("must be at least 2 with a seasonal component, got %d", p)}
		}
		o.Period = int(p)
	}
	for _, a := range []struct {
		name string
		dst  **float64
	}{{"alpha", &o.Alpha}, {"beta", &o.Beta}, {"gamma", &o.Gamma}, {"phi", &o.Phi}} {
		if call.IsNull(a.name) {
			continue
		}
		v, err := call.Float(a.name)
		if err != nil {
			return o, err
		}
		*a.dst = &v
	}
	return o, nil
}

// readHolt reads and groups the input relation.
func readHolt(fn string, call *Call, columns func([][]InputColumn) ([]OutputColumn, error)) (*holtData, error) {
	rel, err := call.checkedRelation("input", columns)
	if err != nil {
		return nil, err
	}
	n := rel.Rows()
	if n == 0 {
		return nil, &ArgError{Func: fn, Arg: "input", Msg: "is empty"}
	}
	d := &holtData{}
	c := rel.Columns
	if len(c) == 3 {
		d.series, c = c[0], c[1:]
	}
	d.ts = c[0]
	val := c[1]
	isInt := holtIntTime(d.ts.Type)

	// Parse every row's time and value.
	var times []time.Time
	var ints []int64
	if isInt {
		ints = make([]int64, n)
	} else {
		times = make([]time.Time, n)
	}
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		if d.ts.Null(i) {
			return nil, &ArgError{Func: fn, Arg: "input", Msg: fmt.Sprintf("row %d: NULL in time column %q", i+1, d.ts.Name)}
		}
		if isInt {
			v, err := strconv.ParseInt(d.ts.Text(i), 10, 64)
			if err != nil {
				return nil, &ArgError{Func: fn, Arg: "input", Msg: fmt.Sprintf("row %d: column %q: %q is not an integer", i+1, d.ts.Name, d.ts.Text(i))}
			}
			ints[i] = v
		} else {
			t, err := d.ts.Time(i)
			if err != nil {
				return nil, &ArgError{Func: fn, Arg: "input", Msg: err.Error()}
			}
			times[i] = t
		}
		if y[i], err = val.Float(i); err != nil {
			return nil, &ArgError{Func: fn, Arg: "input", Msg: err.Error()}
		}
	}

	// Group rows by series key (exact text; NULL is a group of its own).
	var groups [][]int
	if d.series == nil {
		groups = [][]int{identity(n)}
	} else {
		index := map[string]int{}
		for i := 0; i < n; i++ {
			k := "" // NULL; a key is its text after a byte, so never ""
			if !d.series.Null(i) {
				k = "\x01" + string(d.series.Bytes(i))
			}
			g, ok := index[k]
			if !ok {
				g = len(groups)
				index[k] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], i)
		}
		// Series in key order (keyorder.go), NULL last.
		slices.SortFunc(groups, func(a, b []int) int { return d.series.compare(a[0], b[0]) })
	}
	for _, g := range groups {
		if isInt {
			slices.SortStableFunc(g, func(a, b int) int { return cmp.Compare(ints[a], ints[b]) })
			d.ints = append(d.ints, pick(ints, g))
		} else {
			slices.SortStableFunc(g, func(a, b int) int { return times[a].Compare(times[b]) })
			d.times = append(d.times, pick(times, g))
		}
		d.y = append(d.y, pick(y, g))
	}
	d.rows = groups
	return d, nil
}

// seriesLabel names series s in an error message.
func (d *holtData) seriesLabel(s int) string {
	if d.series == nil {
		return ""
	}
	r := d.rows[s][0]
	if d.series.Null(r) {
		return fmt.Sprintf("series NULL (%s): ", d.series.Name)
	}
	return fmt.Sprintf("series %q (%s): ", d.series.Text(r), d.series.Name)
}

// holtArgError turns a functions.InputError into an ArgError naming the
// SQL argument, the series and the input row (1-based, in input order).
// Other errors (cancellation) pass through.
func holtArgError(fn string, err error, d *holtData, s int) error {
	var se *functions.HoltSeriesError
	if errors.As(err, &se) {
		s = se.Series
	}
	ie, ok := functions.AsInputError(err)
	if !ok {
		return err
	}
	msg := ie.Msg
	if d != nil && s >= 0 {
		if ie.Row >= 0 && ie.Row < len(d.rows[s]) {
			msg = fmt.Sprintf("row %d: %s", d.rows[s][ie.Row]+1, msg)
		}
		msg = d.seriesLabel(s) + msg
	}
	return &ArgError{Func: fn, Arg: ie.Arg, Msg: msg}
}

// holtFitted is what forecasts and fit rows are made of, whether the
// series were fitted by this call or read from a stored model: each
// series' model, key, and the end of its time column, which forecasts
// continue.
type holtFitted struct {
	series  *Column // the series keys; nil without a series column
	keyRows []int   // series s's key is series' value keyRows[s]
	ts      InputColumn
	models  []*functions.HoltModel
	// Integer time columns set lastInts and intSteps, the others
	// lastTimes, timeSteps and lastTexts, the last time as PostgreSQL
	// printed it, which a stored model keeps.
	lastInts  []int64
	intSteps  []int64
	lastTimes []time.Time
	timeSteps []functions.TimeStep
	lastTexts []string
	// scales are each series' in-sample mean absolute error of the naive
	// forecast (the value one season back, or the previous value without a
	// seasonal component), MASE's denominator; NaN where unknown.
	scales []float64
}

// fitHolt reads the input and options, picks the series asked for, checks
// every series' time spacing (before any fitting work, so an irregular
// series fails fast) and fits every series.
func fitHolt(ctx context.Context, fn string, call *Call, columns func([][]InputColumn) ([]OutputColumn, error)) (*holtFitted, error) {
	opts, err := holtOptions(fn, call)
	if err != nil {
		return nil, err
	}
	d, err := readHolt(fn, call, columns)
	if err != nil {
		return nil, err
	}
	first := make([]int, len(d.rows))
	for s, rows := range d.rows {
		first[s] = rows[0]
	}
	keep, err := holtPick(fn, call, d.series, first)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		// Fitting the other series could only fail or cost time: each
		// series is fitted on its own.
		d.rows, d.y = pick(d.rows, keep), pick(d.y, keep)
		if d.ints != nil {
			d.ints = pick(d.ints, keep)
		} else {
			d.times = pick(d.times, keep)
		}
	}
	f := &holtFitted{series: d.series, ts: d.ts.InputColumn}
	for s, rows := range d.rows {
		f.keyRows = append(f.keyRows, rows[0])
		if d.ints != nil {
			step, err := functions.InferIntStep(d.ints[s])
			if err != nil {
				return nil, holtArgError(fn, err, d, s)
			}
			d.intSteps = append(d.intSteps, step)
			f.lastInts = append(f.lastInts, d.ints[s][len(d.ints[s])-1])
			continue
		}
		step, err := functions.InferTimeStep(d.times[s])
		if err != nil {
			return nil, holtArgError(fn, err, d, s)
		}
		d.timeSteps = append(d.timeSteps, step)
		f.lastTimes = append(f.lastTimes, d.times[s][len(d.times[s])-1])
		f.lastTexts = append(f.lastTexts, d.ts.Text(rows[len(rows)-1]))
	}
	f.intSteps, f.timeSteps = d.intSteps, d.timeSteps
	if f.models, err = functions.FitHoltMany(ctx, d.y, opts); err != nil {
		return nil, holtArgError(fn, err, d, -1)
	}
	f.scales = make([]float64, len(f.models))
	for s, m := range f.models {
		f.scales[s] = naiveScale(d.y[s], max(m.Period, 1))
	}
	return f, nil
}

// pick returns the elements of xs at the indices keep.
func pick[T any](xs []T, keep []int) []T {
	out := make([]T, len(keep))
	for i, k := range keep {
		out[i] = xs[k]
	}
	return out
}

// holtPick reads the series argument: nil for every series, otherwise the
// indices of the series (whose keys are series' values at keyRows) it
// names, none when it names no series.
func holtPick(fn string, call *Call, series *Column, keyRows []int) ([]int, error) {
	if call.IsNull("series") {
		return nil, nil
	}
	if series == nil {
		what := "the input has"
		if call.Model != nil {
			what = fmt.Sprintf("model %q was trained with", call.Model.Name)
		}
		return nil, &ArgError{Func: fn, Arg: "series", Msg: what + " no series column (input ([series,] ts, value) with two columns is a single series)"}
	}
	keys := functions.NewKeyIndex[string]()
	for s, r := range keyRows {
		if !series.Null(r) {
			keys.Add(series.Text(r), s)
		}
	}
	if k, ok := mfFindKey(keys, series, call.Values["series"]); ok {
		return []int{keys.First[k]}, nil
	}
	return []int{}, nil
}

// subset returns f with only the series keep (nil: f itself).
func (f *holtFitted) subset(keep []int) *holtFitted {
	if keep == nil {
		return f
	}
	g := *f
	g.keyRows, g.models = pick(f.keyRows, keep), pick(f.models, keep)
	if f.scales != nil {
		g.scales = pick(f.scales, keep)
	}
	if f.lastInts != nil {
		g.lastInts, g.intSteps = pick(f.lastInts, keep), pick(f.intSteps, keep)
	} else {
		g.lastTimes, g.timeSteps, g.lastTexts = pick(f.lastTimes, keep), pick(f.timeSteps, keep), pick(f.lastTexts, keep)
	}
	return &g
}

// holtHorizon reads and checks horizon and level.
func holtHorizon(fn string, call *Call) (int, float64, error) {
	h, err := call.Int("horizon")
	if err != nil {
		return 0, 0, err
	}
	if h < 1 || h > 100000 {
		return 0, 0, &ArgError{Func: fn, Arg: "horizon", Msg: fmt.Sprintf("must be between 1 and 100000, got %d", h)}
	}
	level, err := call.Float("level")
	if err != nil {
		return 0, 0, err
	}
	if !(level > 0 && level < 1) {
		return 0, 0, &ArgError{Func: fn, Arg: "level", Msg: fmt.Sprintf("must be between 0 and 1 (exclusive), got %g", level)}
	}
	return int(h), level, nil
}

func runHoltForecast(ctx context.Context, call *Call) (*Result, error) {
	const fn = "holt_forecast"
	horizon, level, err := holtHorizon(fn, call)
	if err != nil {
		return nil, err
	}
	f, err := holtCallSeries(ctx, fn, call, holtForecastColumns)
	if err != nil {
		return nil, err
	}
	return f.forecast(ctx, fn, horizon, level)
}

// holtCallSeries is the fitted series a call reads: its stored model's, or
// fitted on its input, whose columns columns checks.
func holtCallSeries(ctx context.Context, fn string, call *Call, columns func([][]InputColumn) ([]OutputColumn, error)) (*holtFitted, error) {
	if call.Model != nil {
		return holtModelFitted(fn, call)
	}
	return fitHolt(ctx, fn, call, columns)
}

// forecast is holt_forecast's result: horizon rows per series.
func (f *holtFitted) forecast(ctx context.Context, fn string, horizon int, level float64) (*Result, error) {
	preds, err := functions.PredictHoltMany(ctx, f.models, horizon, level)
	if err != nil {
		return nil, holtArgError(fn, err, nil, -1)
	}
	n := len(f.models) * horizon
	tsOut := make([]string, 0, n)
	fc, lo, hi := make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n)
	keyRows := make([]int, 0, n)
	for s, p := range preds {
		fc = append(fc, p.Forecast...)
		lo = append(lo, p.Lower...)
		hi = append(hi, p.Upper...)
		if f.lastInts != nil {
			last := f.lastInts[s]
			for k := 1; k <= horizon; k++ {
				tsOut = append(tsOut, strconv.FormatInt(last+int64(k)*f.intSteps[s], 10))
			}
		} else {
			last := f.lastTimes[s]
			for k := 1; k <= horizon; k++ {
				tsOut = append(tsOut, formatPGTime(f.timeSteps[s].Advance(last, k), f.ts.Type))
			}
		}
		if f.series != nil {
			for k := 0; k < horizon; k++ {
				keyRows = append(keyRows, f.keyRows[s])
			}
		}
	}
	var out []ResultColumn
	if f.series != nil {
		out = append(out, ResultColumn{OutputColumn: OutputColumn{Name: f.series.Name, Type: f.series.Type}, From: f.series, Rows: keyRows})
	}
	out = append(out,
		ResultColumn{OutputColumn: OutputColumn{Name: f.ts.Name, Type: f.ts.Type}, Texts: tsOut},
		ResultColumn{OutputColumn: OutputColumn{Name: "forecast", Type: Float8.OID}, Floats: fc},
		ResultColumn{OutputColumn: OutputColumn{Name: "lower", Type: Float8.OID}, Floats: lo},
		ResultColumn{OutputColumn: OutputColumn{Name: "upper", Type: Float8.OID}, Floats: hi},
	)
	return &Result{Columns: out}, nil
}

func runHoltFit(ctx context.Context, call *Call) (*Result, error) {
	f, err := holtCallSeries(ctx, "holt_fit", call, holtFitColumns)
	if err != nil {
		return nil, err
	}
	return f.fitRows(), nil
}

// fitRows is holt_fit's result: one row per series.
func (f *holtFitted) fitRows() *Result {
	ns := len(f.models)
	vals := make([][]float64, len(holtFitNames))
	nulls := make([][]bool, len(holtFitNames))
	for j := range vals {
		vals[j] = make([]float64, ns)
		nulls[j] = make([]bool, ns)
	}
	for s, m := range f.models {
		noTrend := m.Trend == functions.ComponentNone
		row := []struct {
			v    float64
			null bool
		}{
			{m.Alpha, false},
			{m.Beta, noTrend},
			{m.Gamma, m.Seasonal == functions.ComponentNone},
			{m.Phi, !m.Damped},
			{m.InitialLevel, false},
			{m.InitialTrend, noTrend},
			{m.SSE, false},
			{m.AIC, math.IsInf(m.AIC, 0) || math.IsNaN(m.AIC)},
		}
		for j, c := range row {
			if c.null {
				nulls[j][s] = true
			} else {
				vals[j][s] = c.v
			}
		}
	}
	var out []ResultColumn
	if f.series != nil {
		out = append(out, ResultColumn{OutputColumn: OutputColumn{Name: f.series.Name, Type: f.series.Type}, From: f.series, Rows: append([]int{}, f.keyRows...)})
	}
	for j, name := range holtFitNames {
		col := ResultColumn{OutputColumn: OutputColumn{Name: name, Type: Float8.OID}, Floats: vals[j]}
		if slices.Contains(nulls[j], true) {
			col.Nulls = nulls[j]
		}
		out = append(out, col)
	}
	return &Result{Columns: out}
}

// formatPGTime writes t as PostgreSQL's ISO output style does for the
// column's type: date 2024-01-31, timestamp 2024-01-31 00:00:00[.ffffff],
// timestamptz with the UTC offset (+00, +05:30).
func formatPGTime(t time.Time, oid uint32) string {
	switch oid {
	case pgtype.DateOID:
		return t.Format("2006-01-02")
	case pgtype.TimestampOID:
		return t.Format("2006-01-02 15:04:05.999999")
	}
	s := t.Format("2006-01-02 15:04:05.999999")
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	s += fmt.Sprintf("%c%02d", sign, off/3600)
	if rem := off % 3600; rem != 0 {
		s += fmt.Sprintf(":%02d", rem/60)
		if rem%60 != 0 {
			s += fmt.Sprintf(":%02d", rem%60)
		}
	}
	return s
}

// naiveScale is the mean absolute error of forecasting y[t] by y[t-m], NaN
// for a series too short to have one.
func naiveScale(y []float64, m int) float64 {
	if len(y) <= m {
		return math.NaN()
	}
	sum := 0.0
	for t := m; t < len(y); t++ {
		sum += math.Abs(y[t] - y[t-m])
	}
	return sum / float64(len(y)-m)
}
