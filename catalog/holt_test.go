package catalog

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

var seedMonths = []string{"2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
	"2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31"}
var seedSales = []string{"200", "220", "240", "260", "250", "300", "320", "340", "360", "380", "400", "420"}

// seedMonthlySales is SEED_EXAMPLES.md section 6 as (SELECT month, sales
// FROM monthly_sales) sends it, rows deliberately out of order.
func seedMonthlySales() *Relation {
	cols := []InputColumn{{Name: "month", Type: 1082}, {Name: "sales", Type: 1700}}
	var rows [][]string
	for _, i := range []int{5, 0, 11, 3, 7, 1, 9, 2, 10, 4, 8, 6} {
		rows = append(rows, []string{seedMonths[i], seedSales[i]})
	}
	return textRelation(cols, rows...)
}

func TestHoltForecastSeedExample(t *testing.T) {
	res, err := runCall(t, HoltForecast(), map[string]any{"input": seedMonthlySales(), "horizon": int64(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 4 {
		t.Fatalf("%d columns, want month, forecast, lower, upper", len(res.Columns))
	}
	ts := res.Columns[0]
	if ts.Name != "month" || ts.Type != 1082 {
		t.Errorf("time column %+v, want month of type date", ts.OutputColumn)
	}
	wantTS := []string{"2024-01-31", "2024-02-29", "2024-03-31"}
	wantFC := []float64{439.545451, 459.860136, 480.174820}
	for i := range wantTS {
		if ts.Texts[i] != wantTS[i] {
			t.Errorf("row %d: month %s, want %s", i+1, ts.Texts[i], wantTS[i])
		}
		fc, lo, hi := res.Columns[1].Floats[i], res.Columns[2].Floats[i], res.Columns[3].Floats[i]
		if math.Abs(fc-wantFC[i]) > 1e-4 {
			t.Errorf("row %d: forecast %.7f, want %.6f within 1e-4", i+1, fc, wantFC[i])
		}
		// alpha = beta = 0: the interval is forecast ± 1.96*sqrt(SSE/12).
		half := 1.959963984540054 * math.Sqrt(810.8391608391617/12)
		if math.Abs(fc-lo-half) > 1e-6 || math.Abs(hi-fc-half) > 1e-6 {
			t.Errorf("row %d: interval [%g, %g] around %g, want ± %g", i+1, lo, hi, fc, half)
		}
	}
	// A narrower level narrows the interval.
	res80, err := runCall(t, HoltForecast(), map[string]any{"input": seedMonthlySales(), "horizon": int64(3), "level": 0.8})
	if err != nil {
		t.Fatal(err)
	}
	if !(res80.Columns[2].Floats[0] > res.Columns[2].Floats[0]) {
		t.Errorf("80%% lower bound %g not above the 95%% one %g", res80.Columns[2].Floats[0], res.Columns[2].Floats[0])
	}
}

func TestHoltFitSeedExample(t *testing.T) {
	res, err := runCall(t, HoltFit(), map[string]any{"input": seedMonthlySales()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) (float64, bool) {
		for _, c := range res.Columns {
			if c.Name == name {
				if c.Type != 701 || len(c.Floats) != 1 {
					t.Fatalf("column %s: %+v", name, c)
				}
				return c.Floats[0], c.Nulls != nil && c.Nulls[0]
			}
		}
		t.Fatalf("no column %s", name)
		return 0, false
	}
	for _, name := range []string{"gamma", "phi"} {
		if _, null := get(name); !null {
			t.Errorf("%s is not NULL for a model without it", name)
		}
	}
	for _, c := range []struct {
		name      string
		want, tol float64
	}{
		{"alpha", 0, 1e-6}, {"beta", 0, 1e-6},
		{"initial_level", 175.4545454545, 1e-6}, {"initial_trend", 20.3146853147, 1e-6},
		{"sse", 810.8391608, 1e-6}, {"aic", 58.5579567516, 1e-6},
	} {
		v, null := get(c.name)
		if null || math.Abs(v-c.want) > c.tol {
			t.Errorf("%s = %.10g (null %v), want %.10g", c.name, v, null, c.want)
		}
	}
	if sse, _ := get("sse"); sse > 810.8391737 {
		t.Errorf("SSE %.10g worse than statsmodels' 810.8391737", sse)
	}
}

// Several series in one call: a text key, integer time, rows shuffled.
// Each series' forecast equals the one it gets alone.
func TestHoltForecastManySeries(t *testing.T) {
	cols := []InputColumn{{Name: "store", Type: 25}, {Name: "week", Type: 23}, {Name: "units", Type: 701}}
	var rows [][]string
	alone := map[string]*Relation{}
	for _, store := range []string{"west", "east", "north"} {
		var own [][]string
		for w := 0; w < 20; w++ {
			v := 50 + float64(len(store)*w) + 7*math.Sin(float64(w*len(store)))
			r := []string{store, strconv.Itoa(100 + 2*w), strconv.FormatFloat(v, 'g', -1, 64)}
			rows = append(rows, r)
			own = append(own, r[1:])
		}
		alone[store] = textRelation(cols[1:], own...)
	}
	// Interleave and reverse.
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	in := textRelation(cols, rows...)
	res, err := runCall(t, HoltForecast(), map[string]any{"input": in, "horizon": int64(2), "damped": true})
	if err != nil {
		t.Fatal(err)
	}
	key := res.Columns[0]
	if key.From != in.Columns[0] || key.Name != "store" || key.Type != 25 {
		t.Fatalf("series column %+v does not pass the input's through", key.OutputColumn)
	}
	wantOrder := []string{"east", "east", "north", "north", "west", "west"}
	for i, w := range wantOrder {
		got := key.From.Text(key.Rows[i])
		if got != w {
			t.Errorf("row %d: series %s, want %s", i+1, got, w)
		}
		if want := strconv.Itoa(140 + 2*(i%2)); res.Columns[1].Texts[i] != want || res.Columns[1].Type != 23 {
			t.Errorf("row %d: week %s (type %d), want %s (integer)", i+1, res.Columns[1].Texts[i], res.Columns[1].Type, want)
		}
	}
	for i := 0; i < len(wantOrder); i += 2 {
		one, err := runCall(t, HoltForecast(), map[string]any{"input": alone[wantOrder[i]], "horizon": int64(2), "damped": true})
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 2; k++ {
			for c := 1; c <= 3; c++ {
				if got, want := res.Columns[c+1].Floats[i+k], one.Columns[c].Floats[k]; got != want {
					t.Errorf("%s step %d %s: %g in the batch, %g alone", wantOrder[i], k+1, res.Columns[c+1].Name, got, want)
				}
			}
		}
	}

	fit, err := runCall(t, HoltFit(), map[string]any{"input": in, "trend": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Columns[0].Len() != 3 || fit.Columns[0].Name != "store" {
		t.Fatalf("holt_fit: %d rows, first column %q", fit.Columns[0].Len(), fit.Columns[0].Name)
	}
	for _, name := range []string{"beta", "initial_trend", "gamma", "phi"} {
		for _, c := range fit.Columns {
			if c.Name == name && (c.Nulls == nil || !c.Nulls[0] || !c.Nulls[2]) {
				t.Errorf("%s not NULL without a trend", name)
			}
		}
	}
}

func TestHoltForecastTimestamps(t *testing.T) {
	cases := []struct {
		oid  uint32
		in   []string
		want []string
	}{
		{1114, []string{"2024-01-01 22:00:00", "2024-01-01 23:00:00", "2024-01-02 00:00:00"}, []string{"2024-01-02 01:00:00", "2024-01-02 02:00:00"}},
		{1184, []string{"2024-01-31 00:00:00+00", "2024-02-29 00:00:00+00", "2024-03-31 00:00:00+00"}, []string{"2024-04-30 00:00:00+00", "2024-05-31 00:00:00+00"}},
		{1184, []string{"2024-03-01 09:00:00+05:30", "2024-03-08 09:00:00+05:30"}, []string{"2024-03-15 09:00:00+05:30", "2024-03-22 09:00:00+05:30"}},
		{1082, []string{"2020-01-01", "2021-01-01", "2022-01-01"}, []string{"2023-01-01", "2024-01-01"}},
		{20, []string{"10", "20", "30"}, []string{"40", "50"}},
	}
	for _, c := range cases {
		var rows [][]string
		for i, ts := range c.in {
			rows = append(rows, []string{ts, strconv.Itoa(10 + i)})
		}
		in := textRelation([]InputColumn{{Name: "t", Type: c.oid}, {Name: "v", Type: 23}}, rows...)
		res, err := runCall(t, HoltForecast(), map[string]any{"input": in, "horizon": int64(2)})
		if err != nil {
			t.Errorf("%v: %v", c.in, err)
			continue
		}
		got := res.Columns[0].Texts
		if res.Columns[0].Type != c.oid || len(got) != 2 || got[0] != c.want[0] || got[1] != c.want[1] {
			t.Errorf("%v: continued as %v (type %d), want %v", c.in, got, res.Columns[0].Type, c.want)
		}
	}
}

func TestHoltBadInput(t *testing.T) {
	dateVal := []InputColumn{{Name: "d", Type: 1082}, {Name: "v", Type: 701}}
	seedRows := func(edit func(rows [][]string) [][]string) *Relation {
		var rows [][]string
		for i := range seedMonths {
			rows = append(rows, []string{seedMonths[i], seedSales[i]})
		}
		return textRelation(dateVal, edit(rows)...)
	}
	same := func(r [][]string) [][]string { return r }
	cases := []struct {
		name string
		f    *Func
		vals map[string]any
		arg  string // ArgError argument; "" for a TypeError
		msg  string
	}{
		{"empty", HoltForecast(), map[string]any{"input": textRelation(dateVal), "horizon": int64(3)}, "input", "empty"},
		{"empty fit", HoltFit(), map[string]any{"input": textRelation(dateVal)}, "input", "empty"},
		{"single row", HoltForecast(), map[string]any{"input": textRelation(dateVal, []string{"2024-01-01", "3"}), "horizon": int64(3)}, "input", "single row"},
		{"irregular", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[6][0] = "2023-07-15" // input row 7
			return r
		}), "horizon": int64(3)}, "input", "row 7: irregular"},
		{"duplicate", HoltFit(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[4][0] = r[3][0] // input row 5 repeats row 4's month
			return r
		})}, "input", "row 5: duplicate"},
		{"NaN", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[2][1] = "NaN"
			return r
		}), "horizon": int64(3)}, "input", "row 3"},
		{"NULL value", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[8][1] = "NULL"
			return r
		}), "horizon": int64(3)}, "input", "row 9"},
		{"NULL time", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[1][0] = "NULL"
			return r
		}), "horizon": int64(3)}, "input", "row 2"},
		{"non-positive with mul", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[10][1] = "-5"
			return r
		}), "horizon": int64(3), "trend": "mul"}, "input", "row 11"},
		{"DateStyle German", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[0][0] = "31.01.2023" // as SET DateStyle TO German prints it
			return r
		}), "horizon": int64(3)}, "input", "SET DateStyle TO ISO"},
		{"infinity", HoltForecast(), map[string]any{"input": seedRows(func(r [][]string) [][]string {
			r[11][0] = "infinity"
			return r
		}), "horizon": int64(3)}, "input", "row 12: column \"d\": infinity is not a finite date"},
		{"short for season", HoltForecast(), map[string]any{"input": seedRows(same), "horizon": int64(3), "seasonal": "add", "seasonal_periods": int64(12)}, "input", "two full periods"},
		{"horizon 0", HoltForecast(), map[string]any{"input": seedRows(same), "horizon": int64(0)}, "horizon", ""},
		{"horizon negative", HoltForecast(), map[string]any{"input": seedRows(same), "horizon": int64(-2)}, "horizon", ""},
		{"level 1", HoltForecast(), map[string]any{"input": seedRows(same), "horizon": int64(3), "level": 1.0}, "level", ""},
		{"bad trend", HoltFit(), map[string]any{"input": seedRows(same), "trend": "quadratic"}, "trend", ""},
		{"bad seasonal", HoltFit(), map[string]any{"input": seedRows(same), "seasonal": "yes"}, "seasonal", ""},
		{"period 1", HoltFit(), map[string]any{"input": seedRows(same), "seasonal": "add", "seasonal_periods": int64(1)}, "seasonal_periods", ""},
		{"damped without trend", HoltFit(), map[string]any{"input": seedRows(same), "trend": "none", "damped": true}, "damped", ""},
		{"alpha out of range", HoltFit(), map[string]any{"input": seedRows(same), "alpha": 1.2}, "alpha", ""},
		{"phi without damping", HoltFit(), map[string]any{"input": seedRows(same), "phi": 0.9}, "phi", ""},
		{"text value", HoltFit(), map[string]any{"input": textRelation([]InputColumn{{Name: "d", Type: 1082}, {Name: "v", Type: 25}}, []string{"2024-01-01", "x"})}, "", "v"},
		{"text time", HoltFit(), map[string]any{"input": textRelation([]InputColumn{{Name: "d", Type: 25}, {Name: "v", Type: 701}}, []string{"x", "1"})}, "", "d"},
		{"four columns", HoltFit(), map[string]any{"input": textRelation([]InputColumn{{Name: "a", Type: 25}, {Name: "b", Type: 25}, {Name: "d", Type: 1082}, {Name: "v", Type: 701}})}, "", "input"},
		{"name clash", HoltForecast(), map[string]any{"input": textRelation([]InputColumn{{Name: "forecast", Type: 25}, {Name: "d", Type: 1082}, {Name: "v", Type: 701}}), "horizon": int64(1)}, "", "forecast"},
	}
	for _, c := range cases {
		_, err := runCall(t, c.f, c.vals)
		checkCallError(t, c.name, err, c.arg, c.msg)
	}
}

// A failing series is named by its key.
func TestHoltErrorNamesSeries(t *testing.T) {
	cols := []InputColumn{{Name: "sku", Type: 23}, {Name: "d", Type: 1082}, {Name: "v", Type: 701}}
	rows := [][]string{
		{"7", "2024-01-01", "1"}, {"7", "2024-01-02", "2"}, {"7", "2024-01-03", "3"},
		{"9", "2024-01-01", "1"}, {"9", "2024-01-02", "2"}, {"9", "2024-01-04", "3"},
	}
	_, err := runCall(t, HoltForecast(), map[string]any{"input": textRelation(cols, rows...), "horizon": int64(1)})
	var ae *ArgError
	if !errors.As(err, &ae) || !strings.Contains(ae.Msg, `series "9"`) || !strings.Contains(ae.Msg, "row 6") {
		t.Errorf("error %v, want series \"9\" row 6 named", err)
	}
}

func TestHoltCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := HoltFit()
	call := &Call{Func: f, Values: map[string]any{}}
	for _, a := range f.Args {
		call.Values[a.Name] = a.Default
	}
	call.Values["input"] = seedMonthlySales()
	if _, err := f.Run(ctx, call); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
