package catalog

import (
	"context"
	"fmt"
	"math"

	"github.com/flywheeldb/flywheel/functions"
)

// Recommend declares recommend(user, n, ratings => (...), method, ...):
// the user's top n unrated items by user-based collaborative filtering or
// by an NMF model of the ratings.
func Recommend() *Func {
	return &Func{
		Name: "recommend",
		Doc: "Top-n recommendations for one user from (user, item, rating) rows, excluding items the user already rated. " +
			"method 'user_cf': cosine similarity between users over the user×item matrix (0 = not rated), mean of the rows of the `neighbors` most similar other users " +
			"(ties by user key); 'nmf': the predicted scores W·H of an NMF with k components (init nndsvda) of that matrix, rows and columns in key order. " +
			"Highest score first, ties by item key. Key order is the keys' type order (numbers numerically, text by bytes), so the result never depends on the order of the ratings' rows; " +
			"items no neighbour rated score 0 and fill the list. A user without ratings (or NULL) gets no rows. item keeps the input item column's type.",
		Args: []Arg{
			{Name: "user", Type: AnyType, Required: true, Nullable: true, Strict: true, Doc: "the user, matched to the ratings' user column by its text form; NULL or an unknown user gives no rows"},
			{Name: "n", Type: Int4, Default: int64(10), Doc: "number of items, >= 1"},
			{Name: "ratings", Relation: true, Default: nil, Nullable: true, Fit: true, Doc: "(user, item, numeric rating); one row per (user, item)"},
			{Name: "method", Type: Text, Default: "user_cf", Fit: true, Doc: "'user_cf' or 'nmf'"},
			{Name: "neighbors", Type: Int4, Default: int64(20), Doc: "user_cf: number of most similar users averaged"},
			{Name: "k", Type: Int4, Default: int64(10), Fit: true, Doc: "nmf: number of components"},
			{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "a stored model (flywheel.train(name, 'recommend', ...)) to predict from, in place of ratings"},
			{Name: "log", Type: Bool, Default: false, Doc: "with model: append every row served to flywheel.decisions (model, version, user, item, rank, score, served_at, application_name), one INSERT per statement, in the session's transaction (part of the statement itself where PostgreSQL allows a data-modifying WITH)"},
		},
		Columns:      recommendColumns,
		ModelColumns: recommendModelColumns,
		Run:          runRecommend,
		Returns:      []ReturnColumn{{"item", AnyType}, {"score", Float8}, {"rank", Int4}},
		Sink:         decisionSink(),
	}
}

func recommendColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	itemType := Text.OID // no ratings: Run refuses the call, the shape is moot
	if len(inputs) > 0 && inputs[0] != nil {
		in := inputs[0]
		if len(in) != 3 {
			return nil, &TypeError{Func: "recommend", Column: "ratings", Msg: fmt.Sprintf("want 3 columns (user, item, rating), got %d", len(in))}
		}
		if !in[2].Numeric() {
			return nil, &TypeError{Func: "recommend", Column: in[2].Name, Msg: "the rating column must be numeric"}
		}
		itemType = in[1].Type
	}
	return []OutputColumn{
		{Name: "item", Type: itemType},
		{Name: "score", Type: Float8.OID},
		{Name: "rank", Type: Int4.OID},
	}, nil
}

func runRecommend(ctx context.Context, call *Call) (*Result, error) {
	const fn = "recommend"
	if call.Model != nil {
		return runRecommendModel(call)
	}
	if log, _ := call.Values["log"].(bool); log {
		return nil, &ArgError{Func: fn, Arg: "log", Msg: "logs the decisions of a stored model: it needs model => 'name'"}
	}
	if !call.IsNull("model") {
		return nil, &ArgError{Func: fn, Arg: "model", Msg: "names a stored model, which only a call through Flywheel's planner resolves"}
	}
	if call.IsNull("ratings") {
		return nil, &ArgError{Func: fn, Arg: "ratings", Msg: "is required: pass ratings => (SELECT user, item, rating FROM ...) or model => 'name'"}
	}
	rel, err := call.Relation("ratings")
	if err != nil {
		return nil, err
	}
	if len(rel.Columns) != 3 {
		return nil, &TypeError{Func: fn, Column: "ratings", Msg: fmt.Sprintf("want 3 columns (user, item, rating), got %d", len(rel.Columns))}
	}
	method, err := call.String("method")
	if err != nil {
		return nil, err
	}
	if method != "user_cf" && method != "nmf" {
		return nil, &ArgError{Func: fn, Arg: "method", Msg: fmt.Sprintf("must be 'user_cf' or 'nmf', got %q", method)}
	}
	n, err := positiveInt(call, "n")
	if err != nil {
		return nil, err
	}
	neighbors, err := positiveInt(call, "neighbors")
	if err != nil {
		return nil, err
	}
	k, err := positiveInt(call, "k")
	if err != nil {
		return nil, err
	}
	itemCol := rel.Columns[1]
	if rel.Rows() == 0 {
		return recommendResult(itemCol, nil, nil), nil // nobody has ratings, so neither has this user
	}
	ix, err := recommendIndex(ctx, call, rel, method, k)
	if err != nil {
		return nil, err
	}
	t := ix.t
	u, ok := mfFindKey(t.rows, rel.Columns[0], call.Values["user"])
	if !ok {
		return recommendResult(itemCol, nil, nil), nil
	}
	var recs []functions.Scored
	switch method {
	case "user_cf":
		if recs, err = ix.cf.Recommend(u, n, neighbors); err != nil {
			return nil, inputArgError(fn, "ratings", err)
		}
	case "nmf":
		var rated []int
		for p, r := range t.r {
			if r == u {
				rated = append(rated, t.c[p])
			}
		}
		if recs, err = ix.model.Recommend(u, rated, n); err != nil {
			return nil, inputArgError(fn, "ratings", err)
		}
	}
	return recommendResult(itemCol, recs, t.cols.First), nil
}

// recommendResult is recommend's rows: recs' items in rank order, item i
// passed through as itemCol's value at row itemRows[i] (nil: at row i).
func recommendResult(itemCol *Column, recs []functions.Scored, itemRows []int) *Result {
	rows, scores, ranks := make([]int, len(recs)), make([]float64, len(recs)), make([]int64, len(recs))
	for r, s := range recs {
		row := s.Index
		if itemRows != nil {
			row = itemRows[s.Index]
		}
		rows[r], scores[r], ranks[r] = row, s.Score, int64(r+1)
	}
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: "item", Type: itemCol.Type}, From: itemCol, Rows: rows},
		{OutputColumn: OutputColumn{Name: "score", Type: Float8.OID}, Floats: scores},
		{OutputColumn: OutputColumn{Name: "rank", Type: Int4.OID}, Ints: ranks},
	}}
}

// positiveInt reads an integer argument that must be >= 1 (and fit an int32).
func positiveInt(call *Call, name string) (int, error) {
	v, err := call.Int(name)
	if err != nil {
		return 0, err
	}
	if v < 1 || v > math.MaxInt32 {
		return 0, &ArgError{Func: call.Func.Name, Arg: name, Msg: fmt.Sprintf("must be at least 1, got %d", v)}
	}
	return int(v), nil
}

// recommendIndexes is what recommend builds from its ratings before it can
// answer for one user: the same for every user of a LATERAL batch.
type recommendIndexes struct {
	t     *mfTriples
	cf    *functions.UserCF
	model *functions.NMFModel
}

type recommendMemoKey struct {
	rel    *Relation
	method string
	k      int
}

// recommendIndex builds (or takes from the batch's memo) the ratings'
// index for a method.
func recommendIndex(ctx context.Context, call *Call, rel *Relation, method string, k int) (*recommendIndexes, error) {
	fn := call.Func.Name
	key := recommendMemoKey{rel, method, k}
	if ix, ok := call.Memo[key].(*recommendIndexes); ok {
		return ix, nil
	}
	t, err := mfReadTriples(fn, "ratings", rel)
	if err != nil {
		return nil, err
	}
	ix := &recommendIndexes{t: t}
	switch method {
	case "user_cf":
		if ix.cf, err = functions.NewUserCF(t.r, t.c, t.v, t.rows.Len(), t.cols.Len()); err != nil {
			return nil, inputArgError(fn, "ratings", err)
		}
	case "nmf":
		if ix.model, err = functions.NMF(ctx, t.r, t.c, t.v, t.rows.Len(), t.cols.Len(), functions.NMFOptions{K: k, Init: "nndsvda", Progress: nmfProgress(call)}); err != nil {
			return nil, inputArgError(fn, "ratings", err)
		}
	}
	if call.Memo != nil {
		call.Memo[key] = ix
	}
	return ix, nil
}
