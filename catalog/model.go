package catalog

import (
	"context"
	"fmt"
)

// DB runs SQL for a function that reads or writes the backing database
// itself (the model lifecycle functions). The planner hands a call the
// session's own upstream connection, so a train inside BEGIN ... ROLLBACK
// leaves nothing behind. Query's contract is planner.Conn's: text-format
// results, nil is NULL, row's slices valid only during the call.
type DB interface {
	Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
		cols func([]InputColumn) error, row func([][]byte) error) error
}

// Model is one stored version of a trained model, decoded.
type Model struct {
	Name    string
	Kind    string // the function that trained it: "recommend", "kmeans", ...
	Version int
	// Inputs are the training relation's columns: a predict relation
	// must match them, and outputs that come from them keep their types.
	Inputs []InputColumn
	// Options are the kind's options it was trained with, by argument
	// name (int64, float64, string or bool), as they were after defaults.
	Options map[string]any
	// State is the kind's trained state (see modelkinds.go).
	State any
	// Size estimates the decoded state's memory, for the cache's bound.
	Size int64
	// Trial is set on a deployed version that shares its users with a
	// challenger in an online trial (see trial.go).
	Trial *Trial
}

// Models reads the models that calls predict from: the deployed version of
// a name, decoded and cached. The planner resolves a call's model =>
// argument through it before Columns (Shape.Model) and again at each
// execution (Call.Model).
type Models interface {
	// Deployed returns name's deployed version. An unknown name or one
	// with no deployed version is an *Error with SQLSTATE 42704.
	Deployed(ctx context.Context, name string) (*Model, error)
}

// ModelStore is Models plus what the lifecycle functions do to the store.
// Writes go through db, the session's connection, so they are part of the
// session's transaction; the store announces them to every Flywheel on the
// database when that transaction commits.
type ModelStore interface {
	Models
	// Version returns one version (0: the deployed one) as db sees it.
	Version(ctx context.Context, db DB, name string, version int) (*Model, error)
	// Save adds a new version of t.Name, numbered after the last, and
	// deploys it when t.Deploy(prev) says so.
	Save(ctx context.Context, db DB, t *Trained) (*Saved, error)
	// Failed records a training that failed, outside the session's
	// transaction (which the failure is about to abort), so that nothing
	// fails silently.
	Failed(ctx context.Context, t *Trained, cause error)
	// Deploy makes version the one calls use; Rollback returns to the one
	// deployed before the current (repeatable); Drop removes every
	// version. They return the model's name, kind and deployed version.
	Deploy(ctx context.Context, db DB, name string, version int) (*Saved, error)
	Rollback(ctx context.Context, db DB, name string) (*Saved, error)
	Drop(ctx context.Context, db DB, name string) (*Saved, error)
}

// Trained is a version about to be stored.
type Trained struct {
	Name, Kind string
	Inputs     []InputColumn
	Options    map[string]any
	Source     string // the training relation's SQL
	Rows       int64
	Metrics    map[string]float64
	// Primary names the metric promote => 'if_better' compares, and
	// Higher whether a higher value is better.
	Primary string
	Higher  bool
	Promote string // "always", "if_better", "if_better_online" or "never"
	// Trial is the online trial that promote => 'if_better_online' starts
	// when there is a deployed version to compete with.
	Trial   *TrialPlan
	TrainMS float64
	State   []byte // the encoded state (EncodeState)
	// Base, when not 0, is the version State is a delta on: decoding it
	// needs that version decoded first (see Store's build).
	Base int
	// Decoded, when set, is State decoded already (Inputs, Options, State
	// and Size; learn builds it), which the store may keep rather than
	// decode State again.
	Decoded *Model
	// Refresh is set on a version the refresh worker trained: its policy,
	// the new on_change mark included, which the store updates with it.
	Refresh *Refresh
}

// Saved is what a lifecycle function reports about a model afterwards.
type Saved struct {
	Name, Kind string
	Version    int     // the version the function made or acted on
	Deployed   int     // the deployed version, 0 if none
	Metrics    []byte  // jsonb text of Version's metrics
	Rows       int64   // Version's training rows
	TrainMS    float64 // Version's training time
}

// Error is an error with its own SQLSTATE, for the cases the fixed error
// types do not cover (unknown model 42704, wrong kind 42809, ...).
type Error struct {
	Code    string
	Message string
	Hint    string
}

func (e *Error) Error() string { return e.Message }

// Shape is what Columns sees of a call before any row is read: the
// relation arguments' columns, the constant arguments and, for a call
// with model => 'name', that model's deployed version.
type Shape struct {
	// Inputs holds the relation arguments' columns in Args order
	// (relation arguments only; nil for one not given).
	Inputs [][]InputColumn
	// Model is the model named by a constant model argument, or nil.
	Model *Model
}

// kindError is the error for a model of another kind than the function
// called with it.
func kindError(fn string, m *Model) error {
	return &Error{Code: "42809", Message: fmt.Sprintf("model %q is a %s model, not a %s model", m.Name, m.Kind, fn),
		Hint: fmt.Sprintf("Call %s(..., model => %q), or train a %s model under another name.", m.Kind, m.Name, fn)}
}
