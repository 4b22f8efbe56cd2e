package catalog

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var nmfInputCols = []InputColumn{{Name: "customer_id", Type: 23}, {Name: "product", Type: 25}, {Name: "rating", Type: 1700}}

// seedNMFRelation is SEED_EXAMPLES.md section 7's matrix as (customer,
// product, rating) rows in row-major order, with or without its zeros
// (not rated).
func seedNMFRelation(zeros bool) *Relation {
	r := [][]string{{"5", "3", "0", "1"}, {"4", "0", "0", "1"}, {"1", "1", "0", "5"}, {"1", "0", "0", "4"}, {"0", "1", "5", "4"}}
	products := []string{"p0", "p1", "p2", "p3"}
	var rows [][]string
	for i, row := range r {
		for j, v := range row {
			if v != "0" || zeros {
				rows = append(rows, []string{string(rune('0' + i)), products[j], v})
			}
		}
	}
	return textRelation(nmfInputCols, rows...)
}

func TestNMFAdapterSeed(t *testing.T) {
	// Listing the zeros keeps the products in matrix order: dense indices
	// follow first appearance, and the random init draws in that order.
	res, err := runCall(t, NMF(), map[string]any{"input": seedNMFRelation(true), "k": int64(2), "init": "random", "seed": int64(0)})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{
		{5.25583751, 1.99314304, 0, 1.45510614},
		{3.50429883, 1.32891643, 0, 0.97018348},
		{1.31291255, 0.9441558, 1.94957474, 3.94614513},
		{0.98126695, 0.72179626, 1.52760301, 3.0788861},
		{0, 0.65008539, 2.83998144, 5.21892451},
	}
	if n := res.Columns[2].Len(); n != 20 {
		t.Fatalf("%d rows, want 20", n)
	}
	for p := 0; p < 20; p++ {
		i, j := p/4, p%4
		if got, w := passedText(&res.Columns[0], p), string(rune('0'+i)); got != w {
			t.Errorf("row %d: customer_id %q, want %q", p, got, w)
		}
		if got, w := passedText(&res.Columns[1], p), "p"+string(rune('0'+j)); got != w {
			t.Errorf("row %d: product %q, want %q", p, got, w)
		}
		if got := res.Columns[2].Floats[p]; math.Abs(got-want[i][j]) > 1e-6 {
			t.Errorf("W·H[%d][%d] = %.9f, want %.8f", i, j, got, want[i][j])
		}
	}
	if res.Columns[0].Name != "customer_id" || res.Columns[0].Type != 23 || res.Columns[1].Name != "product" || res.Columns[1].Type != 25 {
		t.Errorf("key columns %+v %+v", res.Columns[0].OutputColumn, res.Columns[1].OutputColumn)
	}
}

func TestNMFAdapterOnlyMissingAndDefaults(t *testing.T) {
	res, err := runCall(t, NMF(), map[string]any{"input": seedNMFRelation(false), "k": int64(2), "only_missing": true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := 0; p < res.Columns[2].Len(); p++ {
		got = append(got, passedText(&res.Columns[0], p)+"/"+passedText(&res.Columns[1], p))
	}
	want := []string{"0/p2", "1/p1", "1/p2", "2/p2", "3/p1", "3/p2", "4/p0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("missing pairs %v, want %v", got, want)
	}
	// Default init nndsvda: customer 0's unrated p2 predicts ~0 (seed 7).
	if v := res.Columns[2].Floats[0]; math.Abs(v) > 1e-3 {
		t.Errorf("predicted(0, p2) = %v, want ~0", v)
	}
}

func TestNMFAdapterErrors(t *testing.T) {
	neg := textRelation(nmfInputCols, []string{"1", "a", "2"}, []string{"2", "b", "-1"})
	nullKey := textRelation(nmfInputCols, []string{"1", "a", "2"}, []string{"NULL", "b", "1"})
	nullVal := textRelation(nmfInputCols, []string{"1", "a", "2"}, []string{"2", "b", "NULL"})
	dup := textRelation(nmfInputCols, []string{"1", "a", "2"}, []string{"1", "a", "3"})
	cases := []struct {
		name string
		vals map[string]any
		arg  string
		msg  string
	}{
		{"negative", map[string]any{"input": neg, "k": int64(1)}, "input", "row 2: negative value"},
		{"null key", map[string]any{"input": nullKey, "k": int64(1)}, "input", "row 2: NULL"},
		{"null value", map[string]any{"input": nullVal, "k": int64(1)}, "input", "row 2"},
		{"duplicate", map[string]any{"input": dup, "k": int64(1)}, "input", "row 2: the same (row, col) pair already appeared at row 1"},
		{"empty", map[string]any{"input": textRelation(nmfInputCols), "k": int64(1)}, "input", "empty"},
		{"k<1", map[string]any{"input": seedNMFRelation(false), "k": int64(0)}, "k", "at least 1"},
		{"k>min", map[string]any{"input": seedNMFRelation(false), "k": int64(5)}, "k", "min(rows, cols)"},
		{"init", map[string]any{"input": seedNMFRelation(false), "k": int64(2), "init": "svd"}, "init", "nndsvda"},
		{"seed", map[string]any{"input": seedNMFRelation(false), "k": int64(2), "seed": int64(-1)}, "seed", "between"},
		{"max_iter", map[string]any{"input": seedNMFRelation(false), "k": int64(2), "max_iter": int64(0)}, "max_iter", "at least 1"},
	}
	for _, c := range cases {
		_, err := runCall(t, NMF(), c.vals)
		checkCallError(t, c.name, err, c.arg, c.msg)
	}
	_, err := NMF().Columns([][]InputColumn{{{Name: "r", Type: 23}, {Name: "c", Type: 23}, {Name: "v", Type: 25}}})
	var te *TypeError
	if !errors.As(err, &te) || te.Column != "v" {
		t.Errorf("text value column: err = %v, want TypeError on v", err)
	}
	if _, err := NMF().Columns([][]InputColumn{{{Name: "r", Type: 23}}}); !errors.As(err, &te) {
		t.Errorf("one column: err = %v, want TypeError", err)
	}
	// Key columns named alike, or like the computed column, would give the
	// result two columns of one name.
	for _, cols := range [][]InputColumn{
		{{Name: "k", Type: 23}, {Name: "k", Type: 23}, {Name: "v", Type: 701}},
		{{Name: "r", Type: 23}, {Name: "predicted", Type: 23}, {Name: "v", Type: 701}},
	} {
		if _, err := NMF().Columns([][]InputColumn{cols}); !errors.As(err, &te) || !strings.Contains(te.Msg, "two columns of this name") {
			t.Errorf("columns %v: err = %v, want a TypeError about the name clash", cols, err)
		}
	}
}
