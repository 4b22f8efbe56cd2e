package catalog

import (
	"context"
	"fmt"

	"github.com/flywheeldb/flywheel/functions"
)

// A model kind is a function whose fit can be stored: flywheel.train runs
// its fit once, the store keeps the encoded state, and the function called
// with model => 'name' predicts from it instead of fitting again.
type modelKind struct {
	fn func() *Func // the function's declaration
	// input is the argument train's input relation stands for; train's
	// options are the function's other Fit arguments.
	input string
	// fit trains on call (the function's own arguments, input included)
	// and returns the encoded state with training metrics.
	fit func(ctx context.Context, call *Call) (*fitted, error)
	// decode turns an encoded state back into m.State.
	decode func(m *Model, state []byte) error
	// evaluate measures a decoded model on held-out rows shaped like the
	// input; split divides an input for train's holdout => share.
	evaluate func(ctx context.Context, m *Model, test *Relation) (map[string]float64, error)
	split    func(rel *Relation, share float64) (train, test *Relation)
	// learn updates a decoded model with new rows shaped like the input,
	// without fitting again (flywheel.learn); nil when the kind cannot.
	learn func(ctx context.Context, m *Model, rel *Relation) (*fitted, error)
	// primary is the metric promote => 'if_better' compares (higher is
	// better when higher is set).
	primary string
	higher  bool
}

// fitted is a fit's outcome.
type fitted struct {
	state   []byte
	metrics map[string]float64
	rows    int // the rows fitted on
	base    int // the version state is a delta on (learn), 0 for a whole state
	// decoded is state decoded (Model.State), with its size, when the
	// kind built it anyway (learn).
	decoded any
	size    int64
}

// modelKinds lists the kinds by name: the functions train accepts.
func modelKinds() map[string]*modelKind {
	return map[string]*modelKind{
		"recommend": recommendKind(),
		"kmeans":    kmeansKind(),
		"sgd_regress": {fn: SGDRegress, input: "train", fit: fitSGD, decode: decodeSGD, learn: learnSGD,
			evaluate: evaluateSGD, split: tailSplit, primary: "rmse"},
		"holt_forecast": holtKind(),
		"similar_items": similarKind(),
		"nmf":           nmfKind(),
	}
}

// DecodeModel decodes a stored state of m.Kind into m.State and sets
// m.Size: the model store's decoder.
//
// A state stored as a delta on another version (Trained.Base) is decoded
// with that version's decoded state in m.State, which it learns onto and
// leaves as it was.
func DecodeModel(m *Model, state []byte) error {
	k, ok := modelKinds()[m.Kind]
	if !ok {
		return fmt.Errorf("unknown model kind %q", m.Kind)
	}
	if err := k.decode(m, state); err != nil {
		return err
	}
	if m.Size == 0 {
		m.Size = int64(len(state))
	}
	return nil
}

// keyColumn holds a model's keys (users, items, rows) as a Column, so
// results pass them through as the training input's values.
func keyColumn(col InputColumn, keys []string) *Column {
	c := NewColumn(col)
	for _, k := range keys {
		c.Append([]byte(k))
	}
	return c
}

// keyIndex indexes keys in their stored order.
func keyIndex(keys []string) *functions.KeyIndex[string] {
	x := functions.NewKeyIndex[string]()
	for i, k := range keys {
		x.Add(k, i)
	}
	return x
}

// modelInputs checks that a model has the input columns its kind needs.
func modelInputs(m *Model, want int) error {
	if len(m.Inputs) < want {
		return fmt.Errorf("model %q version %d: stored with %d input columns, want %d", m.Name, m.Version, len(m.Inputs), want)
	}
	return nil
}

// predictFeatures checks a predict relation's columns against the
// features a model was trained on (the model's feature columns are
// m.Inputs[from:to]): as many, and numeric.
func predictFeatures(fn, arg string, m *Model, pred []InputColumn, from, to int) error {
	want := to - from
	if len(pred) != want+1 {
		return &TypeError{Func: fn, Column: arg, Msg: fmt.Sprintf("model %q was trained on %d feature columns; want a key and %d features, got %d columns",
			m.Name, want, want, len(pred))}
	}
	for i, c := range pred[1:] {
		if !c.Numeric() {
			return &TypeError{Func: fn, Column: c.Name, Msg: fmt.Sprintf("must be numeric, as model %q's feature %q", m.Name, m.Inputs[from+i].Name)}
		}
	}
	return nil
}

// modelOnly checks a call that predicts from m and takes no relation of
// its own: m is of the kind (the function's name fn), the call gives no
// input relation (named arg), and m has at least want input columns.
func modelOnly(fn, arg string, m *Model, inputs [][]InputColumn, want int) error {
	if m.Kind != fn {
		return kindError(fn, m)
	}
	if len(inputs) > 0 && inputs[0] != nil {
		return &ArgError{Func: fn, Arg: arg, Msg: fmt.Sprintf("pass either %s or model, not both", arg)}
	}
	return modelInputs(m, want)
}
