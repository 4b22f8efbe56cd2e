package catalog

import (
	"context"
	"fmt"
	"strconv"

	"github.com/flywheeldb/flywheel/functions"
	"github.com/jackc/pgx/v5/pgtype"
)

// SimilarItems declares similar_items(input, item, n): content-based
// neighbours by TF-IDF cosine similarity of the items' texts.
func SimilarItems() *Func {
	return &Func{
		Name: "similar_items",
		Doc: "Content-based recommendation: the n items whose text is most similar to the given item's, by cosine similarity of TF-IDF vectors " +
			"(scikit-learn TfidfVectorizer(stop_words='english') defaults: lower-cased, tokens of 2+ word characters, smooth idf, l2 norm). " +
			"The item itself is excluded; ties rank by key order (numbers numerically, text by bytes), never by the rows' order; items sharing no word score 0 " +
			"and fill the list in key order. item NULL returns the neighbours of every item. " +
			"An item not in the input returns no rows. A NULL text counts as empty. " +
			"With model => 'name' (trained by flywheel.train(name, 'similar_items', (SELECT item, text FROM ...))) the stored TF-IDF index answers instead of the input, " +
			"which is then not given, and the item comes first: similar_items(item, n => 10, model => 'catalog') is the one-shot call's result on the training input.",
		Args: []Arg{
			{Name: "input", Relation: true, Required: true, Fit: true, Doc: "(item key, text); keys must be distinct"},
			{Name: "item", Type: AnyType, Required: true, Nullable: true, Doc: "the item to find neighbours of, matched to the key column by its text form; NULL for every item"},
			{Name: "n", Type: Int4, Default: int64(10), Doc: "neighbours per item, >= 1"},
			{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "a stored model (flywheel.train(name, 'similar_items', (SELECT item, text ...))) to answer from, in place of input; the positional arguments are then (item, n)"},
		},
		Columns:      similarColumns,
		ModelColumns: similarModelColumns,
		Run:          runSimilar,
		Returns:      []ReturnColumn{{"item", AnyType}, {"similar_item", AnyType}, {"similarity", Float8}, {"rank", Int4}},
	}
}

func similarColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	if got := firstWidth(inputs); got != 2 {
		return nil, &TypeError{Func: "similar_items", Column: "input", Msg: fmt.Sprintf("want 2 columns (item, text), got %d", got)}
	}
	in := inputs[0]
	if !similarTextType(in[1].Type) {
		return nil, &TypeError{Func: "similar_items", Column: in[1].Name, Msg: "the second column must be text"}
	}
	return []OutputColumn{
		{Name: "item", Type: in[0].Type},
		{Name: "similar_item", Type: in[0].Type},
		{Name: "similarity", Type: Float8.OID},
		{Name: "rank", Type: Int4.OID},
	}, nil
}

// similarTextType rejects the types that cannot hold a description:
// numbers, booleans, dates and times. Anything else (text, varchar, char,
// name, json, citext, ...) is tokenised from its text form.
func similarTextType(oid uint32) bool {
	switch oid {
	case pgtype.BoolOID, pgtype.Int8OID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID, pgtype.DateOID, pgtype.TimeOID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.IntervalOID, pgtype.TimetzOID:
		return false
	}
	return true
}

// similarItems is an item index: the items' keys in key order, the column
// results take them from, and (built lazily by the one-shot call, which
// answers an unknown item without it) their TF-IDF vectors.
type similarItems struct {
	keys *functions.KeyIndex[string] // dense index d: the d-th key in key order
	col  *Column                     // results' item values: col's value rows[d]
	rows []int
	idx  *functions.TfidfIndex
}

// similarRead reads the (item, text) input: the items in key order and
// their documents.
func similarRead(fn string, rel *Relation) (*similarItems, []string, error) {
	if err := mfCheckColumns(fn, rel, 2, "(item, text)"); err != nil {
		return nil, nil, err
	}
	keyCol, textCol := rel.Columns[0], rel.Columns[1]
	nd := rel.Rows()
	keys := functions.NewKeyIndex[string]()
	docs := make([]string, nd)
	for i := 0; i < nd; i++ {
		if keyCol.Null(i) {
			return nil, nil, &ArgError{Func: fn, Arg: "input", Msg: fmt.Sprintf("row %d: NULL in column %q", i+1, keyCol.Name)}
		}
		if d := mfAddKey(keys, keyCol.Bytes(i), i); d != i {
			return nil, nil, &ArgError{Func: fn, Arg: "input", Msg: fmt.Sprintf("row %d: duplicate item %q (first at row %d)", i+1, keyCol.Bytes(i), keys.First[d]+1)}
		}
		if !textCol.Null(i) {
			docs[i] = string(textCol.Bytes(i))
		}
	}
	// Documents in key order, so that ties rank by key whatever order the
	// rows came in; keys are distinct, so row i had index i.
	remap := keys.Sort(func(a, b int) int { return keyCol.compare(keys.First[a], keys.First[b]) })
	sorted := make([]string, nd)
	for i, d := range remap {
		sorted[d] = docs[i]
	}
	return &similarItems{keys: keys, col: keyCol, rows: keys.First}, sorted, nil
}

// queries are the items whose neighbours the call asks for: every item
// for item NULL, none for an item not in the index.
func (x *similarItems) queries(call *Call) []int {
	if call.IsNull("item") {
		return identity(x.keys.Len())
	}
	if d, ok := mfFindKey(x.keys, x.col, call.Values["item"]); ok {
		return []int{d}
	}
	return nil
}

func runSimilar(ctx context.Context, call *Call) (*Result, error) {
	const fn = "similar_items"
	n, err := positiveInt(call, "n")
	if err != nil {
		return nil, err
	}
	if call.Model != nil {
		x, ok := call.Model.State.(*similarItems)
		if !ok || call.Model.Kind != fn {
			return nil, kindError(fn, call.Model)
		}
		return x.neighbours(ctx, fn, x.queries(call), n)
	}
	rel, err := call.Relation("input")
	if err != nil {
		return nil, err
	}
	x, docs, err := similarRead(fn, rel)
	if err != nil {
		return nil, err
	}
	q := x.queries(call)
	if len(q) == 0 {
		return x.neighbours(ctx, fn, nil, n) // no input or no such item: no rows, as a WHERE matching nothing
	}
	if x.idx, err = functions.Tfidf(ctx, docs, functions.TfidfOptions{}); err != nil {
		return nil, inputArgError(fn, "input", err)
	}
	return x.neighbours(ctx, fn, q, n)
}

// neighbours is the result: the n nearest items of each query item.
func (x *similarItems) neighbours(ctx context.Context, fn string, queries []int, n int) (*Result, error) {
	var tops [][]functions.Scored
	var err error
	switch {
	case len(queries) == 1:
		top, err := x.idx.TopN(queries[0], n)
		if err != nil {
			return nil, inputArgError(fn, "input", err)
		}
		tops = [][]functions.Scored{top}
	case len(queries) > 1:
		if tops, err = x.idx.AllTopN(ctx, n); err != nil {
			return nil, inputArgError(fn, "input", err)
		}
	}
	total := 0
	for _, t := range tops {
		total += len(t)
	}
	items := make([]int, 0, total)
	similar := make([]int, 0, total)
	scores := make([]float64, 0, total)
	ranks := make([]int64, 0, total)
	for qi, t := range tops {
		for r, s := range t {
			items = append(items, x.rows[queries[qi]])
			similar = append(similar, x.rows[s.Index])
			scores = append(scores, s.Score)
			ranks = append(ranks, int64(r+1))
		}
	}
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: "item", Type: x.col.Type}, From: x.col, Rows: items},
		{OutputColumn: OutputColumn{Name: "similar_item", Type: x.col.Type}, From: x.col, Rows: similar},
		{OutputColumn: OutputColumn{Name: "similarity", Type: Float8.OID}, Floats: scores},
		{OutputColumn: OutputColumn{Name: "rank", Type: Int4.OID}, Ints: ranks},
	}}, nil
}

// mfFindKey finds a scalar argument among the keys of col (indexed by
// their text form): by text first, then, for a numeric column and a
// numeric argument, by value, so 1 finds '1.0' in a numeric column.
func mfFindKey(keys *functions.KeyIndex[string], col *Column, v any) (int, bool) {
	if v == nil {
		return 0, false
	}
	if d, ok := keys.Lookup(KeyText(v)); ok {
		return d, true
	}
	if !col.Numeric() {
		return 0, false
	}
	f, ok := numericValue(v)
	if !ok {
		return 0, false
	}
	for d, k := range keys.Keys {
		if g, err := strconv.ParseFloat(k, 64); err == nil && g == f {
			return d, true
		}
	}
	return 0, false
}

// numericValue is an argument's value as a number, for matching it to
// numeric keys by value (1.0 to key 1).
func numericValue(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}
