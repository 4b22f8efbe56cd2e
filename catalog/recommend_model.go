package catalog

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/flywheeldb/flywheel/functions"
)

// recommendModel is a stored recommend model: the ratings' users and items
// with the method's index.
type recommendModel struct {
	method       string
	users, items *functions.KeyIndex[string]
	itemCol      *Column // the items' keys, for results
	userType     InputColumn
	cf           *functions.UserCF
	nmf          *functions.NMFModel
	// ratedPtr/rated list each user's rated items (nmf: they are not
	// recommended again).
	ratedPtr []int
	rated    []int32

	// For user_cf, what learning stored since the last whole state: the
	// deltas applied to it, the ratings they held and the whole state's
	// ratings, which decide when a learn stores the whole state again.
	deltas, learned, baseRatings int

	// numUsers finds a numeric user whose text form is not a stored key
	// (1.0 for key 1), as mfFindKey does, without its scan of every key:
	// that scan parses all users, milliseconds per unknown user at
	// 50,000 users. Built on the first such lookup.
	numOnce  sync.Once
	numUsers map[float64]int
}

// findUser is mfFindKey(st.users, ...) with the numeric fallback indexed.
func (st *recommendModel) findUser(v any) (int, bool) {
	if v == nil {
		return 0, false
	}
	if d, ok := st.users.Lookup(KeyText(v)); ok {
		return d, true
	}
	if !st.userType.Numeric() {
		return 0, false
	}
	f, ok := numericValue(v)
	if !ok {
		return 0, false
	}
	st.numOnce.Do(func() {
		st.numUsers = make(map[float64]int, len(st.users.Keys))
		for d, k := range st.users.Keys {
			// The first key of a value wins, as in mfFindKey's scan.
			if g, err := strconv.ParseFloat(k, 64); err == nil {
				if _, dup := st.numUsers[g]; !dup {
					st.numUsers[g] = d
				}
			}
		}
	})
	d, ok := st.numUsers[f]
	return d, ok
}

// State format "recommend" v1: method, user keys, item keys, then for
// user_cf the UserCF state, for nmf the NMFModel state and the rated
// items as a CSR by user (ptr, items).
const (
	recommendStateKind    = "recommend"
	recommendStateVersion = 1
)

func recommendKind() *modelKind {
	return &modelKind{
		fn: Recommend, input: "ratings", fit: fitRecommend, decode: decodeRecommend, learn: learnRecommend,
		evaluate: evaluateRecommend, primary: "ndcg_at_10", higher: true,
		// A rating is held out by its (user, item) pair.
		split: func(rel *Relation, share float64) (*Relation, *Relation) { return hashSplit(rel, []int{0, 1}, share) },
	}
}

func fitRecommend(ctx context.Context, call *Call) (*fitted, error) {
	const fn = "recommend"
	// recommendColumns checks there are 3 columns, the rating numeric.
	rel, err := call.checkedRelation("ratings", recommendColumns)
	if err != nil {
		return nil, err
	}
	method, err := call.String("method")
	if err != nil {
		return nil, err
	}
	k, err := positiveInt(call, "k")
	if err != nil {
		return nil, err
	}
	if method != "user_cf" && method != "nmf" {
		return nil, &ArgError{Func: fn, Arg: "method", Msg: fmt.Sprintf("must be 'user_cf' or 'nmf', got %q", method)}
	}
	ix, err := recommendIndex(ctx, call, rel, method, k)
	if err != nil {
		return nil, err
	}
	t := ix.t
	metrics := map[string]float64{"users": float64(t.rows.Len()), "items": float64(t.cols.Len()), "ratings": float64(len(t.v))}
	if method == "user_cf" {
		state, err := encodeUserCF(t.rows.Keys, t.cols.Keys, ix.cf)
		if err != nil {
			return nil, err
		}
		return &fitted{state: state, metrics: metrics}, nil
	}
	e := functions.NewEncoder(recommendStateKind, recommendStateVersion, 16*len(t.v))
	e.String(method)
	e.Strings(t.rows.Keys)
	e.Strings(t.cols.Keys)
	switch method {
	case "nmf":
		b, err := ix.model.MarshalBinary()
		if err != nil {
			return nil, err
		}
		e.Bytes(b)
		ptr, items := ratedCSR(t)
		e.Ints(ptr)
		e.Int32s(items)
		metrics["reconstruction_err"] = ix.model.ReconstructionErr
		metrics["n_iter"] = float64(ix.model.NIter)
	}
	return &fitted{state: e.Finish(), metrics: metrics}, nil
}

// ratedCSR lists each row's columns of t, by row.
func ratedCSR(t *mfTriples) ([]int, []int32) {
	ptr := make([]int, t.rows.Len()+1)
	for _, r := range t.r {
		ptr[r+1]++
	}
	for i := 1; i < len(ptr); i++ {
		ptr[i] += ptr[i-1]
	}
	next := append([]int(nil), ptr[:len(ptr)-1]...)
	items := make([]int32, len(t.r))
	for p, r := range t.r {
		items[next[r]] = int32(t.c[p])
		next[r]++
	}
	return ptr, items
}

func decodeRecommend(m *Model, state []byte) error {
	if err := modelInputs(m, 3); err != nil {
		return err
	}
	if base, ok := m.State.(*recommendModel); ok {
		return decodeRecommendDelta(m, base, state)
	}
	d, err := functions.NewDecoder(state, recommendStateKind, recommendStateVersion)
	if err != nil {
		return err
	}
	st := &recommendModel{method: d.String(), userType: m.Inputs[0]}
	users, items := d.Strings(), d.Strings()
	blob := d.Bytes()
	switch st.method {
	case "user_cf":
		st.cf = &functions.UserCF{}
		if d.Err() == nil {
			if err := st.cf.UnmarshalBinary(blob); err != nil {
				return err
			}
		}
		if d.Err() == nil && (st.cf.Users != len(users) || st.cf.Items != len(items)) {
			d.Fail("%d users and %d items, but the index has %d and %d", len(users), len(items), st.cf.Users, st.cf.Items)
		}
	case "nmf":
		st.nmf = &functions.NMFModel{}
		if d.Err() == nil {
			if err := st.nmf.UnmarshalBinary(blob); err != nil {
				return err
			}
		}
		st.ratedPtr, st.rated = d.Ints(), d.Int32s()
		if d.Err() == nil && (st.nmf.Rows != len(users) || st.nmf.Cols != len(items) || len(st.ratedPtr) != len(users)+1) {
			d.Fail("%d users and %d items, but the factors are %d×%d", len(users), len(items), st.nmf.Rows, st.nmf.Cols)
		}
		if d.Err() == nil && !validCSR(st.ratedPtr, st.rated, len(items)) {
			d.Fail("the rated items are not a valid index")
		}
	default:
		d.Fail("unknown method %q", st.method)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	st.users, st.items = keyIndex(users), keyIndex(items)
	st.itemCol = keyColumn(m.Inputs[1], items)
	if st.cf != nil {
		st.baseRatings = st.cf.NumRatings()
	}
	m.State = st
	// Decoded, the index holds about what it was encoded in, plus the keys.
	m.Size = int64(len(state)) * 2
	return nil
}

// validCSR checks a CSR's pointers rise from 0 to len(idx) and its
// indices are in [0, n).
func validCSR(ptr []int, idx []int32, n int) bool {
	if len(ptr) == 0 || ptr[0] != 0 || ptr[len(ptr)-1] != len(idx) {
		return false
	}
	for i := 1; i < len(ptr); i++ {
		if ptr[i] < ptr[i-1] {
			return false
		}
	}
	for _, j := range idx {
		if j < 0 || int(j) >= n {
			return false
		}
	}
	return true
}

func recommendModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if err := modelOnly("recommend", "ratings", m, inputs, 3); err != nil {
		return nil, err
	}
	return []OutputColumn{
		{Name: "item", Type: m.Inputs[1].Type},
		{Name: "score", Type: Float8.OID},
		{Name: "rank", Type: Int4.OID},
	}, nil
}

// runRecommendModel predicts from a stored model: the same ranking the
// one-shot call gives on the ratings the model was trained on.
func runRecommendModel(call *Call) (*Result, error) {
	const fn = "recommend"
	m := call.Model
	st, ok := m.State.(*recommendModel)
	if !ok {
		return nil, kindError(fn, m)
	}
	u, known := st.findUser(call.Values["user"])
	if t := m.Trial; known && t != nil && inTrial(st.users.Keys[u], t.Traffic) {
		// The user is on the challenger's side of an online trial.
		m = t.Challenger
		if st, ok = m.State.(*recommendModel); !ok {
			return nil, kindError(fn, m)
		}
		u, known = st.findUser(call.Values["user"])
	}
	n, err := positiveInt(call, "n")
	if err != nil {
		return nil, err
	}
	neighbors, err := positiveInt(call, "neighbors")
	if err != nil {
		return nil, err
	}
	if !known {
		return recommendResult(st.itemCol, nil, nil), nil
	}
	recs, err := st.recommend(u, n, neighbors)
	if err != nil {
		return nil, inputArgError(fn, "model", err)
	}
	if log, err := call.Bool("log"); err != nil {
		return nil, err
	} else if log {
		if err := logDecisions(call, m.Version, st.users.Keys[u], recs, st.items.Keys); err != nil {
			return nil, err
		}
	}
	return recommendResult(st.itemCol, recs, nil), nil
}

// recommend ranks user u's top n unrated items.
func (st *recommendModel) recommend(u, n, neighbors int) ([]functions.Scored, error) {
	if st.method == "user_cf" {
		return st.cf.Recommend(u, n, neighbors)
	}
	rated := make([]int, 0, st.ratedPtr[u+1]-st.ratedPtr[u])
	for _, j := range st.rated[st.ratedPtr[u]:st.ratedPtr[u+1]] {
		rated = append(rated, int(j))
	}
	return st.nmf.Recommend(u, rated, n)
}

// encodeUserCF is a user_cf model's state, as fitRecommend writes it.
func encodeUserCF(users, items []string, cf *functions.UserCF) ([]byte, error) {
	b, err := cf.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e := functions.NewEncoder(recommendStateKind, recommendStateVersion, len(b)+16*(len(users)+len(items)))
	e.String("user_cf")
	e.Strings(users)
	e.Strings(items)
	e.Bytes(b)
	return e.Finish(), nil
}

// State format "recommend_delta" v1, a learned user_cf version stored as
// the ratings it learned, applied to its base version's model on loading
// (the store keeps the base's number with it): the ratings' user keys,
// their item keys (as text, one per rating: key numbers change as keys
// are added) and their values.
const (
	recommendDeltaKind    = "recommend_delta"
	recommendDeltaVersion = 1
)

// encodeRecommendDelta is the delta state of learning t.
func encodeRecommendDelta(t *mfTriples) []byte {
	users, items := make([]string, len(t.v)), make([]string, len(t.v))
	for p := range t.v {
		users[p], items[p] = t.rows.Keys[t.r[p]], t.cols.Keys[t.c[p]]
	}
	e := functions.NewEncoder(recommendDeltaKind, recommendDeltaVersion, 32*len(t.v))
	e.Strings(users)
	e.Strings(items)
	e.Float64s(t.v)
	return e.Finish()
}

// decodeRecommendDelta learns a delta state's ratings into base, the
// decoded base version (which stays as it was).
func decodeRecommendDelta(m *Model, base *recommendModel, state []byte) error {
	d, err := functions.NewDecoder(state, recommendDeltaKind, recommendDeltaVersion)
	if err != nil {
		return err
	}
	users, items, vals := d.Strings(), d.Strings(), d.Float64s()
	if d.Err() == nil && (len(users) != len(vals) || len(items) != len(vals) || len(vals) == 0) {
		d.Fail("%d users, %d items and %d values", len(users), len(items), len(vals))
	}
	if d.Err() == nil && base.method != "user_cf" {
		d.Fail("a delta on a %s model", base.method)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	uKeys, r := distinctKeys(users)
	iKeys, c := distinctKeys(items)
	st, err := base.learn(m, uKeys, r, iKeys, c, vals)
	if err != nil {
		return fmt.Errorf("%w: %s state: %w", functions.ErrStateCorrupt, recommendDeltaKind, err)
	}
	m.State = st
	m.Size = userCFSize(st.cf)
	return nil
}

// userCFSize estimates a decoded user_cf model's memory as
// decodeRecommend does for a whole state: twice its encoding, which is
// about 9 bytes a rating.
func userCFSize(cf *functions.UserCF) int64 { return int64(cf.NumRatings()) * 18 }

// extendKeys is the index of union, the keys of x merged with new ones:
// x itself when there are none, x extended when they all come after x's
// (new users usually do), built again otherwise.
func extendKeys(x *functions.KeyIndex[string], union []string) *functions.KeyIndex[string] {
	n := len(x.Keys)
	switch {
	case len(union) == n:
		return x
	case n > 0 && union[n-1] == x.Keys[n-1]:
		// The last old key kept its index, so every old one did.
		return x.Extend(union[n:])
	}
	return keyIndex(union)
}

// distinctKeys numbers keys by first appearance.
func distinctKeys(keys []string) (distinct []string, at []int) {
	seen := make(map[string]int, len(keys))
	at = make([]int, len(keys))
	for p, k := range keys {
		i, ok := seen[k]
		if !ok {
			i = len(distinct)
			seen[k] = i
			distinct = append(distinct, k)
		}
		at[p] = i
	}
	return distinct, at
}

// learn returns the user_cf model st learning ratings (user key r[p] of
// uKeys, item key c[p] of iKeys, value v[p]), as training on the union
// would build it; st stays as it was. m gives the keys' types.
func (st *recommendModel) learn(m *Model, uKeys []string, r []int, iKeys []string, c []int, v []float64) (*recommendModel, error) {
	users, oldU, newU := mergeKeys(st.users.Keys, uKeys, m.Inputs[0].Type)
	items, oldI, newI := mergeKeys(st.items.Keys, iKeys, m.Inputs[1].Type)
	ru, ri := make([]int, len(v)), make([]int, len(v))
	for p := range v {
		ru[p], ri[p] = newU[r[p]], newI[c[p]]
	}
	cf, err := st.cf.Learn(oldU, oldI, ru, ri, v, len(users), len(items))
	if err != nil {
		return nil, err
	}
	next := &recommendModel{method: st.method, userType: st.userType, cf: cf,
		deltas: st.deltas + 1, learned: st.learned + len(v), baseRatings: st.baseRatings}
	next.users = extendKeys(st.users, users)
	if next.items = extendKeys(st.items, items); next.items == st.items {
		next.itemCol = st.itemCol
	} else {
		next.itemCol = keyColumn(m.Inputs[1], items)
	}
	return next, nil
}
