package catalog

import (
	"errors"
	"strings"
	"testing"
)

var similarCols = []InputColumn{{Name: "product_id", Type: 23}, {Name: "description", Type: 25}}

// SEED_EXAMPLES.md section 3's dim_product.
func seedProducts() *Relation {
	return textRelation(similarCols,
		[]string{"1", "High-performance laptop"},
		[]string{"2", "Latest smartphone model"},
		[]string{"3", "Affordable tablet"},
		[]string{"4", "High-resolution monitor"})
}

func similarRows(res *Result) string {
	var b strings.Builder
	for i := 0; i < res.Columns[2].Len(); i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(passedText(&res.Columns[0], i) + ">" + passedText(&res.Columns[1], i))
	}
	return b.String()
}

func TestSimilarItemsSeed(t *testing.T) {
	// "Bought the Smartphone (2), you may also like": Laptop, Tablet.
	res, err := runCall(t, SimilarItems(), map[string]any{"input": seedProducts(), "item": int64(2), "n": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := similarRows(res); got != "2>1 2>3" {
		t.Errorf("item 2: %s, want 2>1 2>3", got)
	}
	if res.Columns[2].Floats[0] != 0 || res.Columns[2].Floats[1] != 0 || res.Columns[3].Ints[0] != 1 || res.Columns[3].Ints[1] != 2 {
		t.Errorf("item 2: similarities %v ranks %v, want 0 0 / 1 2", res.Columns[2].Floats, res.Columns[3].Ints)
	}
	if c := res.Columns[0]; c.Name != "item" || c.Type != 23 || res.Columns[1].Name != "similar_item" || res.Columns[1].Type != 23 {
		t.Errorf("key columns %+v %+v", c.OutputColumn, res.Columns[1].OutputColumn)
	}
	// NULL item: every item; laptop and monitor share "high".
	res, err = runCall(t, SimilarItems(), map[string]any{"input": seedProducts(), "item": nil, "n": int64(10)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := similarRows(res), "1>4 1>2 1>3 2>1 2>3 2>4 3>1 3>2 3>4 4>1 4>2 4>3"; got != want {
		t.Errorf("every item: %s, want %s", got, want)
	}
	if s := res.Columns[2].Floats[0]; s != 0.2371049775288231 {
		t.Errorf("similarity(1,4) = %.17g, want 0.2371049775288231", s)
	}
	if s := res.Columns[2].Floats[9]; s != 0.2371049775288231 {
		t.Errorf("similarity(4,1) = %.17g, want 0.2371049775288231", s)
	}
}

func TestSimilarItemsMatching(t *testing.T) {
	// A text argument finds an integer key by its text form; an integer
	// finds a numeric key written 2.0; an unknown item gives no rows.
	res, err := runCall(t, SimilarItems(), map[string]any{"input": seedProducts(), "item": "4", "n": int64(1)})
	if err != nil || similarRows(res) != "4>1" {
		t.Errorf("item '4': %v %v", res, err)
	}
	num := textRelation([]InputColumn{{Name: "id", Type: 1700}, {Name: "d", Type: 1043}}, []string{"1.0", "red car"}, []string{"2.0", "red bike"}, []string{"3.5", "NULL"})
	res, err = runCall(t, SimilarItems(), map[string]any{"input": num, "item": int64(2), "n": int64(5)})
	if err != nil || similarRows(res) != "2.0>1.0 2.0>3.5" {
		t.Errorf("numeric key: %q %v", similarRows(res), err)
	}
	res, err = runCall(t, SimilarItems(), map[string]any{"input": seedProducts(), "item": int64(99)})
	if err != nil || res.Columns[0].Len() != 0 {
		t.Errorf("unknown item: %v rows, %v", res.Columns[0].Len(), err)
	}
	res, err = runCall(t, SimilarItems(), map[string]any{"input": textRelation(similarCols), "item": nil})
	if err != nil || res.Columns[0].Len() != 0 {
		t.Errorf("empty input: %v", err)
	}
}

func TestSimilarItemsErrors(t *testing.T) {
	dup := textRelation(similarCols, []string{"1", "a b"}, []string{"1", "c d"})
	nullKey := textRelation(similarCols, []string{"1", "a b"}, []string{"NULL", "c d"})
	for _, c := range []struct {
		name string
		vals map[string]any
		arg  string
		msg  string
	}{
		{"duplicate", map[string]any{"input": dup, "item": nil}, "input", "row 2: duplicate item"},
		{"null key", map[string]any{"input": nullKey, "item": nil}, "input", "row 2: NULL"},
		{"n", map[string]any{"input": seedProducts(), "item": int64(1), "n": int64(0)}, "n", "at least 1"},
	} {
		_, err := runCall(t, SimilarItems(), c.vals)
		checkCallError(t, c.name, err, c.arg, c.msg)
	}
	var te *TypeError
	if _, err := SimilarItems().Columns([][]InputColumn{{{Name: "id", Type: 23}, {Name: "price", Type: 1700}}}); !errors.As(err, &te) || te.Column != "price" {
		t.Errorf("numeric text column: err = %v, want TypeError on price", err)
	}
	if _, err := SimilarItems().Columns([][]InputColumn{{{Name: "id", Type: 23}}}); !errors.As(err, &te) {
		t.Errorf("one column: err = %v, want TypeError", err)
	}
}
