package catalog

import (
	"context"
	"fmt"

	"github.com/flywheeldb/flywheel/functions"
)

// A stored kmeans model is the fit's functions.KMeansModel (centres in
// scaled space, numbered as the one-shot call numbers its clusters, and
// the scaling), so assigning the training rows gives the one-shot result,
// with each cluster's size, which learn weighs new rows against.
type kmeansModel struct {
	*functions.KMeansModel
	sizes []int
}

// State format "kmeans-model" v1: the cluster sizes, then the
// functions.KMeansModel state.
const (
	kmeansStateKind    = "kmeans-model"
	kmeansStateVersion = 1
)

func kmeansKind() *modelKind {
	return &modelKind{
		fn: KMeans, input: "input", fit: fitKMeans, decode: decodeKMeans, learn: learnKMeans,
		evaluate: evaluateKMeans, primary: "inertia_per_row",
		split: func(rel *Relation, share float64) (*Relation, *Relation) { return hashSplit(rel, []int{0}, share) },
	}
}

func fitKMeans(ctx context.Context, call *Call) (*fitted, error) {
	_, _, res, err := kmFit(ctx, "kmeans", kmeansColumns, call)
	if err != nil {
		return nil, err
	}
	b, err := encodeKMeans(&kmeansModel{res.Model(), res.Sizes})
	if err != nil {
		return nil, err
	}
	return &fitted{state: b, metrics: map[string]float64{"inertia": res.Inertia, "k": float64(res.K), "n_iter": float64(res.NIter)}}, nil
}

func encodeKMeans(km *kmeansModel) ([]byte, error) {
	b, err := km.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e := functions.NewEncoder(kmeansStateKind, kmeansStateVersion, len(b)+8*len(km.sizes))
	e.Ints(km.sizes)
	e.Bytes(b)
	return e.Finish(), nil
}

func decodeKMeans(m *Model, state []byte) error {
	d, err := functions.NewDecoder(state, kmeansStateKind, kmeansStateVersion)
	if err != nil {
		return err
	}
	sizes, blob := d.Ints(), d.Bytes()
	if err := d.Finish(); err != nil {
		return err
	}
	km := &functions.KMeansModel{}
	if err := km.UnmarshalBinary(blob); err != nil {
		return err
	}
	if len(sizes) != km.K {
		return fmt.Errorf("kmeans state: %d sizes for %d clusters", len(sizes), km.K)
	}
	if err := modelInputs(m, km.D+1); err != nil {
		return err
	}
	m.State = &kmeansModel{km, sizes}
	return nil
}

func kmeansModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if m.Kind != "kmeans" {
		return nil, kindError("kmeans", m)
	}
	in, err := kmInputColumns("kmeans", inputs)
	if err != nil {
		return nil, err
	}
	if err := predictFeatures("kmeans", "input", m, in, 1, len(m.Inputs)); err != nil {
		return nil, err
	}
	return kmeansColumns(inputs)
}

// runKMeansModel assigns the input's rows to a stored model's clusters.
func runKMeansModel(ctx context.Context, call *Call) (*Result, error) {
	const fn = "kmeans"
	km, ok := call.Model.State.(*kmeansModel)
	if !ok {
		return nil, kindError(fn, call.Model)
	}
	rel, err := call.Relation("input")
	if err != nil {
		return nil, err
	}
	if _, err := kmeansModelColumns(call.Model, [][]InputColumn{inputColumns(rel)}); err != nil {
		return nil, err
	}
	n := rel.Rows()
	x, err := sgdMatrix(fn, "input", rel.Columns[1:], n)
	if err != nil {
		return nil, err
	}
	labels, dist, err := km.Assign(x, n)
	if err != nil {
		return nil, inputArgError(fn, "input", err)
	}
	return kmeansResult(rel.Columns[0], identity(n), labels, dist), nil
}
