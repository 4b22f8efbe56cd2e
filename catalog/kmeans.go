package catalog

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/flywheeldb/flywheel/functions"
)

const kmeansDoc = "k-means clustering as scikit-learn 1.2's KMeans does it: greedy k-means++ seeding, Lloyd/Elkan iterations, " +
	"n_init restarts keeping the lowest inertia, tol 1e-4 relative to the mean feature variance. " +
	"Input columns: key, then one or more numeric features. Features are optionally scaled first " +
	"(scale => 'standard' as StandardScaler, 'minmax' as MinMaxScaler); distances are measured after scaling. " +
	"The result depends on the input's rows, not on their order: rows are clustered in key order (then by the features), so the seeding, tie breaks and numbering are the same for any order of the same rows. " +
	"Clusters are numbered 0.. in key order of their first key: the cluster of the smallest key is 0, the cluster of the smallest key not in cluster 0 is 1, and so on. " +
	"Key order is the key type's own (numbers numerically, dates chronologically, text by bytes as in the C collation; NULL last). " +
	"k larger than the number of distinct rows is an error (scikit-learn would return coinciding clusters). " +
	"seed drives Flywheel's own generator: results are deterministic for a seed but are not scikit-learn's for the same random_state."

// kmeansArgs are the arguments kmeans and kmeans_centers share.
func kmeansArgs() []Arg {
	return []Arg{
		{Name: "input", Relation: true, Required: true, Doc: "(key, feature, ...): a key of any type, then numeric features"},
		{Name: "k", Type: Int4, Required: true, Fit: true, Doc: "number of clusters, 1 .. number of distinct rows"},
		{Name: "max_iter", Type: Int4, Default: int64(300), Fit: true, Doc: "iterations per restart"},
		{Name: "n_init", Type: Int4, Default: int64(10), Fit: true, Doc: "restarts; the lowest inertia wins"},
		{Name: "seed", Type: Int8, Default: int64(0), Fit: true, Doc: "random seed for the k-means++ seeding"},
		{Name: "scale", Type: Text, Default: "none", Fit: true, Doc: "'none', 'standard' (mean 0, std 1) or 'minmax' ([0, 1]) per feature before clustering"},
		{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "kmeans: a stored model (flywheel.train(name, 'kmeans', ...)) whose centres and scaling the rows are assigned to, in place of k and fitting"},
	}
}

// KMeans declares kmeans(input, k, ...): the cluster of every input row and
// its distance to the cluster's centre.
func KMeans() *Func {
	return &Func{
		Name:         "kmeans",
		Doc:          kmeansDoc + " Returns each row's key, cluster and Euclidean distance to its centre (in the scaled space).",
		Args:         kmeansArgs(),
		Columns:      kmeansColumns,
		ModelColumns: kmeansModelColumns,
		Run:          runKMeans,
		Returns:      []ReturnColumn{{"key", AnyType}, {"cluster", Int4}, {"distance", Float8}},
	}
}

// KMeansCenters declares kmeans_centers(input, k, ...): one row per
// cluster with its size and centre.
func KMeansCenters() *Func {
	return &Func{
		Name: "kmeans_centers",
		Doc: kmeansDoc + " Returns one row per cluster: cluster, size, then the centre's coordinates in the input's units, " +
			"one double precision column per feature, named as the input's feature columns.",
		Args:    kmeansArgs(),
		Columns: kmeansCentersColumns,
		Run:     runKMeansCenters,
		Returns: []ReturnColumn{{"cluster", Int4}, {"size", Int8}},
	}
}

// kmInputColumns checks the input's shape: a key and at least one numeric
// feature.
func kmInputColumns(fn string, inputs [][]InputColumn) ([]InputColumn, error) {
	if got := firstWidth(inputs); got < 2 {
		return nil, &TypeError{Func: fn, Column: "input", Msg: fmt.Sprintf("want a key column and at least one feature column, got %d columns", got)}
	}
	in := inputs[0]
	for _, c := range in[1:] {
		if !c.Numeric() {
			return nil, &TypeError{Func: fn, Column: c.Name, Msg: "feature columns must be numeric (integer, bigint, smallint, real, double precision or numeric)"}
		}
	}
	return in, nil
}

func kmeansColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	in, err := kmInputColumns("kmeans", inputs)
	if err != nil {
		return nil, err
	}
	if err := nameClash("kmeans", []string{in[0].Name}, "cluster", "distance"); err != nil {
		return nil, err
	}
	return []OutputColumn{
		{Name: in[0].Name, Type: in[0].Type},
		{Name: "cluster", Type: Int4.OID},
		{Name: "distance", Type: Float8.OID},
	}, nil
}

func kmeansCentersColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	in, err := kmInputColumns("kmeans_centers", inputs)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(in)-1)
	for _, c := range in[1:] {
		names = append(names, c.Name)
	}
	if err := nameClash("kmeans_centers", names, "cluster", "size"); err != nil {
		return nil, err
	}
	out := []OutputColumn{{Name: "cluster", Type: Int4.OID}, {Name: "size", Type: Int8.OID}}
	for _, n := range names {
		out = append(out, OutputColumn{Name: n, Type: Float8.OID})
	}
	return out, nil
}

// kmFit reads the call's arguments and input, checks the input's columns
// with the function's Columns, and clusters.
//
// The rows are clustered in key order (kmRowOrder); order[p] is the input
// row behind the result's row p.
func kmFit(ctx context.Context, fn string, columns func([][]InputColumn) ([]OutputColumn, error), call *Call) (rel *Relation, order []int, res *functions.KMeansResult, err error) {
	rel, err = call.checkedRelation("input", columns)
	if err != nil {
		return nil, nil, nil, err
	}
	opt := functions.KMeansOptions{}
	for _, a := range []struct {
		name string
		dst  *int
		min  int64
	}{{"k", &opt.K, 1}, {"max_iter", &opt.MaxIter, 1}, {"n_init", &opt.NInit, 1}} {
		v, err := call.Int(a.name)
		if err != nil {
			return nil, nil, nil, err
		}
		if v < a.min || v > math.MaxInt32 {
			return nil, nil, nil, &ArgError{Func: fn, Arg: a.name, Msg: fmt.Sprintf("must be between %d and %d, got %d", a.min, math.MaxInt32, v)}
		}
		*a.dst = int(v)
	}
	seed, err := call.Int("seed")
	if err != nil {
		return nil, nil, nil, err
	}
	opt.Seed = uint64(seed) // any bigint is a seed; negative ones wrap
	if opt.Scale, err = call.String("scale"); err != nil {
		return nil, nil, nil, err
	}
	switch opt.Scale {
	case functions.ScaleNone, functions.ScaleStandard, functions.ScaleMinMax:
	default:
		return nil, nil, nil, &ArgError{Func: fn, Arg: "scale", Msg: fmt.Sprintf("must be 'none', 'standard' or 'minmax', got %q", opt.Scale)}
	}

	n, d := rel.Rows(), len(rel.Columns)-1
	if n == 0 {
		return nil, nil, nil, &ArgError{Func: fn, Arg: "input", Msg: "is empty"}
	}
	order = kmRowOrder(rel)
	pos := make([]int, n) // pos[i] is input row i's position in key order
	for p, i := range order {
		pos[i] = p
	}
	// One flat row-major matrix in key order, filled straight from the
	// text values (in input order, so a bad value's error is the same as
	// ever): no per-column float slices on the way.
	x := make([]float64, n*d)
	for j, c := range rel.Columns[1:] {
		for i := 0; i < n; i++ {
			v, err := c.Float(i)
			if err != nil {
				return nil, nil, nil, &ArgError{Func: fn, Arg: "input", Msg: err.Error()}
			}
			x[pos[i]*d+j] = v
		}
	}
	res, err = functions.KMeans(ctx, x, d, opt)
	if err != nil {
		if ie, ok := functions.AsInputError(err); ok && ie.Row >= 0 {
			ie.Row = order[ie.Row] // name the row as the input has it
		}
		return nil, nil, nil, inputArgError(fn, "input", err)
	}
	return rel, order, res, nil
}

// kmRowOrder is the order k-means sees the rows in: by key (see
// keyorder.go), then by the features, so that seeding, tie breaks and
// cluster numbers depend on the input's contents only. Rows equal in key
// and every feature are interchangeable, so their relative order does not
// show in the result. order[p] is the input row at position p.
func kmRowOrder(rel *Relation) []int {
	order := identity(rel.Rows())
	cmp := func(a, b int) int {
		for _, c := range rel.Columns {
			if r := c.compare(a, b); r != 0 {
				return r
			}
		}
		return 0
	}
	// Tables read by a sequential scan are often in key order already.
	if !slices.IsSortedFunc(order, cmp) {
		slices.SortStableFunc(order, cmp)
	}
	return order
}

func runKMeans(ctx context.Context, call *Call) (*Result, error) {
	if call.Model != nil {
		return runKMeansModel(ctx, call)
	}
	rel, order, res, err := kmFit(ctx, "kmeans", kmeansColumns, call)
	if err != nil {
		return nil, err
	}
	return kmeansResult(rel.Columns[0], order, res.Labels, res.Distances), nil
}

// kmeansResult is kmeans' rows: result row p is the key's row rows[p], its
// cluster labels[p] and distance dist[p].
func kmeansResult(key *Column, rows, labels []int, dist []float64) *Result {
	clusters := make([]int64, len(labels))
	for p, l := range labels {
		clusters[p] = int64(l)
	}
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: key.Name, Type: key.Type}, From: key, Rows: rows},
		{OutputColumn: OutputColumn{Name: "cluster", Type: Int4.OID}, Ints: clusters},
		{OutputColumn: OutputColumn{Name: "distance", Type: Float8.OID}, Floats: dist},
	}}
}

func runKMeansCenters(ctx context.Context, call *Call) (*Result, error) {
	rel, _, res, err := kmFit(ctx, "kmeans_centers", kmeansCentersColumns, call)
	if err != nil {
		return nil, err
	}
	k, d := res.K, res.Features
	clusters := make([]int64, k)
	sizes := make([]int64, k)
	for c := range clusters {
		clusters[c] = int64(c)
		sizes[c] = int64(res.Sizes[c])
	}
	out := []ResultColumn{
		{OutputColumn: OutputColumn{Name: "cluster", Type: Int4.OID}, Ints: clusters},
		{OutputColumn: OutputColumn{Name: "size", Type: Int8.OID}, Ints: sizes},
	}
	for j, col := range rel.Columns[1:] {
		v := make([]float64, k)
		for c := range v {
			v[c] = res.Centers[c*d+j]
		}
		out = append(out, ResultColumn{OutputColumn: OutputColumn{Name: col.Name, Type: Float8.OID}, Floats: v})
	}
	return &Result{Columns: out}, nil
}
