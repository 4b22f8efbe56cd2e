package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/functions"
)

// trainModel fits kind as flywheel.train does (the kind's defaults, then
// vals) and decodes the state as the store does.
func trainModel(t *testing.T, kind string, vals map[string]any) *Model {
	t.Helper()
	k, ok := modelKinds()[kind]
	if !ok {
		t.Fatalf("no kind %q", kind)
	}
	fn := k.fn()
	call := &Call{Func: fn, Values: map[string]any{}}
	for _, a := range fn.Args {
		if !a.Relation {
			call.Values[a.Name] = a.Default
		}
	}
	for n, v := range vals {
		call.Values[n] = v
	}
	rel := call.Values[k.input].(*Relation)
	f, err := k.fit(context.Background(), call)
	if err != nil {
		t.Fatalf("train %s: %v", kind, err)
	}
	m := &Model{Name: "m", Kind: kind, Version: 1}
	for _, c := range rel.Columns {
		m.Inputs = append(m.Inputs, c.InputColumn)
	}
	if err := DecodeModel(m, f.state); err != nil {
		t.Fatalf("decode %s: %v", kind, err)
	}
	// Every truncation of the state fails to decode, and none panics.
	for n := 0; n < len(f.state); n += 1 + len(f.state)/50 {
		c := *m
		if err := DecodeModel(&c, f.state[:n]); err == nil {
			t.Errorf("%s: state truncated to %d of %d bytes decoded", kind, n, len(f.state))
		}
	}
	return m
}

// predictModel calls fn with model m as the planner does: defaults, vals,
// and checks ModelColumns agrees with the result.
func predictModel(t *testing.T, fn *Func, m *Model, vals map[string]any) (*Result, error) {
	t.Helper()
	call := &Call{Func: fn, Values: map[string]any{}, Model: m}
	var inputs [][]InputColumn
	for _, a := range fn.Args {
		if a.Relation {
			inputs = append(inputs, nil)
			continue
		}
		call.Values[a.Name] = a.Default
	}
	call.Values["model"] = m.Name
	for n, v := range vals {
		call.Values[n] = v
	}
	want, colErr := fn.ModelColumns(m, inputs)
	res, err := fn.Run(context.Background(), call)
	if err != nil {
		return nil, err
	}
	if colErr != nil {
		t.Fatalf("ModelColumns failed (%v) but Run succeeded", colErr)
	}
	if len(res.Columns) != len(want) {
		t.Fatalf("Run gave %d columns, ModelColumns %d", len(res.Columns), len(want))
	}
	for i, c := range res.Columns {
		if c.OutputColumn != want[i] {
			t.Errorf("column %d: Run %+v, ModelColumns %+v", i, c.OutputColumn, want[i])
		}
		if c.Len() != res.Columns[0].Len() {
			t.Errorf("column %q has %d values, column 0 has %d", c.Name, c.Len(), res.Columns[0].Len())
		}
	}
	return res, nil
}

// resultTable renders a result exactly (floats by their bits' shortest
// form), header first.
func resultTable(res *Result) string {
	var b strings.Builder
	for i, c := range res.Columns {
		if i > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "%s:%d", c.Name, c.Type)
	}
	for r := 0; r < res.Columns[0].Len(); r++ {
		b.WriteByte('\n')
		for i, c := range res.Columns {
			if i > 0 {
				b.WriteByte('|')
			}
			switch {
			case c.Nulls != nil && c.Nulls[r]:
				b.WriteString("NULL")
			case c.From != nil:
				if c.From.Null(c.Rows[r]) {
					b.WriteString("NULL")
				} else {
					b.WriteString(c.From.Text(c.Rows[r]))
				}
			case c.Floats != nil:
				b.WriteString(strconv.FormatFloat(c.Floats[r], 'g', -1, 64))
			case c.Ints != nil:
				b.WriteString(strconv.FormatInt(c.Ints[r], 10))
			default:
				b.WriteString(c.Texts[r])
			}
		}
	}
	return b.String()
}

// sameResult checks a prediction from a model against the one-shot call.
func sameResult(t *testing.T, name string, model, inline *Result) {
	t.Helper()
	got, want := resultTable(model), resultTable(inline)
	if got != want {
		t.Errorf("%s: the model gives\n%s\nthe one-shot call\n%s", name, got, want)
	}
	if model.Columns[0].Len() == 0 {
		t.Errorf("%s: no rows", name)
	}
}

// holtSeries is three series (one with a NULL key) of monthly timestamptz
// values, rows out of order.
func holtSeries() *Relation {
	cols := []InputColumn{{Name: "region", Type: 25}, {Name: "at", Type: 1184}, {Name: "units", Type: 701}}
	var rows [][]string
	for si, region := range []string{"west", "NULL", "east"} {
		for m := 0; m < 24; m++ {
			at := fmt.Sprintf("%04d-%02d-31 10:00:00+05:30", 2022+m/12, m%12+1)
			if m%12+1 == 2 {
				at = fmt.Sprintf("%04d-02-28 10:00:00+05:30", 2022+m/12)
			}
			if d := []int{4, 6, 9, 11}; slices.Contains(d, m%12+1) {
				at = fmt.Sprintf("%04d-%02d-30 10:00:00+05:30", 2022+m/12, m%12+1)
			}
			v := 100 + float64(si*10+m*(si+1)) + 8*math.Sin(float64(m)*math.Pi/6)
			rows = append(rows, []string{region, at, strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	slices.Reverse(rows)
	return textRelation(cols, rows...)
}

func TestHoltForecastModel(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *Relation
		opts map[string]any
	}{
		{"seed", seedMonthlySales(), nil},
		{"series", holtSeries(), map[string]any{"seasonal": "add", "seasonal_periods": int64(12), "damped": true}},
		{"mul", holtSeries(), map[string]any{"trend": "mul", "seasonal": "mul", "seasonal_periods": int64(4)}},
		{"int", textRelation([]InputColumn{{Name: "t", Type: 20}, {Name: "y", Type: 701}},
			[]string{"10", "1"}, []string{"13", "2.5"}, []string{"16", "2"}, []string{"19", "4"}), map[string]any{"alpha": 0.5}},
	} {
		train := map[string]any{"input": c.in}
		for k, v := range c.opts {
			train[k] = v
		}
		m := trainModel(t, "holt_forecast", train)
		for _, level := range []float64{0.95, 0.8} {
			got, err := predictModel(t, HoltForecast(), m, map[string]any{"horizon": int64(5), "level": level})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			one := map[string]any{"horizon": int64(5), "level": level}
			for k, v := range train {
				one[k] = v
			}
			want, err := runCall(t, HoltForecast(), one)
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, c.name+" forecast", got, want)
		}
		got, err := predictModel(t, HoltFit(), m, nil)
		if err != nil {
			t.Fatalf("%s: holt_fit: %v", c.name, err)
		}
		want, err := runCall(t, HoltFit(), train)
		if err != nil {
			t.Fatal(err)
		}
		sameResult(t, c.name+" holt_fit", got, want)
	}
}

func TestHoltModelSeries(t *testing.T) {
	m := trainModel(t, "holt_forecast", map[string]any{"input": holtSeries()})
	one, err := runCall(t, HoltForecast(), map[string]any{"input": holtSeries(), "horizon": int64(2), "series": "east"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := predictModel(t, HoltForecast(), m, map[string]any{"horizon": int64(2), "series": "east"})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "series east", got, one)
	if tab := resultTable(got); strings.Count(tab, "\neast|") != 2 || strings.Contains(tab, "west") {
		t.Errorf("series => 'east' gave\n%s", tab)
	}
	// The one-shot call's pick equals its full result's rows of the series.
	all, err := runCall(t, HoltForecast(), map[string]any{"input": holtSeries(), "horizon": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resultTable(all), strings.SplitN(resultTable(one), "\n", 2)[1]) {
		t.Errorf("picked series\n%s\nis not in the full result\n%s", resultTable(one), resultTable(all))
	}
	for _, v := range []any{"south", "NULL"} {
		got, err := predictModel(t, HoltForecast(), m, map[string]any{"horizon": int64(2), "series": v})
		if err != nil {
			t.Fatal(err)
		}
		if n := got.Columns[0].Len(); n != 0 {
			t.Errorf("series %v: %d rows, want none", v, n)
		}
	}
	// Integer time (as holt_test's stores): the pick keeps each series' end.
	stores := func() *Relation {
		var rows [][]string
		for _, store := range []string{"west", "east", "north"} {
			for w := 0; w < 12; w++ {
				rows = append(rows, []string{store, strconv.Itoa(100 + 2*w), strconv.Itoa(50 + len(store)*w + w*w%7)})
			}
		}
		return textRelation([]InputColumn{{Name: "store", Type: 25}, {Name: "week", Type: 23}, {Name: "units", Type: 701}}, rows...)
	}
	im := trainModel(t, "holt_forecast", map[string]any{"input": stores()})
	got, err = predictModel(t, HoltForecast(), im, map[string]any{"horizon": int64(3), "series": "north"})
	if err != nil {
		t.Fatal(err)
	}
	one, err = runCall(t, HoltForecast(), map[string]any{"input": stores(), "horizon": int64(3), "series": "north"})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "integer time, series north", got, one)
	single := trainModel(t, "holt_forecast", map[string]any{"input": seedMonthlySales()})
	_, err = predictModel(t, HoltForecast(), single, map[string]any{"horizon": int64(2), "series": "east"})
	checkCallError(t, "series of a model without one", err, "series", "no series column")
	_, err = predictModel(t, HoltForecast(), single, map[string]any{"horizon": int64(0)})
	checkCallError(t, "horizon 0", err, "horizon", "between")
}

func TestSimilarItemsModel(t *testing.T) {
	m := trainModel(t, "similar_items", map[string]any{"input": seedProducts()})
	for _, item := range []any{nil, int64(1), int64(3), "2"} {
		for _, n := range []int64{1, 2, 10} {
			got, err := predictModel(t, SimilarItems(), m, map[string]any{"item": item, "n": n})
			if err != nil {
				t.Fatal(err)
			}
			want, err := runCall(t, SimilarItems(), map[string]any{"input": seedProducts(), "item": item, "n": n})
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, fmt.Sprintf("item %v n %d", item, n), got, want)
		}
	}
	got, err := predictModel(t, SimilarItems(), m, map[string]any{"item": int64(9)})
	if err != nil || got.Columns[0].Len() != 0 {
		t.Errorf("unknown item: %v, %d rows, want none", err, got.Columns[0].Len())
	}
	_, err = predictModel(t, SimilarItems(), m, map[string]any{"item": int64(1), "n": int64(0)})
	checkCallError(t, "n 0", err, "n", "at least 1")
}

func TestNMFModel(t *testing.T) {
	for _, opts := range []map[string]any{
		{"k": int64(2)},
		{"k": int64(2), "init": "random", "seed": int64(0)},
		{"k": int64(3), "alpha_w": 0.01, "l1_ratio": 0.5, "max_iter": int64(50)},
	} {
		train := map[string]any{"input": seedNMFRelation(false)}
		for k, v := range opts {
			train[k] = v
		}
		m := trainModel(t, "nmf", train)
		for _, missing := range []bool{false, true} {
			got, err := predictModel(t, NMF(), m, map[string]any{"only_missing": missing})
			if err != nil {
				t.Fatal(err)
			}
			one := map[string]any{"only_missing": missing}
			for k, v := range train {
				one[k] = v
			}
			want, err := runCall(t, NMF(), one)
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, fmt.Sprintf("%v only_missing %t", opts, missing), got, want)
		}
	}
}

func TestModelKindErrors(t *testing.T) {
	nmfModel := trainModel(t, "nmf", map[string]any{"input": seedNMFRelation(false), "k": int64(2)})
	for _, fn := range []*Func{HoltForecast(), HoltFit(), SimilarItems()} {
		var ce *Error
		if _, err := fn.ModelColumns(nmfModel, [][]InputColumn{nil}); !errors.As(err, &ce) || ce.Code != "42809" {
			t.Errorf("%s with an nmf model: %v, want 42809", fn.Name, err)
		}
	}
	holt := trainModel(t, "holt_forecast", map[string]any{"input": seedMonthlySales()})
	var ce *Error
	if _, err := NMF().ModelColumns(holt, [][]InputColumn{nil}); !errors.As(err, &ce) || ce.Code != "42809" {
		t.Errorf("nmf with a holt model: %v, want 42809", err)
	}
	// A wrong-shaped training input is the one-shot call's 42804.
	k := modelKinds()
	for kind, in := range map[string]*Relation{
		"holt_forecast": textRelation([]InputColumn{{Name: "t", Type: 25}, {Name: "y", Type: 701}}, []string{"a", "1"}),
		"similar_items": textRelation([]InputColumn{{Name: "id", Type: 23}, {Name: "n", Type: 23}}, []string{"1", "1"}),
		"nmf":           textRelation([]InputColumn{{Name: "r", Type: 23}, {Name: "c", Type: 23}}, []string{"1", "1"}),
	} {
		fn := k[kind].fn()
		call := &Call{Func: fn, Values: map[string]any{"input": in, "k": int64(1)}}
		for _, a := range fn.Args {
			if _, ok := call.Values[a.Name]; !ok && !a.Relation {
				call.Values[a.Name] = a.Default
			}
		}
		_, err := k[kind].fit(context.Background(), call)
		var te *TypeError
		if !errors.As(err, &te) {
			t.Errorf("train %s on a wrong shape: %v, want a TypeError", kind, err)
		}
	}
	// Another kind's state under this kind's name is refused.
	b, _ := (&functions.NMFModel{Rows: 1, Cols: 1, K: 1, W: []float64{1}, H: []float64{1}}).MarshalBinary()
	if err := DecodeModel(&Model{Kind: "nmf", Inputs: nmfInputCols}, b); err == nil {
		t.Error("an NMFModel state decoded as an nmf model")
	}
}

// TestPositionalWithModel: a call naming a model fills its positional
// arguments past the arguments of fitting.
func TestPositionalWithModel(t *testing.T) {
	names := func(f *Func, withModel bool) string {
		var out []string
		for _, i := range f.Positional(withModel) {
			out = append(out, f.Args[i].Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		f    *Func
		want string
	}{
		{SimilarItems(), "item,n,model"},
		{HoltForecast(), "horizon,level,series,model"},
		{HoltFit(), "series,model"},
		{NMF(), "only_missing,model"},
		{KMeans(), "input,model"},
		{SGDRegress(), "predict,model"},
	} {
		if got := names(c.f, true); got != c.want {
			t.Errorf("%s with a model: positional %s, want %s", c.f.Name, got, c.want)
		}
		if got := c.f.Positional(false); len(got) != len(c.f.Args) {
			t.Errorf("%s without a model: %d positional arguments of %d", c.f.Name, len(got), len(c.f.Args))
		}
	}
	// The model argument's documentation lists them.
	for _, f := range []*Func{SimilarItems(), HoltForecast(), HoltFit()} {
		list := strings.TrimSuffix(names(f, true), ",model")
		doc := f.Args[f.argIndex(ModelArg)].Doc
		if !strings.Contains(doc, "("+strings.ReplaceAll(list, ",", ", ")+")") {
			t.Errorf("%s: model's documentation does not list the positional arguments (%s): %s", f.Name, list, doc)
		}
	}
	// A function that cannot predict from a model skips nothing.
	if got := names(KMeansCenters(), true); !strings.HasPrefix(got, "input,k,") {
		t.Errorf("kmeans_centers: positional %s", got)
	}
}

// TestTrainOptions: every kind's fitting option is an argument of train
// of the same type, so train passes it on as the kind reads it.
func TestTrainOptions(t *testing.T) {
	train := Train()
	for name, k := range modelKinds() {
		fn := k.fn()
		if !fn.PredictsFromModel() {
			t.Errorf("kind %s: %s cannot predict from a model", name, fn.Name)
		}
		if i := slices.IndexFunc(fn.Args, func(a Arg) bool { return a.Name == k.input }); i < 0 || !fn.Args[i].Relation {
			t.Errorf("kind %s: input %q is not a relation argument", name, k.input)
		}
		for _, a := range fn.Args {
			if a.Relation || !a.Fit {
				continue
			}
			i := slices.IndexFunc(train.Args, func(b Arg) bool { return b.Name == a.Name })
			if i < 0 {
				t.Errorf("kind %s: option %s is not an argument of train", name, a.Name)
				continue
			}
			if train.Args[i].Type != a.Type {
				t.Errorf("kind %s: option %s is %s, train's %s", name, a.Name, a.Type.Name, train.Args[i].Type.Name)
			}
			if !strings.Contains(train.Args[i].Doc, name+": ") {
				t.Errorf("train's %s does not document kind %s's: %s", a.Name, name, train.Args[i].Doc)
			}
		}
	}
}

// TestHoltStateVersion1 checks that a holt_forecast state of format
// version 1 (before the MASE scales) still decodes and forecasts the same.
func TestHoltStateVersion1(t *testing.T) {
	m := trainModel(t, "holt_forecast", map[string]any{"input": holtSeries(), "damped": true})
	f := m.State.(*holtFitted)
	v1, err := f.encode(1)
	if err != nil {
		t.Fatal(err)
	}
	old := &Model{Name: "m", Kind: "holt_forecast", Version: 1, Inputs: m.Inputs}
	if err := DecodeModel(old, v1); err != nil {
		t.Fatalf("version 1 state: %v", err)
	}
	for s, sc := range old.State.(*holtFitted).scales {
		if !math.IsNaN(sc) {
			t.Fatalf("series %d: a version 1 state has scale %v, want NaN (unknown)", s, sc)
		}
	}
	got, err := predictModel(t, HoltForecast(), old, map[string]any{"horizon": int64(3), "level": 0.9})
	if err != nil {
		t.Fatal(err)
	}
	want, err := predictModel(t, HoltForecast(), m, map[string]any{"horizon": int64(3), "level": 0.9})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "version 1 forecast", got, want)
}
