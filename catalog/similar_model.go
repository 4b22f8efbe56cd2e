package catalog

import (
	"context"
	"fmt"

	"github.com/flywheeldb/flywheel/functions"
)

// A stored similar_items model is the items' TF-IDF index with their keys
// in key order: the one-shot call's index on the training input, so its
// neighbours, scores and tie breaks are the same.
//
// State format "similar_items" v1: Strings item keys in key order, Bytes
// the functions.TfidfIndex (one document per key, in that order).
const (
	similarStateKind    = "similar_items"
	similarStateVersion = 1
)

func similarKind() *modelKind {
	return &modelKind{fn: SimilarItems, input: "input", fit: fitSimilar, decode: decodeSimilar, evaluate: evaluateSimilar}
}

func fitSimilar(ctx context.Context, call *Call) (*fitted, error) {
	const fn = "similar_items"
	rel, err := call.checkedRelation("input", similarColumns)
	if err != nil {
		return nil, err
	}
	x, docs, err := similarRead(fn, rel)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		// An index needs documents; the one-shot call on no rows returns
		// no rows without one.
		return nil, &ArgError{Func: fn, Arg: "input", Msg: "is empty"}
	}
	if x.idx, err = functions.Tfidf(ctx, docs, functions.TfidfOptions{}); err != nil {
		return nil, inputArgError(fn, "input", err)
	}
	b, err := x.idx.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e := functions.NewEncoder(similarStateKind, similarStateVersion, len(b)+16*len(docs))
	e.Strings(x.keys.Keys)
	e.Bytes(b)
	return &fitted{state: e.Finish(), metrics: map[string]float64{
		"items": float64(len(docs)), "terms": float64(len(x.idx.Vocabulary)),
	}}, nil
}

func decodeSimilar(m *Model, state []byte) error {
	if err := modelInputs(m, 2); err != nil {
		return err
	}
	d, err := functions.NewDecoder(state, similarStateKind, similarStateVersion)
	if err != nil {
		return err
	}
	keys := d.Strings()
	blob := d.Bytes()
	if err := d.Finish(); err != nil {
		return err
	}
	idx := &functions.TfidfIndex{}
	if err := idx.UnmarshalBinary(blob); err != nil {
		return err
	}
	if idx.Len() != len(keys) {
		return fmt.Errorf("%w: %d items but %d documents", functions.ErrStateCorrupt, len(keys), idx.Len())
	}
	x := &similarItems{keys: keyIndex(keys), col: keyColumn(m.Inputs[0], keys), idx: idx}
	if x.keys.Len() != len(keys) {
		return fmt.Errorf("%w: duplicate item keys", functions.ErrStateCorrupt)
	}
	x.rows = x.keys.First
	m.State = x
	// The postings rebuilt on decoding about double the encoded vectors.
	m.Size = int64(len(state)) * 2
	return nil
}

func similarModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if err := modelOnly("similar_items", "input", m, inputs, 2); err != nil {
		return nil, err
	}
	return similarColumns([][]InputColumn{m.Inputs})
}

// evaluateSimilar measures a similar_items model on items of the input:
// known, the share of the input's items the model has, and coverage, the
// share of the model's items that appear among the top 10 neighbours of
// the known ones (a catalogue whose lists keep returning the same few
// items covers little of it).
func evaluateSimilar(ctx context.Context, m *Model, rel *Relation) (map[string]float64, error) {
	x, ok := m.State.(*similarItems)
	if !ok {
		return nil, kindError("similar_items", m)
	}
	n := rel.Rows()
	if n == 0 {
		return nil, &ArgError{Func: "evaluate", Arg: "input", Msg: "is empty"}
	}
	known := 0
	seen := make([]bool, x.idx.Len())
	covered := 0
	for r := 0; r < n; r++ {
		if r%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var key any
		if !rel.Columns[0].Null(r) {
			key = rel.Columns[0].Text(r)
		}
		d, ok := mfFindKey(x.keys, x.col, key)
		if !ok {
			continue
		}
		known++
		top, err := x.idx.TopN(d, evalTopK)
		if err != nil {
			return nil, inputArgError("evaluate", "model", err)
		}
		for _, s := range top {
			if !seen[s.Index] {
				seen[s.Index] = true
				covered++
			}
		}
	}
	return map[string]float64{"rows": float64(n), "known": float64(known) / float64(n),
		"coverage": float64(covered) / float64(len(seen))}, nil
}
