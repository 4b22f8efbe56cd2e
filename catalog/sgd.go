package catalog

import (
	"context"
	"fmt"
	"math"

	"github.com/flywheeldb/flywheel/functions"
)

// SGDRegress declares sgd_regress(train, predict, ...): an online linear
// regression learned from train's rows in order, applied to predict's rows.
func SGDRegress() *Func {
	return &Func{
		Name: "sgd_regress",
		Doc: "Online linear regression as scikit-learn 1.2's SGDRegressor (squared loss, with intercept) learns it with partial_fit: " +
			"one sample at a time, in the order train's rows arrive (shuffle=False), so write ORDER BY in the train subquery. " +
			"train: numeric features x1..xn then the target y (last column). predict: a key of any type, then the same n features. " +
			"Returns each predict row's key and prediction. With epochs > 1 it is SGDRegressor(shuffle=False, max_iter=epochs).fit: " +
			"passes stop early, as scikit-learn's do, once the training loss has not improved by 1e-3 per row for 5 passes " +
			"('adaptive' divides eta by 5 instead).",
		Args: []Arg{
			{Name: "train", Relation: true, Required: true, Fit: true, Doc: "(x1, ..., xn, y), numeric, in learning order"},
			{Name: "predict", Relation: true, Required: true, Doc: "(key, x1, ..., xn): rows to predict"},
			{Name: "alpha", Type: Float8, Default: 0.0001, Fit: true, Doc: "regularisation strength, >= 0 (> 0 for 'optimal')"},
			{Name: "eta0", Type: Float8, Default: 0.01, Fit: true, Doc: "initial learning rate, > 0 (unused by 'optimal')"},
			{Name: "power_t", Type: Float8, Default: 0.25, Fit: true, Doc: "exponent of 'invscaling': eta = eta0 / t^power_t"},
			{Name: "learning_rate", Type: Text, Default: "invscaling", Fit: true, Doc: "'invscaling', 'constant', 'optimal' or 'adaptive'"},
			{Name: "penalty", Type: Text, Default: "l2", Fit: true, Doc: "'l2', 'l1', 'elasticnet' or 'none'"},
			{Name: "epochs", Type: Int4, Default: int64(1), Fit: true, Doc: "passes over train, in order (at most; see above)"},
			{Name: "l1_ratio", Type: Float8, Default: 0.15, Fit: true, Doc: "L1 share of 'elasticnet', 0 .. 1"},
			{Name: "model", Type: Text, Default: nil, Nullable: true, Doc: "a stored model (flywheel.train(name, 'sgd_regress', ...)) to predict from, in place of train"},
		},
		Columns:      sgdColumns,
		ModelColumns: sgdModelColumns,
		Run:          runSGDRegress,
		Returns:      []ReturnColumn{{"key", AnyType}, {"prediction", Float8}},
	}
}

func sgdColumns(inputs [][]InputColumn) ([]OutputColumn, error) {
	const fn = "sgd_regress"
	if len(inputs) < 2 {
		return nil, &TypeError{Func: fn, Column: "train", Msg: "needs the train and predict relations"}
	}
	train, pred := inputs[0], inputs[1]
	if len(train) < 2 {
		return nil, &TypeError{Func: fn, Column: "train", Msg: fmt.Sprintf("want at least one feature column and the target, got %d columns", len(train))}
	}
	if len(pred) != len(train) {
		return nil, &TypeError{Func: fn, Column: "predict", Msg: fmt.Sprintf("want a key and the %d feature columns train has, got %d columns", len(train)-1, len(pred))}
	}
	for _, c := range train {
		if !c.Numeric() {
			return nil, &TypeError{Func: fn, Column: c.Name, Msg: "train's columns must be numeric"}
		}
	}
	for _, c := range pred[1:] {
		if !c.Numeric() {
			return nil, &TypeError{Func: fn, Column: c.Name, Msg: "predict's feature columns must be numeric"}
		}
	}
	return sgdOutput(pred)
}

// sgdOutput is the result's columns for predict's columns pred: its key
// and the prediction.
func sgdOutput(pred []InputColumn) ([]OutputColumn, error) {
	if pred[0].Name == "prediction" {
		return nil, &TypeError{Func: "sgd_regress", Column: pred[0].Name, Msg: "the output would have two columns of this name; rename the key in the subquery (AS ...)"}
	}
	return []OutputColumn{{Name: pred[0].Name, Type: pred[0].Type}, {Name: "prediction", Type: Float8.OID}}, nil
}

// sgdMatrix reads columns of rel as a flat row-major matrix.
func sgdMatrix(fn, arg string, cols []*Column, n int) ([]float64, error) {
	d := len(cols)
	x := make([]float64, n*d)
	for j, c := range cols {
		for i := 0; i < n; i++ {
			v, err := c.Float(i)
			if err != nil {
				return nil, &ArgError{Func: fn, Arg: arg, Msg: err.Error()}
			}
			x[i*d+j] = v
		}
	}
	return x, nil
}

func runSGDRegress(ctx context.Context, call *Call) (*Result, error) {
	const fn = "sgd_regress"
	pred, err := call.Relation("predict")
	if err != nil {
		return nil, err
	}
	var pc []InputColumn
	for _, c := range pred.Columns {
		pc = append(pc, c.InputColumn)
	}
	if call.Model != nil {
		if _, err := sgdModelColumns(call.Model, [][]InputColumn{nil, pc}); err != nil {
			return nil, err
		}
		m, ok := call.Model.State.(*functions.SGDRegressor)
		if !ok {
			return nil, kindError(fn, call.Model)
		}
		return sgdPredict(m, pred)
	}
	if call.IsNull("train") {
		return nil, &ArgError{Func: fn, Arg: "train", Msg: "is required: pass train => (SELECT x1, ..., y FROM ...) or model => 'name'"}
	}
	train, err := call.Relation("train")
	if err != nil {
		return nil, err
	}
	if _, err := sgdColumns([][]InputColumn{inputColumns(train), pc}); err != nil {
		return nil, err
	}
	m, err := sgdFit(ctx, call, train)
	if err != nil {
		return nil, err
	}
	return sgdPredict(m, pred)
}

// sgdFit learns from train's rows with the call's options.
func sgdFit(ctx context.Context, call *Call, train *Relation) (*functions.SGDRegressor, error) {
	const fn = "sgd_regress"
	var err error
	opt := functions.DefaultSGDOptions()
	for _, a := range []struct {
		name string
		dst  *float64
	}{{"alpha", &opt.Alpha}, {"eta0", &opt.Eta0}, {"power_t", &opt.PowerT}, {"l1_ratio", &opt.L1Ratio}} {
		if *a.dst, err = call.Float(a.name); err != nil {
			return nil, err
		}
	}
	if opt.LearningRate, err = call.String("learning_rate"); err != nil {
		return nil, err
	}
	if opt.Penalty, err = call.String("penalty"); err != nil {
		return nil, err
	}
	epochs, err := call.Int("epochs")
	if err != nil {
		return nil, err
	}
	if epochs < 1 || epochs > math.MaxInt32 {
		return nil, &ArgError{Func: fn, Arg: "epochs", Msg: fmt.Sprintf("must be between 1 and %d, got %d", math.MaxInt32, epochs)}
	}

	d := len(train.Columns) - 1
	m, err := functions.NewSGDRegressor(d, opt)
	if err != nil {
		return nil, inputArgError(fn, "train", err)
	}
	n := train.Rows()
	if n == 0 {
		return nil, &ArgError{Func: fn, Arg: "train", Msg: "is empty"}
	}
	x, err := sgdMatrix(fn, "train", train.Columns[:d], n)
	if err != nil {
		return nil, err
	}
	y, err := train.Columns[d].Floats()
	if err != nil {
		return nil, &ArgError{Func: fn, Arg: "train", Msg: err.Error()}
	}
	if err := m.Fit(ctx, x, y, int(epochs)); err != nil {
		return nil, inputArgError(fn, "train", err)
	}
	return m, nil
}

// sgdPredict applies a fitted regressor to predict's rows.
func sgdPredict(m *functions.SGDRegressor, pred *Relation) (*Result, error) {
	const fn = "sgd_regress"
	np := pred.Rows()
	px, err := sgdMatrix(fn, "predict", pred.Columns[1:], np)
	if err != nil {
		return nil, err
	}
	p, err := m.Predict(px)
	if err != nil {
		return nil, inputArgError(fn, "predict", err)
	}
	rows := identity(np)
	key := pred.Columns[0]
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: key.Name, Type: key.Type}, From: key, Rows: rows},
		{OutputColumn: OutputColumn{Name: "prediction", Type: Float8.OID}, Floats: p},
	}}, nil
}

func sgdModelColumns(m *Model, inputs [][]InputColumn) ([]OutputColumn, error) {
	const fn = "sgd_regress"
	if m.Kind != fn {
		return nil, kindError(fn, m)
	}
	if len(inputs) > 0 && inputs[0] != nil {
		return nil, &ArgError{Func: fn, Arg: "train", Msg: "pass either train or model, not both"}
	}
	if len(inputs) < 2 || inputs[1] == nil {
		return nil, &TypeError{Func: fn, Column: "predict", Msg: "is required: pass predict => (SELECT key, x1, ..., xn FROM ...)"}
	}
	pred := inputs[1]
	if err := predictFeatures(fn, "predict", m, pred, 0, len(m.Inputs)-1); err != nil {
		return nil, err
	}
	return sgdOutput(pred)
}

// fitSGD trains a stored sgd_regress model: its state is the regressor,
// which a later learn can continue exactly where it stopped.
func fitSGD(ctx context.Context, call *Call) (*fitted, error) {
	const fn = "sgd_regress"
	train, err := call.Relation("train")
	if err != nil {
		return nil, err
	}
	if len(train.Columns) < 2 {
		return nil, &TypeError{Func: fn, Column: "train", Msg: fmt.Sprintf("want at least one feature column and the target, got %d columns", len(train.Columns))}
	}
	for _, c := range train.Columns {
		if !c.Numeric() {
			return nil, &TypeError{Func: fn, Column: c.Name, Msg: "train's columns must be numeric"}
		}
	}
	m, err := sgdFit(ctx, call, train)
	if err != nil {
		return nil, err
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &fitted{state: b, metrics: map[string]float64{"rows": float64(train.Rows())}}, nil
}

func decodeSGD(m *Model, state []byte) error {
	r := &functions.SGDRegressor{}
	if err := r.UnmarshalBinary(state); err != nil {
		return err
	}
	if err := modelInputs(m, len(r.Coef())+1); err != nil {
		return err
	}
	m.State = r
	return nil
}
