package catalog

import (
	"context"
	"fmt"

	"github.com/flywheeldb/flywheel/functions"
)

// A stored nmf model is the factorisation with its row and column keys in
// key order and the observed (row, col) pairs, which only_missing leaves
// out: predicting from it gives the one-shot call's result on the
// training input.
//
// State format "nmf-model" v1 (not "nmf", the factors' own kind inside): Strings row keys, Strings column keys (both in
// key order), Bytes the functions.NMFModel, then the observed pairs as a
// CSR by row: Ints pointers (rows + 1), Int32s columns.
const (
	nmfStateKind    = "nmf-model"
	nmfStateVersion = 1
)

func nmfKind() *modelKind {
	return &modelKind{fn: NMF, input: "input", fit: fitNMFModel, decode: decodeNMF, primary: "reconstruction_err"}
}

func fitNMFModel(ctx context.Context, call *Call) (*fitted, error) {
	const fn = "nmf"
	if _, err := call.checkedRelation("input", nmfColumns); err != nil {
		return nil, err
	}
	f, t, err := nmfFit(ctx, fn, call)
	if err != nil {
		return nil, err
	}
	b, err := f.model.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e := functions.NewEncoder(nmfStateKind, nmfStateVersion, len(b)+16*(t.rows.Len()+t.cols.Len())+8*len(f.obs))
	e.Strings(t.rows.Keys)
	e.Strings(t.cols.Keys)
	e.Bytes(b)
	e.Ints(f.obsPtr)
	e.Int32s(f.obs)
	return &fitted{state: e.Finish(), metrics: map[string]float64{
		"rows": float64(t.rows.Len()), "cols": float64(t.cols.Len()), "entries": float64(len(t.v)),
		"reconstruction_err": f.model.ReconstructionErr, "n_iter": float64(f.model.NIter),
	}}, nil
}

func decodeNMF(m *Model, state []byte) error {
	if err := modelInputs(m, 3); err != nil {
		return err
	}
	d, err := functions.NewDecoder(state, nmfStateKind, nmfStateVersion)
	if err != nil {
		return err
	}
	rows, cols := d.Strings(), d.Strings()
	blob := d.Bytes()
	ptr, obs := d.Ints(), d.Int32s()
	if err := d.Finish(); err != nil {
		return err
	}
	model := &functions.NMFModel{}
	if err := model.UnmarshalBinary(blob); err != nil {
		return err
	}
	if model.Rows != len(rows) || model.Cols != len(cols) {
		return fmt.Errorf("%w: %d rows and %d columns, but the factors are %d×%d", functions.ErrStateCorrupt, len(rows), len(cols), model.Rows, model.Cols)
	}
	if len(ptr) != len(rows)+1 || !validCSR(ptr, obs, len(cols)) {
		return fmt.Errorf("%w: the observed pairs are not a valid index", functions.ErrStateCorrupt)
	}
	f := &nmfFactors{model: model, rowCol: keyColumn(m.Inputs[0], rows), colCol: keyColumn(m.Inputs[1], cols), obsPtr: ptr, obs: obs}
	f.rowRows, f.colRows = identity(len(rows)), identity(len(cols))
	m.State = f
	return nil
}

func nmfModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	if err := modelOnly("nmf", "input", m, inputs, 3); err != nil {
		return nil, err
	}
	return nmfColumns([][]InputColumn{m.Inputs})
}
