package catalog

import (
	"context"
	"fmt"
	"math"

	"github.com/flywheeldb/flywheel/functions"
)

// holtEvalLevel is the prediction interval whose coverage evaluate reports.
const holtEvalLevel = 0.95

// holtMaxEvalSteps bounds how far past a series' end an evaluated row may
// lie, in steps.
const holtMaxEvalSteps = 100000

// evaluateHolt forecasts each held-out row's step past its series' end
// and compares: mae, rmse, mape (rows whose value is not 0), smape, mase
// (errors over the training series' naive-forecast MAE) and
// interval_coverage_95 (the share of values within the 95% prediction
// interval). A row must lie on its series' spacing after its last time.
func evaluateHolt(ctx context.Context, m *Model, rel *Relation) (map[string]float64, error) {
	const fn = "evaluate"
	f, ok := m.State.(*holtFitted)
	if !ok {
		return nil, kindError("holt_forecast", m)
	}
	d, err := readHolt(fn, &Call{Values: map[string]any{"input": rel}}, holtForecastColumns)
	if err != nil {
		return nil, err
	}
	series, err := holtSeriesOf(fn, m, f, d)
	if err != nil {
		return nil, err
	}
	// Each group's steps past its series' end.
	steps := make([][]int, len(d.rows))
	horizon := 0
	for g, rows := range d.rows {
		s := series[g]
		steps[g] = make([]int, len(rows))
		for k, r := range rows {
			step := 0
			if d.ints != nil {
				diff := d.ints[g][k] - f.lastInts[s]
				if diff > 0 && diff%f.intSteps[s] == 0 && diff/f.intSteps[s] <= holtMaxEvalSteps {
					step = int(diff / f.intSteps[s])
				}
			} else {
				t := d.times[g][k]
				for h := 1; h <= holtMaxEvalSteps; h++ {
					next := f.timeSteps[s].Advance(f.lastTimes[s], h)
					if next.Equal(t) {
						step = h
						break
					}
					if next.After(t) {
						break
					}
				}
			}
			if step == 0 {
				return nil, &Error{Code: "22023", Message: fmt.Sprintf("flywheel.evaluate: input: %srow %d: time %s is not a step of the series after its last fitted time", d.seriesLabel(g), r+1, d.ts.Text(r)),
					Hint: "Evaluate a holt_forecast model on the observations that follow its training input, at the series' spacing."}
			}
			steps[g][k] = step
			horizon = max(horizon, step)
		}
	}
	models := make([]*functions.HoltModel, len(d.rows))
	for g := range d.rows {
		models[g] = f.models[series[g]]
	}
	preds, err := functions.PredictHoltMany(ctx, models, horizon, holtEvalLevel)
	if err != nil {
		return nil, holtArgError(fn, err, nil, -1)
	}
	var n, nPct, nScaled int
	var abs, sq, pct, spct, covered, scaled float64
	for g := range d.rows {
		for k, h := range steps[g] {
			y, p := d.y[g][k], preds[g]
			e := y - p.Forecast[h-1]
			abs += math.Abs(e)
			sq += e * e
			if y != 0 {
				pct += math.Abs(e / y)
				nPct++
			}
			if den := math.Abs(y) + math.Abs(p.Forecast[h-1]); den > 0 {
				spct += 2 * math.Abs(e) / den
			}
			if sc := f.scales[series[g]]; sc > 0 {
				scaled += math.Abs(e) / sc
				nScaled++
			}
			if y >= p.Lower[h-1] && y <= p.Upper[h-1] {
				covered++
			}
			n++
		}
	}
	out := map[string]float64{"rows": float64(n), "mae": abs / float64(n), "rmse": math.Sqrt(sq / float64(n)),
		"smape": spct / float64(n), "interval_coverage_95": covered / float64(n)}
	if nPct > 0 {
		out["mape"] = pct / float64(nPct)
	}
	if nScaled > 0 {
		out["mase"] = scaled / float64(nScaled)
	}
	return out, nil
}

// holtSeriesOf maps each series of d to the model's series.
func holtSeriesOf(fn string, m *Model, f *holtFitted, d *holtData) ([]int, error) {
	out := make([]int, len(d.rows))
	if d.series == nil {
		return out, nil
	}
	stored := map[string]int{}
	nullSeries := -1
	for s, r := range f.keyRows {
		if f.series.Null(r) {
			nullSeries = s
		} else {
			stored[f.series.Text(r)] = s
		}
	}
	for g, rows := range d.rows {
		s, ok := stored[d.series.Text(rows[0])]
		if d.series.Null(rows[0]) {
			s, ok = nullSeries, nullSeries >= 0
		}
		if !ok {
			return nil, &Error{Code: "22023", Message: fmt.Sprintf("flywheel.%s: input: %snot a series of model %q", fn, d.seriesLabel(g), m.Name),
				Hint: "A model knows the series it was trained on; train a new version to add one."}
		}
		out[g] = s
	}
	return out, nil
}

// holtSplit holds out the last share of each series' observations (by
// time): a forecast model is measured on what comes after its data. Every
// series keeps at least 4 observations to fit on.
func holtSplit(rel *Relation, share float64) (train, test *Relation) {
	d, err := readHolt("train", &Call{Values: map[string]any{"input": rel}}, holtForecastColumns)
	if err != nil {
		// Both halves as they are: the fit then reports the input's
		// problem itself.
		return rel, rel
	}
	var in, out []int
	for _, rows := range d.rows {
		cut := len(rows) - int(math.Round(share*float64(len(rows))))
		cut = max(cut, min(4, len(rows)))
		in = append(in, rows[:cut]...)
		out = append(out, rows[cut:]...)
	}
	return subset(rel, in), subset(rel, out)
}
