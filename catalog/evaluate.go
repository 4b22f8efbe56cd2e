package catalog

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"

	"github.com/flywheeldb/flywheel/functions"
)

// Measuring a stored model on rows it was not trained on: flywheel.evaluate
// on a relation of the user's, and train's holdout => share on a
// deterministic split of the input.

// evalTopK is the k of the ranking metrics (precision@k, recall@k, NDCG@k).
const evalTopK = 10

// evalMaxUsers bounds the users a ranking evaluation asks for
// recommendations (the first in key order), so evaluating a large model
// stays in the time of one training.
const evalMaxUsers = 2000

// Evaluate declares flywheel.evaluate(name, input [, version]).
func Evaluate() *Func {
	returns := []ReturnColumn{{"model", Text}, {"version", Int4}, {"metric", Text}, {"value", Float8}}
	return &Func{
		Name: "evaluate", Qualified: true,
		Doc: "Measures a stored model on held-out rows shaped like its training input. " +
			"recommend: precision_at_10, recall_at_10, ndcg_at_10 over the users of the input the model knows (binary relevance: the user's rows in input), " +
			"coverage (share of the model's items recommended), rmse of the predicted ratings (nmf). " +
			"kmeans: inertia, inertia_per_row, silhouette (on at most 2,000 rows). sgd_regress: rmse, mae, r2. " +
			"holt_forecast: on observations after each series' end (at its spacing), mae, rmse, mape, smape, mase (over the training series' naive-forecast MAE) and interval_coverage_95 " +
			"(train's holdout holds out each series' last observations). " +
			"similar_items: known (share of the input's items the model has) and coverage (share of the model's items among the top 10 neighbours of the known ones). " +
			"The primary metric, which promote => 'if_better' compares, is ndcg_at_10 (recommend, higher is better), inertia_per_row (kmeans) and rmse (sgd_regress).",
		Args: []Arg{
			{Name: "name", Type: Text, Required: true, Doc: "the model"},
			{Name: "input", Relation: true, Required: true, Doc: "held-out rows, with the training input's columns"},
			{Name: "version", Type: Int4, Default: nil, Nullable: true, Doc: "the version to measure; NULL for the deployed one"},
		},
		Columns: fixedColumns(returnsColumns(returns)),
		Returns: returns,
		Run:     runEvaluate,
	}
}

func runEvaluate(ctx context.Context, call *Call) (*Result, error) {
	st, name, err := storeAndName(call)
	if err != nil {
		return nil, err
	}
	version := 0
	if !call.IsNull("version") {
		v, err := call.Int("version")
		if err != nil {
			return nil, err
		}
		if v < 1 || v > math.MaxInt32 {
			return nil, &Error{Code: "22023", Message: fmt.Sprintf("model %q has no version %d", name, v)}
		}
		version = int(v)
	}
	rel, err := call.Relation("input")
	if err != nil {
		return nil, err
	}
	m, err := st.Version(ctx, call.DB, name, version)
	if err != nil {
		return nil, err
	}
	k, ok := modelKinds()[m.Kind]
	if !ok || k.evaluate == nil {
		return nil, &Error{Code: "0A000", Message: fmt.Sprintf("models of kind %s cannot be evaluated", m.Kind)}
	}
	if err := sameInputs(m, rel); err != nil {
		return nil, err
	}
	metrics, err := k.evaluate(ctx, m, rel)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(metrics))
	out := &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: "model", Type: Text.OID}, Texts: []string{}},
		{OutputColumn: OutputColumn{Name: "version", Type: Int4.OID}, Ints: []int64{}},
		{OutputColumn: OutputColumn{Name: "metric", Type: Text.OID}, Texts: []string{}},
		{OutputColumn: OutputColumn{Name: "value", Type: Float8.OID}, Floats: []float64{}},
	}}
	for _, n := range names {
		out.Columns[0].Texts = append(out.Columns[0].Texts, m.Name)
		out.Columns[1].Ints = append(out.Columns[1].Ints, int64(m.Version))
		out.Columns[2].Texts = append(out.Columns[2].Texts, n)
		out.Columns[3].Floats = append(out.Columns[3].Floats, metrics[n])
	}
	return out, nil
}

// sameInputs checks that an evaluation relation has the columns a model
// was trained on: as many, numeric where they were numeric.
func sameInputs(m *Model, rel *Relation) error {
	if len(rel.Columns) != len(m.Inputs) {
		return &TypeError{Func: "evaluate", Column: "input", Msg: fmt.Sprintf("model %q was trained on %d columns, got %d", m.Name, len(m.Inputs), len(rel.Columns))}
	}
	for i, c := range rel.Columns {
		if m.Inputs[i].Numeric() && !c.Numeric() {
			return &TypeError{Func: "evaluate", Column: c.Name, Msg: fmt.Sprintf("must be numeric, as model %q's column %q", m.Name, m.Inputs[i].Name)}
		}
	}
	return nil
}

// subset is the relation of rel's rows in rows, in that order.
func subset(rel *Relation, rows []int) *Relation {
	out := &Relation{Columns: make([]*Column, len(rel.Columns))}
	for j, c := range rel.Columns {
		s := NewColumn(c.InputColumn)
		for _, i := range rows {
			if c.Null(i) {
				s.Append(nil)
			} else {
				s.Append(c.Bytes(i))
			}
		}
		out.Columns[j] = s
	}
	return out
}

// hashSplit splits rel's rows into training and held-out ones by a hash
// of the key columns' text, so a row's side depends on its contents alone:
// the same data splits the same way in any order, in any Flywheel.
func hashSplit(rel *Relation, keys []int, share float64) (train, test *Relation) {
	var in, out []int
	limit := uint64(share * float64(math.MaxUint64))
	for i := 0; i < rel.Rows(); i++ {
		h := fnv.New64a()
		for _, k := range keys {
			h.Write(rel.Columns[k].Bytes(i))
			h.Write([]byte{0})
		}
		if h.Sum64() < limit {
			out = append(out, i)
		} else {
			in = append(in, i)
		}
	}
	return subset(rel, in), subset(rel, out)
}

// tailSplit holds out the last share of rel's rows: for inputs whose order
// is their meaning (sgd_regress learns in order), the held-out rows are
// the ones that come after.
func tailSplit(rel *Relation, share float64) (train, test *Relation) {
	n := rel.Rows()
	rows := identity(n)
	cut := min(max(n-int(math.Round(share*float64(n))), 0), n)
	return subset(rel, rows[:cut]), subset(rel, rows[cut:])
}

// evaluateRecommend ranks each known user's top evalTopK and scores it
// against the user's rows in test.
func evaluateRecommend(ctx context.Context, m *Model, test *Relation) (map[string]float64, error) {
	st, ok := m.State.(*recommendModel)
	if !ok {
		return nil, kindError("recommend", m)
	}
	t, err := mfReadTriples("evaluate", "input", test)
	if err != nil {
		return nil, err
	}
	userCol := &Column{InputColumn: st.userType}
	// Held-out items per model user, in model indices; items the model
	// has never seen count as relevant but can never be hit.
	relevant := map[int]map[int]bool{}
	var sq float64
	var predicted int
	for p := range t.r {
		u, ok := mfFindKey(st.users, userCol, t.rows.Keys[t.r[p]])
		if !ok {
			continue
		}
		if relevant[u] == nil {
			relevant[u] = map[int]bool{}
		}
		i, ok := st.items.Lookup(t.cols.Keys[t.c[p]])
		if !ok {
			i = -1 - p // unknown: a relevant item no list contains
		}
		relevant[u][i] = true
		if st.nmf != nil && i >= 0 {
			d := st.nmf.Predict(u, i) - t.v[p]
			sq += d * d
			predicted++
		}
	}
	users := slices.Sorted(maps.Keys(relevant))
	if len(users) > evalMaxUsers {
		users = users[:evalMaxUsers]
	}
	var prec, rec, ndcg float64
	seen := map[int]bool{}
	for n, u := range users {
		if n%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		recs, err := st.recommend(u, evalTopK, 20)
		if err != nil {
			return nil, inputArgError("evaluate", "input", err)
		}
		hits, dcg := 0, 0.0
		for r, s := range recs {
			seen[s.Index] = true
			if relevant[u][s.Index] {
				hits++
				dcg += 1 / math.Log2(float64(r+2))
			}
		}
		ideal := 0.0
		for r := 0; r < min(len(relevant[u]), evalTopK); r++ {
			ideal += 1 / math.Log2(float64(r+2))
		}
		prec += float64(hits) / evalTopK
		rec += float64(hits) / float64(len(relevant[u]))
		ndcg += dcg / ideal
	}
	out := map[string]float64{"users": float64(len(users)), "rows": float64(test.Rows())}
	if len(users) > 0 {
		n := float64(len(users))
		out["precision_at_10"], out["recall_at_10"], out["ndcg_at_10"] = prec/n, rec/n, ndcg/n
		out["coverage"] = float64(len(seen)) / float64(st.items.Len())
	}
	if predicted > 0 {
		out["rmse"] = math.Sqrt(sq / float64(predicted))
	}
	return out, nil
}

// evaluateKMeans assigns test's rows to the stored centres.
func evaluateKMeans(ctx context.Context, m *Model, test *Relation) (map[string]float64, error) {
	res, err := runKMeansModel(ctx, &Call{Func: KMeans(), Model: m, Values: map[string]any{"input": test}})
	if err != nil {
		return nil, err
	}
	n := test.Rows()
	if n == 0 {
		return nil, &ArgError{Func: "evaluate", Arg: "input", Msg: "is empty"}
	}
	labels, dist := res.Columns[1].Ints, res.Columns[2].Floats
	inertia := 0.0
	for _, d := range dist {
		inertia += d * d
	}
	out := map[string]float64{"rows": float64(n), "inertia": inertia, "inertia_per_row": inertia / float64(n)}
	// Silhouette on the first rows (at most evalMaxUsers), in the space
	// the clustering ran in.
	km := m.State.(*kmeansModel)
	s := min(n, evalMaxUsers)
	d := len(test.Columns) - 1
	x, err := sgdMatrix("evaluate", "input", test.Columns[1:], n)
	if err != nil {
		return nil, err
	}
	x = x[:s*d]
	km.Scaler.Transform(x)
	if sil, ok := silhouette(x, d, labels[:s]); ok {
		out["silhouette"] = sil
	}
	return out, nil
}

// silhouette is the mean silhouette coefficient of the rows of x (n×d)
// with the given labels (scikit-learn's silhouette_score: 0 for a row
// alone in its cluster); ok is false with fewer than two clusters.
func silhouette(x []float64, d int, labels []int64) (float64, bool) {
	n := len(labels)
	size := map[int64]int{}
	for _, l := range labels {
		size[l]++
	}
	if len(size) < 2 {
		return 0, false
	}
	total := 0.0
	sums := map[int64]float64{}
	for i := 0; i < n; i++ {
		clear(sums)
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			sums[labels[j]] += math.Sqrt(sqDist(x[i*d:(i+1)*d], x[j*d:(j+1)*d]))
		}
		own := labels[i]
		if size[own] == 1 {
			continue
		}
		a := sums[own] / float64(size[own]-1)
		b := math.Inf(1)
		for l, sz := range size {
			if l != own {
				b = math.Min(b, sums[l]/float64(sz))
			}
		}
		if m := math.Max(a, b); m > 0 {
			total += (b - a) / m
		}
	}
	return total / float64(n), true
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		t := a[k] - b[k]
		s += t * t
	}
	return s
}

// evaluateSGD predicts test's targets from its features.
func evaluateSGD(_ context.Context, m *Model, test *Relation) (map[string]float64, error) {
	d := len(test.Columns) - 1
	n := test.Rows()
	if n == 0 {
		return nil, &ArgError{Func: "evaluate", Arg: "input", Msg: "is empty"}
	}
	r, ok := m.State.(*functions.SGDRegressor)
	if !ok {
		return nil, kindError("sgd_regress", m)
	}
	x, err := sgdMatrix("evaluate", "input", test.Columns[:d], n)
	if err != nil {
		return nil, err
	}
	y, err := test.Columns[d].Floats()
	if err != nil {
		return nil, &ArgError{Func: "evaluate", Arg: "input", Msg: err.Error()}
	}
	p, err := r.Predict(x)
	if err != nil {
		return nil, inputArgError("evaluate", "input", err)
	}
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	var sse, sae, sst float64
	for i := range y {
		e := p[i] - y[i]
		sse += e * e
		sae += math.Abs(e)
		sst += (y[i] - mean) * (y[i] - mean)
	}
	out := map[string]float64{"rows": float64(n), "rmse": math.Sqrt(sse / float64(n)), "mae": sae / float64(n)}
	if sst > 0 {
		out["r2"] = 1 - sse/sst
	}
	return out, nil
}
