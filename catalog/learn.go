package catalog

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flywheeldb/flywheel/functions"
)

// Learn declares flywheel.learn(name, input): update the deployed model
// with new rows, without fitting again, as a new deployed version.
func Learn() *Func {
	return &Func{
		Name: "learn", Qualified: true,
		Doc: "Updates the deployed version of a model with new rows shaped like its training input, without fitting again, " +
			"and stores and deploys the result as the next version. sgd_regress continues its per-sample rule where training stopped " +
			"(learning rows in the order given: training on A then learning B equals training on A followed by B in one pass); " +
			"kmeans moves each centre to the mean of its old members and the new rows assigned to it (MiniBatchKMeans' rule, " +
			"with the cluster sizes as weights; the scaling stays the training's); recommend (user_cf) adds the ratings to its index " +
			"(a rating of a pair already rated replaces it), as training on the union would; holt_forecast runs each series' state " +
			"on through its new observations with the fitted parameters (no re-optimising), which must continue the series' times " +
			"at its spacing from the step after its last one (series without new rows stay as they were).",
		Args: []Arg{
			{Name: "name", Type: Text, Required: true, Doc: "the model"},
			{Name: "input", Relation: true, Required: true, Doc: "the new rows, with the training input's columns"},
		},
		Columns: fixedColumns(lifecycleColumns()),
		Returns: lifecycleReturns(),
		Run:     runLearn,
	}
}

func runLearn(ctx context.Context, call *Call) (*Result, error) {
	st, name, err := storeAndName(call)
	if err != nil {
		return nil, err
	}
	rel, err := call.Relation("input")
	if err != nil {
		return nil, err
	}
	m, err := st.Version(ctx, call.DB, name, 0)
	if err != nil {
		return nil, err
	}
	k, ok := modelKinds()[m.Kind]
	if !ok || k.learn == nil {
		return nil, &Error{Code: "0A000", Message: fmt.Sprintf("%s models cannot learn new rows", m.Kind),
			Hint: "Train a new version with flywheel.train."}
	}
	if err := sameInputs(m, rel); err != nil {
		return nil, err
	}
	if rel.Rows() == 0 {
		return nil, &ArgError{Func: "learn", Arg: "input", Msg: "is empty"}
	}
	start := time.Now()
	f, err := k.learn(ctx, m, rel)
	if err != nil {
		return nil, err
	}
	t := &Trained{Name: name, Kind: m.Kind, Inputs: m.Inputs, Options: m.Options,
		Source: fmt.Sprintf("learn from version %d: %s", m.Version, call.Sources["input"]),
		Rows:   int64(f.rows), Metrics: f.metrics, Primary: k.primary, Higher: k.higher, Promote: "always",
		TrainMS: float64(time.Since(start).Microseconds()) / 1000, State: f.state, Base: f.base, Decoded: f.model(m)}
	saved, err := st.Save(ctx, call.DB, t)
	if err != nil {
		return nil, err
	}
	return savedResult(saved, saved.Deployed == saved.Version), nil
}

// learnSGD continues the regressor's per-sample rule over the new rows.
func learnSGD(ctx context.Context, m *Model, rel *Relation) (*fitted, error) {
	r, ok := m.State.(*functions.SGDRegressor)
	if !ok {
		return nil, kindError("sgd_regress", m)
	}
	d := len(rel.Columns) - 1
	n := rel.Rows()
	x, err := sgdMatrix("learn", "input", rel.Columns[:d], n)
	if err != nil {
		return nil, err
	}
	y, err := rel.Columns[d].Floats()
	if err != nil {
		return nil, &ArgError{Func: "learn", Arg: "input", Msg: err.Error()}
	}
	if err := r.PartialFit(ctx, x, y); err != nil {
		return nil, inputArgError("learn", "input", err)
	}
	b, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &fitted{state: b, rows: n, metrics: map[string]float64{"learned_rows": float64(n)}}, nil
}

// learnKMeans is MiniBatchKMeans' centre update with unit weights: each
// centre becomes the mean of its size old members (at the centre) and the
// new rows nearest to it, in scaled space.
func learnKMeans(ctx context.Context, m *Model, rel *Relation) (*fitted, error) {
	old, ok := m.State.(*kmeansModel)
	if !ok {
		return nil, kindError("kmeans", m)
	}
	n, d := rel.Rows(), old.D
	x, err := sgdMatrix("learn", "input", rel.Columns[1:], n)
	if err != nil {
		return nil, err
	}
	labels, _, err := old.Assign(x, n)
	if err != nil {
		return nil, inputArgError("learn", "input", err)
	}
	old.Scaler.Transform(x)
	km := *old.KMeansModel
	km.Centers = append([]float64(nil), old.Centers...)
	sizes := append([]int(nil), old.sizes...)
	sums := make([]float64, len(km.Centers))
	counts := make([]int, km.K)
	for i, l := range labels {
		counts[l]++
		for j := 0; j < d; j++ {
			sums[l*d+j] += x[i*d+j]
		}
	}
	for c := 0; c < km.K; c++ {
		if counts[c] == 0 {
			continue
		}
		w := float64(sizes[c] + counts[c])
		for j := 0; j < d; j++ {
			km.Centers[c*d+j] = (km.Centers[c*d+j]*float64(sizes[c]) + sums[c*d+j]) / w
		}
		sizes[c] += counts[c]
	}
	b, err := encodeKMeans(&kmeansModel{&km, sizes})
	if err != nil {
		return nil, err
	}
	return &fitted{state: b, rows: n, metrics: map[string]float64{"learned_rows": float64(n)}}, nil
}

// learnRecommend adds ratings to a user_cf model. The result is training
// on the union of the stored ratings and the new ones (a new rating of a
// pair already rated replaces it), built without reading the union as
// text: the new keys are merged into the stored ones in key order and
// the index extended (UserCF.Learn). The version stores only the new
// ratings, as a delta on the version learned from (recommendDelta), until
// the deltas grow long or large; then it stores the whole index again.
func learnRecommend(ctx context.Context, m *Model, rel *Relation) (*fitted, error) {
	const fn = "learn"
	st, ok := m.State.(*recommendModel)
	if !ok {
		return nil, kindError("recommend", m)
	}
	if st.method != "user_cf" {
		return nil, &Error{Code: "0A000", Message: fmt.Sprintf("recommend models of method %s cannot learn new rows", st.method),
			Hint: "Train a new version with flywheel.train; user_cf models learn."}
	}
	t, err := mfReadTriples(fn, "input", rel)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	next, err := st.learn(m, t.rows.Keys, t.r, t.cols.Keys, t.c, t.v)
	if err != nil {
		return nil, inputArgError(fn, "input", err)
	}
	f := &fitted{rows: len(t.v), decoded: next, size: userCFSize(next.cf), metrics: map[string]float64{
		"users": float64(len(next.users.Keys)), "items": float64(len(next.items.Keys)),
		"ratings": float64(next.cf.NumRatings()), "learned_rows": float64(len(t.v)),
	}}
	if next.deltas > maxDeltas || next.learned > next.baseRatings/10 {
		f.state, err = encodeUserCF(next.users.Keys, next.items.Keys, next.cf)
		// As decoding the whole state would count.
		next.deltas, next.learned, next.baseRatings = 0, 0, next.cf.NumRatings()
	} else {
		f.state, f.base = encodeRecommendDelta(t), m.Version
	}
	return f, err
}

// model is the decoded version f makes of m, or nil.
func (f *fitted) model(m *Model) *Model {
	if f.decoded == nil {
		return nil
	}
	return &Model{Name: m.Name, Kind: m.Kind, Inputs: m.Inputs, Options: m.Options, State: f.decoded, Size: f.size}
}

// maxDeltas bounds the versions a user_cf model's load applies to its
// last whole state: loading one decodes the whole state and then learns
// each delta, so past a few the next learn stores the whole state again.
const maxDeltas = 8

// mergeKeys merges the new keys into the stored ones (both in key order
// for type oid; new ones are sorted here, in case their column's type
// orders them otherwise) and returns the union in key order with where
// each stored and each new key went.
func mergeKeys(stored, fresh []string, oid uint32) (union []string, storedAt, freshAt []int) {
	order := identity(len(fresh))
	slices.SortFunc(order, func(a, b int) int { return compareKeyText(oid, []byte(fresh[a]), []byte(fresh[b])) })
	union = make([]string, 0, len(stored)+len(fresh))
	storedAt, freshAt = make([]int, len(stored)), make([]int, len(fresh))
	i, j := 0, 0
	for i < len(stored) || j < len(order) {
		switch {
		case i < len(stored) && j < len(order) && stored[i] == fresh[order[j]]:
			storedAt[i], freshAt[order[j]] = len(union), len(union)
			union = append(union, stored[i])
			i, j = i+1, j+1
		case j == len(order) || i < len(stored) && compareKeyText(oid, []byte(stored[i]), []byte(fresh[order[j]])) < 0:
			storedAt[i] = len(union)
			union = append(union, stored[i])
			i++
		default: // the next fresh key comes first, or only fresh ones are left
			freshAt[order[j]] = len(union)
			union = append(union, fresh[order[j]])
			j++
		}
	}
	return union, storedAt, freshAt
}
