package catalog

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// The model lifecycle functions, called as flywheel.train(...),
// flywheel.deploy(...) and so on. They run in the proxy like the model
// functions, and write through the session's connection, so they belong
// to its transaction.

// trainOwn reports whether an argument is train's own; the rest are the
// kinds' options.
func trainOwn(name string) bool {
	switch name {
	case "name", "kind", "input", "holdout", "promote", "refresh", "watermark", "refresh_mode", "traffic", "events", "within":
		return true
	}
	return false
}

// Jsonb is the type of metrics columns.
var Jsonb = Type{"jsonb", 3802}

// Train declares flywheel.train(name, kind, input, <options>, holdout,
// promote): fit a model once and store it as the name's next version.
func Train() *Func {
	kinds := modelKinds()
	names := slices.Sorted(maps.Keys(kinds))
	args := []Arg{
		{Name: "name", Type: Text, Required: true, Doc: "the model's name; the same name again makes its next version"},
		{Name: "kind", Type: Text, Required: true, Doc: "the function whose fit is stored: " + quoteList(names)},
		{Name: "input", Relation: true, Required: true, Doc: "the relation the function takes to fit: " + kindInputs(kinds, names)},
		{Name: "holdout", Type: Float8, Default: 0.0, Doc: "share of the input, 0 .. 0.9, held out to measure the version (a deterministic split: by key hash, for sgd_regress the last rows)"},
		{Name: "promote", Type: Text, Default: "always", Doc: "'always' deploys the new version, 'if_better' only when its primary holdout metric beats the deployed version's, " +
			"'if_better_online' (recommend) serves it to a share of the users (traffic) beside the deployed one and deploys it when, after the window (within), " +
			"its decisions' hit rate against events beats the deployed one's over the same time; 'never' keeps it as a challenger"},
		{Name: "traffic", Type: Float8, Default: nil, Nullable: true, Doc: "with promote => 'if_better_online': the share of users (0 .. 0.5, by a hash of the user's key; NULL: 0.1) the new version serves during its trial"},
		{Name: "events", Relation: true, Default: nil, Nullable: true, Doc: "with promote => 'if_better_online': (user, item, event_time), what users did; read again when the trial is judged"},
		{Name: "within", Type: Text, Default: "7 days", Doc: "with promote => 'if_better_online': how long the trial runs, and how long after a decision an event counts as its hit (an interval)"},
		{Name: "refresh", Type: Text, Default: nil, Nullable: true, Doc: "retrain in the background on this input and these options: an interval ('10 minutes'; 1 second to 1 year) or 'on_change' (when the input's row count, or the watermark's maximum, grew); each train sets the policy, NULL stops refreshing"},
		{Name: "watermark", Type: Text, Default: nil, Nullable: true, Doc: "with refresh => 'on_change' or refresh_mode => 'learn': the input column (number, date or timestamp) whose maximum growing means new rows"},
		{Name: "refresh_mode", Type: Text, Default: "train", Doc: "'train' fits each refresh on the whole input again; 'learn' (with watermark; kinds that learn: sgd_regress, kmeans, holt_forecast, recommend user_cf) learns only the input's rows past the watermark's last maximum into the deployed version, as flywheel.learn"},
	}
	// Every kind's training options, once each, defaulting to the kind's
	// own default (NULL here).
	// An option several kinds share (k, seed, alpha) is one argument whose
	// documentation lists each kind's meaning.
	seen := map[string]int{}
	for i, a := range args {
		seen[a.Name] = i
	}
	for _, n := range names {
		k := kinds[n]
		for _, a := range k.fn().Args {
			if a.Relation || !a.Fit {
				continue
			}
			if i, ok := seen[a.Name]; ok {
				if !trainOwn(a.Name) {
					args[i].Doc += "; " + n + ": " + a.Doc
				}
				continue
			}
			seen[a.Name] = len(args)
			args = append(args, Arg{Name: a.Name, Type: a.Type, Default: nil, Nullable: true, Doc: n + ": " + a.Doc})
		}
	}
	return &Func{
		Name:      "train",
		Qualified: true,
		Doc: "Trains a model once and stores it in the database as the name's next version (schema flywheel: views models and model_versions). " +
			"Calls then predict from it with model => name, e.g. recommend(user, n, model => 'recs'), without fitting again. " +
			"Options not given take the kind's defaults. Part of the session's transaction: ROLLBACK leaves no version. " +
			"With refresh => an interval or 'on_change', Flywheel retrains it on the same input and options in the background (flywheel.models shows the next refresh and the last error). " +
			"Returns the version made, its training rows, metrics (jsonb), whether it was deployed and the training time in milliseconds.",
		Args:    args,
		Columns: fixedColumns(lifecycleColumns()),
		Run:     runTrain,
		Returns: lifecycleReturns(),
	}
}

// kindInputs says which relation train's input is for each kind.
func kindInputs(kinds map[string]*modelKind, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "'s " + kinds[n].input
	}
	return strings.Join(parts, ", ")
}

// lifecycleReturns are the columns train, deploy and rollback return.
func lifecycleReturns() []ReturnColumn {
	return []ReturnColumn{{"model", Text}, {"version", Int4}, {"kind", Text}, {"rows", Int8},
		{"metrics", Jsonb}, {"deployed", Bool}, {"train_ms", Float8}}
}

func lifecycleColumns() []OutputColumn { return returnsColumns(lifecycleReturns()) }

// fixedColumns is a Columns for a function whose result never depends on
// its input's columns.
func fixedColumns(out []OutputColumn) func([][]InputColumn) ([]OutputColumn, error) {
	return func([][]InputColumn) ([]OutputColumn, error) { return out, nil }
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// store returns the call's model store, or the error for its absence.
func store(call *Call) (ModelStore, error) {
	if call.Store == nil || call.DB == nil {
		return nil, &Error{Code: "55000", Message: "this Flywheel runs without a model store"}
	}
	return call.Store, nil
}

// storeAndName is what every lifecycle function starts with: the store
// and the model's name.
func storeAndName(call *Call) (ModelStore, string, error) {
	st, err := store(call)
	if err != nil {
		return nil, "", err
	}
	name, err := nonEmpty(call, "name")
	return st, name, err
}

func runTrain(ctx context.Context, call *Call) (*Result, error) {
	const fn = "train"
	st, name, err := storeAndName(call)
	if err != nil {
		return nil, err
	}
	kindName, err := call.String("kind")
	if err != nil {
		return nil, err
	}
	kinds := modelKinds()
	k, ok := kinds[kindName]
	if !ok {
		names := slices.Sorted(maps.Keys(kinds))
		return nil, &Error{Code: "22023", Message: fmt.Sprintf("train: %q is not a kind of model", kindName),
			Hint: "kind is the function whose fit is stored: " + quoteList(names) + "."}
	}
	holdout, err := call.Float("holdout")
	if err != nil {
		return nil, err
	}
	if holdout < 0 || holdout > 0.9 {
		return nil, &ArgError{Func: fn, Arg: "holdout", Msg: fmt.Sprintf("must be between 0 and 0.9, got %g", holdout)}
	}
	promote, err := call.String("promote")
	if err != nil {
		return nil, err
	}
	if promote != "always" && promote != "if_better" && promote != "if_better_online" && promote != "never" {
		return nil, &ArgError{Func: fn, Arg: "promote", Msg: fmt.Sprintf("must be 'always', 'if_better', 'if_better_online' or 'never', got %q", promote)}
	}
	trial, err := trainTrial(ctx, call, kindName, promote)
	if err != nil {
		return nil, err
	}
	rel, err := call.Relation("input")
	if err != nil {
		return nil, err
	}

	// The kind's own call: its defaults, the options given, the input.
	kc := defaultCall(k)
	kc.Progress = call.Progress
	kfn := kc.Func
	options := map[string]any{}
	for _, a := range call.Func.Args {
		v := call.Values[a.Name]
		if trainOwn(a.Name) || v == nil {
			continue
		}
		i := slices.IndexFunc(kfn.Args, func(b Arg) bool { return b.Name == a.Name })
		if i < 0 || !kfn.Args[i].Fit {
			return nil, &ArgError{Func: fn, Arg: a.Name, Msg: fmt.Sprintf("is not an option of %s models", kindName)}
		}
		kc.Values[a.Name] = v
	}
	for _, a := range kfn.Args {
		if !a.Relation && a.Fit {
			options[a.Name] = kc.Values[a.Name]
		}
	}
	t := &Trained{Name: name, Kind: kindName, Inputs: inputColumns(rel), Options: options, Source: call.Sources["input"],
		Rows: int64(rel.Rows()), Primary: k.primary, Higher: k.higher, Promote: promote, Trial: trial}

	refresh, err := trainRefresh(ctx, call, st, t, rel, holdout)
	if err != nil {
		return nil, err
	}
	call.Progressf("train: fitting %s model %q on %d rows", kindName, name, rel.Rows())
	if err := fitVersion(ctx, k, kc, rel, holdout, t); err != nil {
		if ctx.Err() == nil {
			st.Failed(ctx, t, err)
		}
		return nil, err
	}
	call.Progressf("train: fitted in %.0f ms; storing version", t.TrainMS)
	saved, err := st.Save(ctx, call.DB, t)
	if err != nil {
		return nil, err
	}
	if err := setRefresh(ctx, call, st, name, refresh); err != nil {
		return nil, err
	}
	return savedResult(saved, saved.Deployed == saved.Version), nil
}

// fitVersion fits t's state on rel, as train and the refresh worker do.
func fitVersion(ctx context.Context, k *modelKind, kc *Call, rel *Relation, holdout float64, t *Trained) error {
	start := time.Now()
	f, err := fitHoldout(ctx, k, kc, rel, holdout)
	t.TrainMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return err
	}
	t.State, t.Metrics = f.state, f.metrics
	if holdout > 0 {
		t.Rows = int64(f.rows)
	}
	return nil
}

// withRelation returns call with a relation argument set.
func withRelation(call *Call, name string, rel *Relation) *Call {
	c := *call
	c.Values = maps.Clone(call.Values)
	c.Values[name] = rel
	return &c
}

// savedResult is the one row a lifecycle function returns.
func savedResult(s *Saved, deployed bool) *Result {
	metrics := string(s.Metrics)
	if metrics == "" {
		metrics = "{}"
	}
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: "model", Type: Text.OID}, Texts: []string{s.Name}},
		{OutputColumn: OutputColumn{Name: "version", Type: Int4.OID}, Ints: []int64{int64(s.Version)}},
		{OutputColumn: OutputColumn{Name: "kind", Type: Text.OID}, Texts: []string{s.Kind}},
		{OutputColumn: OutputColumn{Name: "rows", Type: Int8.OID}, Ints: []int64{s.Rows}},
		{OutputColumn: OutputColumn{Name: "metrics", Type: Jsonb.OID}, Texts: []string{metrics}},
		{OutputColumn: OutputColumn{Name: "deployed", Type: Bool.OID}, Texts: []string{boolText(deployed)}},
		{OutputColumn: OutputColumn{Name: "train_ms", Type: Float8.OID}, Floats: []float64{s.TrainMS}},
	}}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Deploy declares flywheel.deploy(name, version).
func Deploy() *Func {
	doc := "Makes a stored version the one calls with model => name use, in every session and every Flywheel on the database once the transaction commits."
	args := []Arg{
		{Name: "name", Type: Text, Required: true, Doc: "the model"},
		{Name: "version", Type: Int4, Required: true, Doc: "the version to deploy (flywheel.model_versions lists them)"},
	}
	return deployingFunc("deploy", doc, args, func(ctx context.Context, call *Call, st ModelStore, name string) (*Saved, error) {
		v, err := call.Int("version")
		if err != nil {
			return nil, err
		}
		if v < 1 || v > math.MaxInt32 {
			return nil, &Error{Code: "22023", Message: fmt.Sprintf("model %q has no version %d", name, v), Hint: "Versions are numbered from 1; flywheel.model_versions lists them."}
		}
		return st.Deploy(ctx, call.DB, name, int(v))
	})
}

// Rollback declares flywheel.rollback(name).
func Rollback() *Func {
	doc := "Deploys again the version that was deployed before the current one. Repeatable: each rollback goes one deployment further back. " +
		"During an online trial (promote => 'if_better_online') it ends the trial instead: the challenger stops serving and the deployed version serves every user."
	args := []Arg{{Name: "name", Type: Text, Required: true, Doc: "the model"}}
	return deployingFunc("rollback", doc, args, func(ctx context.Context, call *Call, st ModelStore, name string) (*Saved, error) {
		return st.Rollback(ctx, call.DB, name)
	})
}

// deployingFunc declares a lifecycle function that changes which version
// of the named model is deployed (run, given the store and the name) and
// returns the row of the version it leaves deployed.
func deployingFunc(fn, doc string, args []Arg, run func(ctx context.Context, call *Call, st ModelStore, name string) (*Saved, error)) *Func {
	return &Func{
		Name: fn, Qualified: true, Doc: doc, Args: args,
		Columns: fixedColumns(lifecycleColumns()),
		Returns: lifecycleReturns(),
		Run: func(ctx context.Context, call *Call) (*Result, error) {
			st, name, err := storeAndName(call)
			if err != nil {
				return nil, err
			}
			s, err := run(ctx, call, st, name)
			if err != nil {
				return nil, err
			}
			return savedResult(s, true), nil
		},
	}
}

// DropModel declares flywheel.drop_model(name).
func DropModel() *Func {
	returns := []ReturnColumn{{"model", Text}, {"kind", Text}, {"deployed_version", Int4}}
	return &Func{
		Name: "drop_model", Qualified: true,
		Doc:     "Removes a model and every version of it. Returns the model's name, kind and the version that was deployed.",
		Args:    []Arg{{Name: "name", Type: Text, Required: true, Doc: "the model"}},
		Columns: fixedColumns(returnsColumns(returns)),
		Run: func(ctx context.Context, call *Call) (*Result, error) {
			st, name, err := storeAndName(call)
			if err != nil {
				return nil, err
			}
			s, err := st.Drop(ctx, call.DB, name)
			if err != nil {
				return nil, err
			}
			return &Result{Columns: []ResultColumn{
				{OutputColumn: OutputColumn{Name: "model", Type: Text.OID}, Texts: []string{s.Name}},
				{OutputColumn: OutputColumn{Name: "kind", Type: Text.OID}, Texts: []string{s.Kind}},
				{OutputColumn: OutputColumn{Name: "deployed_version", Type: Int4.OID}, Ints: []int64{int64(s.Version)}, Nulls: []bool{s.Version == 0}},
			}}, nil
		},
		Returns: returns,
	}
}

// fitHoldout fits kc on rel, or with a holdout share on the rest of a
// split and measures the fit on the rows held out: their metrics join the
// training metrics (a held-out metric wins a name both have).
func fitHoldout(ctx context.Context, k *modelKind, kc *Call, rel *Relation, holdout float64) (*fitted, error) {
	if holdout == 0 {
		f, err := k.fit(ctx, withRelation(kc, k.input, rel))
		if f != nil {
			f.rows = rel.Rows()
		}
		return f, err
	}
	if k.split == nil || k.evaluate == nil {
		return nil, &ArgError{Func: "train", Arg: "holdout", Msg: fmt.Sprintf("%s models cannot be measured on held-out rows yet; train with holdout => 0", kc.Func.Name)}
	}
	train, test := k.split(rel, holdout)
	if train.Rows() == 0 || test.Rows() == 0 {
		return nil, &ArgError{Func: "train", Arg: "holdout", Msg: fmt.Sprintf("leaves %d rows to train on and %d to hold out; both must be at least 1", train.Rows(), test.Rows())}
	}
	f, err := k.fit(ctx, withRelation(kc, k.input, train))
	if err != nil {
		return nil, err
	}
	f.rows = train.Rows()
	m := &Model{Name: "holdout", Kind: kc.Func.Name, Inputs: inputColumns(rel)}
	if err := k.decode(m, f.state); err != nil {
		return nil, fmt.Errorf("train: the fitted state does not decode: %w", err)
	}
	held, err := k.evaluate(ctx, m, test)
	if err != nil {
		return nil, err
	}
	for name, v := range held {
		if name == "rows" {
			name = "holdout_rows"
		}
		f.metrics[name] = v
	}
	return f, nil
}

func inputColumns(rel *Relation) []InputColumn {
	out := make([]InputColumn, len(rel.Columns))
	for i, c := range rel.Columns {
		out[i] = c.InputColumn
	}
	return out
}
