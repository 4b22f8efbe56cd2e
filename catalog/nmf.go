package catalog

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/flywheeldb/flywheel/functions"
)

// nmfMaxPairs caps the dense result of nmf (rows × columns of the
// factorised matrix): past it the call is refused rather than allocated.
const nmfMaxPairs = 1 << 24

// NMF declares nmf(input, k, ...): non-negative matrix factorisation of a
// sparse (row, col, value) relation, returning W·H for every (row, col).
func NMF() *Func {
	return &Func{
		Name: "nmf",
		Doc: "Non-negative matrix factorisation (scikit-learn 1.2 NMF, coordinate descent, Frobenius loss) of the sparse matrix given as (row, col, value) triples, " +
			"unlisted entries being 0. Returns the reconstruction W·H for every (row, col) pair of the dense matrix, or only for the pairs absent from the input " +
			"(only_missing => true), e.g. predicted ratings. Rows and columns keep the input's key names and types. The matrix's rows and columns are in key order " +
			"(numbers numerically, dates chronologically, text by bytes as in the C collation), as pandas' pivot_table orders them, whatever order the input's rows come in; " +
			"that is also the order init 'random' draws in, so keys 0..n-1 reproduce a NumPy matrix's own indices. " +
			"With model => 'name' (trained by flywheel.train(name, 'nmf', (SELECT row, col, value FROM ...), k => ..., <options>)) the stored factors predict instead: " +
			"input and the fitting options are not given, e.g. nmf(model => 'mf', only_missing => true), and the result is the one-shot call's on the training input.",
		Args: []Arg{
			{Name: "input", Relation: true, Required: true, Fit: true, Doc: "(row key, column key, non-negative value); keys of any type"},
			{Name: "k", Type: Int4, Required: true, Fit: true, Doc: "number of components, >= 1 (<= min(rows, cols) for the nndsvd inits)"},
			{Name: "max_iter", Type: Int4, Default: int64(200), Fit: true, Doc: "iteration cap"},
			{Name: "init", Type: Text, Default: "nndsvda", Fit: true, Doc: "'nndsvda', 'nndsvd', 'nndsvdar' or 'random'"},
			{Name: "seed", Type: Int8, Default: int64(0), Fit: true, Doc: "random_state (0 .. 4294967295) for 'random', 'nndsvdar' and the randomized SVD"},
			{Name: "only_missing", Type: Bool, Default: false, Doc: "return only the (row, col) pairs absent from the input"},
			{Name: "alpha_w", Type: Float8, Default: 0.0, Fit: true, Doc: "regularisation of W (scikit-learn's alpha_W)"},
			{Name: "alpha_h", Type: Float8, Default: nil, Nullable: true, Fit: true, Doc: "regularisation of H; NULL means the same as alpha_w"},
			{Name: "l1_ratio", Type: Float8, Default: 0.0, Fit: true, Doc: "L1 share of the regularisation, 0 (L2) .. 1 (L1)"},
			{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "a stored model (flywheel.train(name, 'nmf', (SELECT row, col, value ...), k => ...)) whose factors predict, in place of input and fitting; only_missing then leaves out the pairs of the training input"},
		},
		Columns:      nmfColumns,
		ModelColumns: nmfModelColumns,
		Run:          runNMF,
		Returns:      []ReturnColumn{{"row", AnyType}, {"col", AnyType}, {"predicted", Float8}},
	}
}

func nmfColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	if got := firstWidth(inputs); got != 3 {
		return nil, &TypeError{Func: "nmf", Column: "input", Msg: fmt.Sprintf("want 3 columns (row, col, value), got %d", got)}
	}
	in := inputs[0]
	if !in[2].Numeric() {
		return nil, &TypeError{Func: "nmf", Column: in[2].Name, Msg: "the value column must be numeric"}
	}
	if err := nameClash("nmf", []string{in[0].Name, in[1].Name}, "predicted"); err != nil {
		return nil, err
	}
	return []OutputColumn{
		{Name: in[0].Name, Type: in[0].Type},
		{Name: in[1].Name, Type: in[1].Type},
		{Name: "predicted", Type: Float8.OID},
	}, nil
}

// nmfOptions reads the fitting options.
func nmfOptions(fn string, call *Call) (functions.NMFOptions, error) {
	var opt functions.NMFOptions
	k, err := call.Int("k")
	if err != nil {
		return opt, err
	}
	maxIter, err := call.Int("max_iter")
	if err != nil {
		return opt, err
	}
	if opt.Init, err = call.String("init"); err != nil {
		return opt, err
	}
	seed, err := call.Int("seed")
	if err != nil {
		return opt, err
	}
	if seed < 0 || seed > math.MaxUint32 {
		return opt, &ArgError{Func: fn, Arg: "seed", Msg: fmt.Sprintf("must be between 0 and 4294967295, got %d", seed)}
	}
	opt.Seed = uint32(seed)
	if k < 1 || k > math.MaxInt32 {
		return opt, &ArgError{Func: fn, Arg: "k", Msg: fmt.Sprintf("must be at least 1, got %d", k)}
	}
	opt.K = int(k)
	if maxIter < 1 || maxIter > math.MaxInt32 {
		return opt, &ArgError{Func: fn, Arg: "max_iter", Msg: fmt.Sprintf("must be at least 1, got %d", maxIter)}
	}
	opt.MaxIter = int(maxIter)
	if opt.AlphaW, err = call.Float("alpha_w"); err != nil {
		return opt, err
	}
	if !call.IsNull("alpha_h") {
		a, err := call.Float("alpha_h")
		if err != nil {
			return opt, err
		}
		opt.AlphaH = &a
	}
	if opt.L1Ratio, err = call.Float("l1_ratio"); err != nil {
		return opt, err
	}
	return opt, nil
}

// nmfFactors is a factorisation with what its results need: the keys of
// its rows and columns (result values: rowCol's value rowRows[i], and so
// for columns) and the observed (row, col) pairs, a CSR by row.
type nmfFactors struct {
	model            *functions.NMFModel
	rowCol, colCol   *Column
	rowRows, colRows []int
	obsPtr           []int
	obs              []int32
}

// nmfFit reads the input and options and factorises.
func nmfFit(ctx context.Context, fn string, call *Call) (*nmfFactors, *mfTriples, error) {
	rel, err := call.Relation("input")
	if err != nil {
		return nil, nil, err
	}
	if err := mfCheckColumns(fn, rel, 3, "(row, col, value)"); err != nil {
		return nil, nil, err
	}
	opt, err := nmfOptions(fn, call)
	if err != nil {
		return nil, nil, err
	}
	t, err := mfReadTriples(fn, "input", rel)
	if err != nil {
		return nil, nil, err
	}
	nr, nc := t.rows.Len(), t.cols.Len()
	if nr*nc > nmfMaxPairs {
		return nil, nil, &ArgError{Func: fn, Arg: "input", Msg: fmt.Sprintf("the dense result would have %d × %d = %d rows, more than the %d nmf returns", nr, nc, nr*nc, nmfMaxPairs)}
	}
	opt.Progress = nmfProgress(call)
	model, err := functions.NMF(ctx, t.r, t.c, t.v, nr, nc, opt)
	if err != nil {
		return nil, nil, inputArgError(fn, "input", err)
	}
	f := &nmfFactors{model: model, rowCol: rel.Columns[0], colCol: rel.Columns[1], rowRows: t.rows.First, colRows: t.cols.First}
	f.obsPtr, f.obs = ratedCSR(t)
	return f, t, nil
}

func runNMF(ctx context.Context, call *Call) (*Result, error) {
	const fn = "nmf"
	onlyMissing, err := call.Bool("only_missing")
	if err != nil {
		return nil, err
	}
	var f *nmfFactors
	if call.Model != nil {
		var ok bool
		if f, ok = call.Model.State.(*nmfFactors); !ok || call.Model.Kind != fn {
			return nil, kindError(fn, call.Model)
		}
	} else if f, _, err = nmfFit(ctx, fn, call); err != nil {
		return nil, err
	}
	return f.predict(ctx, onlyMissing)
}

// predict is nmf's result: W·H for every (row, col), or for the pairs
// not observed.
func (f *nmfFactors) predict(ctx context.Context, onlyMissing bool) (*Result, error) {
	nr, nc := f.model.Rows, f.model.Cols
	size := nr * nc
	if onlyMissing {
		size -= len(f.obs) // duplicates make it an underestimate, which is fine for a capacity
	}
	rowRows := make([]int, 0, max(size, 0))
	colRows := make([]int, 0, max(size, 0))
	pred := make([]float64, 0, max(size, 0))
	var buf []float64
	var seen []bool
	if onlyMissing {
		seen = make([]bool, nc)
	}
	for i := 0; i < nr; i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("nmf: %w", err)
			}
		}
		if onlyMissing {
			clear(seen)
			for _, j := range f.obs[f.obsPtr[i]:f.obsPtr[i+1]] {
				seen[j] = true
			}
		}
		buf = f.model.PredictRow(i, buf)
		for j, v := range buf {
			if onlyMissing && seen[j] {
				continue
			}
			rowRows = append(rowRows, f.rowRows[i])
			colRows = append(colRows, f.colRows[j])
			pred = append(pred, v)
		}
	}
	rc, cc := f.rowCol, f.colCol
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: rc.Name, Type: rc.Type}, From: rc, Rows: rowRows},
		{OutputColumn: OutputColumn{Name: cc.Name, Type: cc.Type}, From: cc, Rows: colRows},
		{OutputColumn: OutputColumn{Name: "predicted", Type: Float8.OID}, Floats: pred},
	}}, nil
}

// mfTriples is a (key, key, value) relation mapped to dense indices.
type mfTriples struct {
	rows, cols *functions.KeyIndex[string]
	r, c       []int
	v          []float64
}

// mfReadTriples reads a (row key, col key, value) relation; keys are
// matched by their text form and numbered in key order, NULL keys and
// values are errors naming the row and the argument arg.
func mfReadTriples(fn, arg string, rel *Relation) (*mfTriples, error) {
	n := rel.Rows()
	if n == 0 {
		return nil, &ArgError{Func: fn, Arg: arg, Msg: "is empty"}
	}
	rk, ck, vc := rel.Columns[0], rel.Columns[1], rel.Columns[2]
	t := &mfTriples{
		rows: functions.NewKeyIndex[string](), cols: functions.NewKeyIndex[string](),
		r: make([]int, n), c: make([]int, n), v: make([]float64, n),
	}
	// The two key columns index independently, so they run side by side;
	// the error reported is the first bad row's, as one pass would find
	// it, and on that row the user's before the item's before the value's.
	var rowBad int
	var rowErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rowBad, rowErr = mfIndexKeys(fn, arg, t.rows, rk, t.r)
	}()
	bad, err := mfIndexKeys(fn, arg, t.cols, ck, t.c)
	for i := range bad {
		v, verr := vc.Float(i)
		if verr != nil {
			bad, err = i, &ArgError{Func: fn, Arg: arg, Msg: verr.Error()}
			break
		}
		t.v[i] = v
	}
	<-done
	if rowErr != nil && rowBad <= bad {
		return nil, rowErr
	}
	if err != nil {
		return nil, err
	}
	mfSortKeys(t.rows, rk, t.r)
	mfSortKeys(t.cols, ck, t.c)
	return t, nil
}

// mfIndexKeys sets idx[i] to the index of col's key i in keys, adding
// keys as they come. Ratings usually arrive grouped by user, so a key
// equal to the row before's reuses its index without a lookup. A NULL
// key is an error, returned with its row; else the row is len(idx).
func mfIndexKeys(fn, arg string, keys *functions.KeyIndex[string], col *Column, idx []int) (int, error) {
	var prev []byte
	d := -1
	for i := range idx {
		if col.Null(i) {
			return i, &ArgError{Func: fn, Arg: arg, Msg: fmt.Sprintf("row %d: NULL in column %q", i+1, col.Name)}
		}
		b := col.Bytes(i)
		if d < 0 || string(b) != string(prev) {
			d, prev = mfAddKey(keys, b, i), b
		}
		idx[i] = d
	}
	return len(idx), nil
}

// mfSortKeys renumbers keys, the index of col's values, in key order (see
// keyorder.go) and idx, built with the old numbers, with them: the matrix
// and every tie break then depend on the keys, not on the rows' order.
func mfSortKeys(keys *functions.KeyIndex[string], col *Column, idx []int) {
	remap := keys.Sort(func(a, b int) int { return col.compare(keys.First[a], keys.First[b]) })
	for p, d := range idx {
		idx[p] = remap[d]
	}
}

// mfAddKey is keys.Add for a key's bytes, allocating its string only the
// first time the key is seen.
func mfAddKey(keys *functions.KeyIndex[string], b []byte, row int) int {
	if d, ok := keys.Lookup(string(b)); ok {
		return d
	}
	return keys.Add(string(b), row)
}

// mfCheckColumns checks a relation's column count in Run, for callers that
// skipped Columns.
func mfCheckColumns(fn string, rel *Relation, want int, shape string) error {
	if len(rel.Columns) != want {
		return &TypeError{Func: fn, Column: "input", Msg: fmt.Sprintf("want %d columns %s, got %d", want, shape, len(rel.Columns))}
	}
	return nil
}

// inputArgError turns a functions.InputError into an ArgError (SQLSTATE
// 22023) naming the SQL argument: the algorithms call their data "input"
// or "ratings", which becomes relArg here; their other names ("train",
// "predict") are the SQL argument names already. Other errors
// (cancellation) pass through.
func inputArgError(fn, relArg string, err error) error {
	ie, ok := functions.AsInputError(err)
	if !ok {
		return err
	}
	arg := ie.Arg
	if arg == "input" || arg == "ratings" {
		arg = relArg
	}
	msg := ie.Msg
	if ie.Row >= 0 {
		msg = "row " + strconv.Itoa(ie.Row+1) + ": " + msg
	}
	return &ArgError{Func: fn, Arg: arg, Msg: msg}
}

// nmfProgress reports a factorisation's iterations as the call's progress.
func nmfProgress(call *Call) func(int, float64) {
	if call.Progress == nil {
		return nil
	}
	return func(it int, rel float64) {
		call.Progressf("%s: nmf iteration %d, violation %.3g of the first's", call.Func.Name, it, rel)
	}
}
