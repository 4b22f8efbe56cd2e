package catalog

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/flywheeldb/flywheel/functions"
	"github.com/jackc/pgx/v5/pgtype"
)

// A stored holt_forecast model is every series' fitted functions.HoltModel
// with the series' key and the end of its time column (the last time and
// the spacing), so forecasts continue the dates as the one-shot call's do
// and holt_fit shows the fitted parameters.
//
// State format "holt_forecast" v1:
//
//	Bool      a series column
//	Uvarint   series count n
//	n × (Bool NULL, String key)                 with a series column, in key order
//	Bool      integer time column
//	n × (Varint last, Varint step)              integer time
//	n × (String last, Varint months, Varint day, Varint days, Varint nanoseconds)
//	                                            other times: the last time as
//	                                            PostgreSQL printed it, the spacing
//	Bytes     functions.MarshalHoltModels of the n series
//	Float64s  (v2) each series' MASE scale, NaN where unknown; v1 has none
const (
	holtStateKind    = "holt_forecast"
	holtStateVersion = 2
)

func holtKind() *modelKind {
	return &modelKind{
		fn: HoltForecast, input: "input", fit: fitHoltModel, decode: decodeHolt, learn: learnHolt, primary: "mse",
		evaluate: evaluateHolt, split: holtSplit,
	}
}

func fitHoltModel(ctx context.Context, call *Call) (*fitted, error) {
	f, err := fitHolt(ctx, "holt_forecast", call, holtForecastColumns)
	if err != nil {
		return nil, err
	}
	return f.stored(0)
}

// stored encodes f as a model's state with its metrics; learned counts
// the rows a learn added (0 for a training).
func (f *holtFitted) stored(learned int) (*fitted, error) {
	state, err := f.encode(holtStateVersion)
	if err != nil {
		return nil, err
	}
	var sse float64
	var n int
	for _, m := range f.models {
		sse += m.SSE
		n += m.N
	}
	metrics := map[string]float64{"series": float64(len(f.models)), "sse": sse}
	if n > 0 {
		metrics["mse"] = sse / float64(n)
	}
	if learned > 0 {
		metrics["learned_rows"] = float64(learned)
	}
	return &fitted{state: state, metrics: metrics, rows: learned}, nil
}

// encode writes f in state format version (the current one; tests write
// older ones to check they still decode).
func (f *holtFitted) encode(version uint64) ([]byte, error) {
	e := functions.NewEncoder(holtStateKind, version, 256*len(f.models))
	e.Bool(f.series != nil)
	e.Uvarint(uint64(len(f.models)))
	if f.series != nil {
		for _, r := range f.keyRows {
			e.Bool(f.series.Null(r))
			e.String(f.series.Text(r))
		}
	}
	e.Bool(f.lastInts != nil)
	for s := range f.models {
		if f.lastInts != nil {
			e.Varint(f.lastInts[s])
			e.Varint(f.intSteps[s])
			continue
		}
		st := f.timeSteps[s]
		e.String(f.lastTexts[s])
		e.Int(st.Months)
		e.Int(st.Day)
		e.Int(st.Days)
		e.Varint(int64(st.Duration))
	}
	b, err := functions.MarshalHoltModels(f.models)
	if err != nil {
		return nil, err
	}
	e.Bytes(b)
	if version >= 2 {
		e.Float64s(f.scales)
	}
	return e.Finish(), nil
}

// learnHolt advances each series named in the new rows through its new
// observations (functions.HoltModel.Advance: the fitted parameters, no
// re-optimising). A series' new rows must continue its time column at its
// spacing, from the step after its last time; series without new rows
// stay as they were.
func learnHolt(ctx context.Context, m *Model, rel *Relation) (*fitted, error) {
	const fn = "learn"
	old, ok := m.State.(*holtFitted)
	if !ok {
		return nil, kindError("holt_forecast", m)
	}
	d, err := readHolt(fn, &Call{Values: map[string]any{"input": rel}}, holtForecastColumns)
	if err != nil {
		return nil, err
	}
	f := *old
	f.models = slices.Clone(old.models) // scales stay the training's
	f.lastInts, f.lastTimes, f.lastTexts = slices.Clone(old.lastInts), slices.Clone(old.lastTimes), slices.Clone(old.lastTexts)
	series, err := holtSeriesOf(fn, m, old, d)
	if err != nil {
		return nil, err
	}
	for g, rows := range d.rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := series[g]
		for k, r := range rows {
			var want, got string
			if d.ints != nil {
				next := f.lastInts[s] + int64(k+1)*f.intSteps[s]
				if d.ints[g][k] != next {
					want, got = strconv.FormatInt(next, 10), d.ts.Text(r)
				}
			} else if next := f.timeSteps[s].Advance(f.lastTimes[s], k+1); !d.times[g][k].Equal(next) {
				want, got = formatPGTime(next, f.ts.Type), d.ts.Text(r)
			}
			if want != "" {
				return nil, &Error{Code: "22023", Message: fmt.Sprintf("flywheel.learn: input: %srow %d: time %s, but the model's next time is %s", d.seriesLabel(g), r+1, got, want),
					Hint: "learn continues each series at its spacing from the step after its last learned time, without gaps or repeats."}
			}
		}
		if f.models[s], err = f.models[s].Advance(d.y[g]); err != nil {
			return nil, holtArgError(fn, err, d, g)
		}
		last := rows[len(rows)-1]
		if d.ints != nil {
			f.lastInts[s] = d.ints[g][len(rows)-1]
		} else {
			f.lastTimes[s], f.lastTexts[s] = d.times[g][len(rows)-1], d.ts.Text(last)
		}
	}
	return f.stored(rel.Rows())
}

func decodeHolt(m *Model, state []byte) error {
	series, ts, _, err := holtInput("holt_forecast", [][]InputColumn{m.Inputs})
	if err != nil {
		return fmt.Errorf("model %q version %d: %w", m.Name, m.Version, err)
	}
	d, err := functions.NewDecoder(state, holtStateKind, holtStateVersion)
	if err != nil {
		return err
	}
	f := &holtFitted{ts: ts}
	hasSeries := d.Bool()
	n := d.Count(2)
	if d.Err() == nil && hasSeries != (series != nil) {
		d.Fail("a series column %t, but the model has %d input columns", hasSeries, len(m.Inputs))
	}
	if hasSeries && d.Err() == nil {
		f.series = NewColumn(*series)
		for s := 0; s < n && d.Err() == nil; s++ {
			null, key := d.Bool(), d.String()
			if null {
				f.series.Append(nil)
			} else {
				f.series.Append([]byte(key))
			}
			f.keyRows = append(f.keyRows, s)
		}
	}
	isInt := d.Bool()
	if d.Err() == nil && isInt != holtIntTime(ts.Type) {
		d.Fail("integer time %t for a time column of type %d", isInt, ts.Type)
	}
	times := NewColumn(ts)
	for s := 0; s < n && d.Err() == nil; s++ {
		if isInt {
			last, step := d.Varint(), d.Varint()
			if d.Err() == nil && step <= 0 {
				d.Fail("series %d: time step %d", s, step)
			}
			f.lastInts = append(f.lastInts, last)
			f.intSteps = append(f.intSteps, step)
			continue
		}
		last := d.String()
		st := functions.TimeStep{
			Months: d.Int("months", 0, math.MaxInt32), Day: d.Int("day", 0, 31), Days: d.Int("days", 0, math.MaxInt32),
			Duration: time.Duration(d.Varint()),
		}
		if d.Err() != nil {
			break
		}
		set := 0
		for _, v := range []int64{int64(st.Months), int64(st.Days), int64(st.Duration)} {
			if v != 0 {
				set++
			}
		}
		if set != 1 || st.Duration < 0 || st.Months > 0 && st.Day < 1 {
			d.Fail("series %d: time step %v", s, st)
			break
		}
		// Parsed as the one-shot call parses the column, so the
		// continued times are the same.
		times.Append([]byte(last))
		t, err := times.Time(s)
		if err != nil {
			d.Fail("series %d: last time: %v", s, err)
			break
		}
		f.lastTexts = append(f.lastTexts, last)
		f.lastTimes = append(f.lastTimes, t)
		f.timeSteps = append(f.timeSteps, st)
	}
	blob := d.Bytes()
	if d.Version >= 2 {
		f.scales = d.Float64s()
	}
	if err := d.Finish(); err != nil {
		return err
	}
	if f.scales == nil {
		f.scales = make([]float64, n)
		for s := range f.scales {
			f.scales[s] = math.NaN()
		}
	}
	if len(f.scales) != n {
		return fmt.Errorf("%w: %d series but %d scales", functions.ErrStateCorrupt, n, len(f.scales))
	}
	if f.models, err = functions.UnmarshalHoltModels(blob); err != nil {
		return err
	}
	if len(f.models) != n {
		return fmt.Errorf("%w: %d series but %d models", functions.ErrStateCorrupt, n, len(f.models))
	}
	if !hasSeries {
		f.keyRows = make([]int, n)
	}
	m.State = f
	return nil
}

// holtIntTime reports whether a holt time column is an integer one.
func holtIntTime(oid uint32) bool {
	return oid == pgtype.Int8OID || oid == pgtype.Int2OID || oid == pgtype.Int4OID
}

// holtModelCheck checks that m is a holt_forecast model and that the call
// gives no input.
func holtModelCheck(fn string, m *Model, inputs [][]InputColumn) error {
	if m.Kind != "holt_forecast" {
		return kindError(fn, m)
	}
	if len(inputs) > 0 && inputs[0] != nil {
		return &ArgError{Func: fn, Arg: "input", Msg: "pass either input or model, not both"}
	}
	return nil
}

func holtForecastModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if err := holtModelCheck("holt_forecast", m, inputs); err != nil {
		return nil, err
	}
	return holtForecastColumns([][]InputColumn{m.Inputs})
}

func holtFitModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if err := holtModelCheck("holt_fit", m, inputs); err != nil {
		return nil, err
	}
	return holtFitColumns([][]InputColumn{m.Inputs})
}

// holtModelFitted is the stored series a call picks (series =>).
func holtModelFitted(fn string, call *Call) (*holtFitted, error) {
	f, ok := call.Model.State.(*holtFitted)
	if !ok || call.Model.Kind != "holt_forecast" {
		return nil, kindError(fn, call.Model)
	}
	keep, err := holtPick(fn, call, f.series, f.keyRows)
	if err != nil {
		return nil, err
	}
	return f.subset(keep), nil
}
