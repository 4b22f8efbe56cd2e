package catalog

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// seedUserData is SEED_EXAMPLES.md section 5 as user_data would send it.
func seedUserData() *Relation {
	return textRelation([]InputColumn{
		{Name: "user_id", Type: 23},
		{Name: "purchase_frequency", Type: 23},
		{Name: "avg_spend", Type: 1700},
		{Name: "last_purchase_days_ago", Type: 23},
	},
		[]string{"1", "5", "500.00", "10"},
		[]string{"2", "2", "100.00", "40"},
		[]string{"3", "10", "1200.00", "5"},
		[]string{"4", "1", "50.00", "90"},
		[]string{"5", "4", "300.00", "20"},
	)
}

func TestKMeansSeedExample(t *testing.T) {
	rel := seedUserData()
	res, err := runCall(t, KMeans(), map[string]any{"input": rel, "k": int64(3)})
	if err != nil {
		t.Fatal(err)
	}
	key := res.Columns[0]
	if key.Name != "user_id" || key.Type != 23 || key.From != rel.Columns[0] || !slices.Equal(key.Rows, []int{0, 1, 2, 3, 4}) {
		t.Errorf("key column %+v does not pass user_id through", key.OutputColumn)
	}
	// users 1,5 -> 0; 2,4 -> 1; 3 -> 2
	if got := res.Columns[1].Ints; !slices.Equal(got, []int64{0, 1, 2, 1, 0}) {
		t.Errorf("clusters %v, want [0 1 2 1 0]", got)
	}
	inertia := 0.0
	for _, d := range res.Columns[2].Floats {
		inertia += d * d
	}
	if math.Abs(inertia-22551.0) > 1e-8 {
		t.Errorf("sum of squared distances %v, want inertia 22551.0", inertia)
	}

	res, err = runCall(t, KMeans(), map[string]any{"input": rel, "k": int64(3), "scale": "standard"})
	if err != nil {
		t.Fatal(err)
	}
	// {1,2,5} {3} {4}
	if got := res.Columns[1].Ints; !slices.Equal(got, []int64{0, 0, 1, 2, 0}) {
		t.Errorf("standard: clusters %v, want [0 0 1 2 0]", got)
	}
	inertia = 0
	for _, d := range res.Columns[2].Floats {
		inertia += d * d
	}
	if math.Abs(inertia-1.423229284449488) > 1e-12 {
		t.Errorf("standard: inertia %.17g, want 1.423229284449488", inertia)
	}
}

func TestKMeansCentersSeedExample(t *testing.T) {
	res, err := runCall(t, KMeansCenters(), map[string]any{"input": seedUserData(), "k": int64(3)})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, c := range res.Columns {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"cluster", "size", "purchase_frequency", "avg_spend", "last_purchase_days_ago"}) {
		t.Fatalf("columns %v", names)
	}
	if res.Columns[0].Type != 23 || res.Columns[1].Type != 20 || res.Columns[2].Type != 701 {
		t.Errorf("column types %d %d %d, want 23 20 701", res.Columns[0].Type, res.Columns[1].Type, res.Columns[2].Type)
	}
	if !slices.Equal(res.Columns[0].Ints, []int64{0, 1, 2}) || !slices.Equal(res.Columns[1].Ints, []int64{2, 2, 1}) {
		t.Errorf("clusters %v sizes %v", res.Columns[0].Ints, res.Columns[1].Ints)
	}
	want := [][]float64{{4.5, 1.5, 10}, {400, 75, 1200}, {15, 65, 5}} // by feature
	for j, w := range want {
		got := res.Columns[2+j].Floats
		for c := range w {
			if math.Abs(got[c]-w[c]) > 1e-9 {
				t.Errorf("%s = %v, want %v", res.Columns[2+j].Name, got, w)
				break
			}
		}
	}
}

func TestKMeansAdapterErrors(t *testing.T) {
	good := seedUserData()
	text := textRelation([]InputColumn{{Name: "id", Type: 23}, {Name: "name", Type: 25}}, []string{"1", "a"})
	keyOnly := textRelation([]InputColumn{{Name: "id", Type: 23}}, []string{"1"})
	withNull := textRelation([]InputColumn{{Name: "id", Type: 25}, {Name: "x", Type: 701}},
		[]string{"a", "1"}, []string{"b", "NULL"}, []string{"c", "3"})
	withNaN := textRelation([]InputColumn{{Name: "id", Type: 25}, {Name: "x", Type: 701}},
		[]string{"a", "1"}, []string{"b", "NaN"})
	dup := textRelation([]InputColumn{{Name: "id", Type: 25}, {Name: "x", Type: 701}},
		[]string{"a", "1"}, []string{"b", "1"}, []string{"c", "2"})
	empty := textRelation([]InputColumn{{Name: "id", Type: 25}, {Name: "x", Type: 701}})
	clash := textRelation([]InputColumn{{Name: "cluster", Type: 23}, {Name: "x", Type: 701}}, []string{"1", "1"})

	for _, c := range []struct {
		name string
		f    *Func
		vals map[string]any
		arg  string // ArgError's Arg, or "" for a TypeError
	}{
		{"text feature", KMeans(), map[string]any{"input": text, "k": int64(1)}, ""},
		{"no features", KMeansCenters(), map[string]any{"input": keyOnly, "k": int64(1)}, ""},
		{"key named cluster", KMeans(), map[string]any{"input": clash, "k": int64(1)}, ""},
		{"k zero", KMeans(), map[string]any{"input": good, "k": int64(0)}, "k"},
		{"k above rows", KMeans(), map[string]any{"input": good, "k": int64(6)}, "k"},
		{"k above distinct", KMeans(), map[string]any{"input": dup, "k": int64(3)}, "k"},
		{"k NULL", KMeans(), map[string]any{"input": good, "k": nil}, "k"},
		{"n_init", KMeans(), map[string]any{"input": good, "k": int64(2), "n_init": int64(0)}, "n_init"},
		{"max_iter", KMeans(), map[string]any{"input": good, "k": int64(2), "max_iter": int64(-5)}, "max_iter"},
		{"scale", KMeansCenters(), map[string]any{"input": good, "k": int64(2), "scale": "zscore"}, "scale"},
		{"null value", KMeans(), map[string]any{"input": withNull, "k": int64(1)}, "input"},
		{"nan value", KMeans(), map[string]any{"input": withNaN, "k": int64(1)}, "input"},
		{"empty", KMeans(), map[string]any{"input": empty, "k": int64(1)}, "input"},
	} {
		_, err := runCall(t, c.f, c.vals)
		checkCallError(t, c.name, err, c.arg, "")
	}
	// The error names the row.
	_, err := runCall(t, KMeans(), map[string]any{"input": withNull, "k": int64(1)})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("NULL error %q should name row 2 and column x", err)
	}
}
