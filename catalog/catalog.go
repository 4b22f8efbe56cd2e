// Package catalog declares Flywheel's model functions once: their SQL names,
// arguments, output columns and documentation, and how a call's evaluated
// arguments are handed to the algorithms in package functions. The planner,
// the stub functions created in the backing database and \df all read from
// these declarations.
package catalog

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Type is a PostgreSQL scalar type as the catalog needs it: the name used in
// stub signatures and the OID used on the wire.
type Type struct {
	Name string // as written in SQL, e.g. "bigint"
	OID  uint32
}

// Types the declarations use. Values, not variables: nothing assigns them.
var (
	Bool   = Type{"boolean", pgtype.BoolOID}
	Int8   = Type{"bigint", pgtype.Int8OID}
	Int4   = Type{"integer", pgtype.Int4OID}
	Text   = Type{"text", pgtype.TextOID}
	Float8 = Type{"double precision", pgtype.Float8OID}
	// Arrays, for Sink columns.
	TextArray   = Type{"text[]", pgtype.TextArrayOID}
	Float8Array = Type{"double precision[]", pgtype.Float8ArrayOID}
	AnyType     = Type{"anyelement", 2283} // "same type as an input column"; pgtype has no constant for it
)

// Arg is one argument of a model function.
type Arg struct {
	Name string
	// Type is the scalar type; ignored for relation arguments.
	Type Type
	// Relation marks an argument written as (SELECT ...) or (TABLE name).
	Relation bool
	// Required arguments have no default. Optional ones take Default
	// (an int64, float64, string or bool, or nil for SQL NULL).
	Required bool
	Default  any
	// Nullable allows an explicit SQL NULL.
	Nullable bool
	// Strict marks a nullable argument whose NULL always gives no rows, as
	// a strict PostgreSQL function's would. A LATERAL call then joins its
	// rows to the outer row with "=", which PostgreSQL can hash, rather
	// than IS NOT DISTINCT FROM, which it cannot.
	Strict bool
	// Fit marks an argument of fitting (the training relation, the
	// algorithm's options) of a function that can predict from a stored
	// model instead: a call with model => neither needs nor takes it, and
	// flywheel.train takes it as an option of the function's kind. Such a
	// call's positional arguments skip it (see Func.Positional).
	Fit bool
	Doc string
}

// OutputColumn is one column of a function's result.
type OutputColumn struct {
	Name string
	Type uint32 // type OID
}

// Func declares one model function.
type Func struct {
	Name string
	Doc  string
	Args []Arg
	// Columns gives the result's columns for the given relation arguments'
	// columns (in Args order, relation arguments only). It is called before
	// any row is read, so a statement can be described without running it.
	// Output columns that come from input columns keep their name and type.
	Columns func(inputs [][]InputColumn) ([]OutputColumn, error)
	// Run computes the result. It must honour ctx and return an *ArgError
	// (SQLSTATE 22023) for a bad argument value.
	Run func(ctx context.Context, call *Call) (*Result, error)
	// ModelColumns, when set, gives the result's columns for a call that
	// predicts from a stored model (a constant model => 'name' argument):
	// m is that model's deployed version, inputs as for Columns.
	ModelColumns func(m *Model, inputs [][]InputColumn) ([]OutputColumn, error)
	// KeyColumn, when set, says which input column the function's
	// anyelement arguments are keys of, so the planner has PostgreSQL
	// print them as that column's type: given the relation arguments'
	// columns as Columns is, or for a call with a model the columns it
	// was trained on as the only relation; false when there is none (they
	// are then passed as written). Without it they are keys of the first
	// relation's first column.
	KeyColumn func(inputs [][]InputColumn) (InputColumn, bool)
	// Qualified functions are found only when called as flywheel.name:
	// the lifecycle functions' names (train, deploy) are common words.
	Qualified bool
	// Returns declares the result's fixed columns, as the stub function in
	// the backing database lists them; AnyType marks one that takes an
	// input column's type. Columns may add columns (one per feature) or
	// leave out optional ones (holt's series).
	Returns []ReturnColumn
	// Sink, when set, declares rows the function's calls write to a table
	// in the statement's own transaction (recommend's decision log).
	Sink *Sink
}

// Sink is a table a function's calls append rows to. The planner turns it
// on for a call that passes Arg (unless as a constant false), gives the
// call a SinkRows to fill, and writes the rows with one INSERT for the
// statement: as a data-modifying WITH of the rewritten statement itself
// where PostgreSQL allows one (no round trip of its own), else as a query
// before the statement.
type Sink struct {
	// Arg is the boolean argument that asks for the rows.
	Arg string
	// Columns name the values each row holds, in SinkRows.Add's order, and
	// their types.
	Columns []ReturnColumn
	// Insert is the INSERT statement that writes the rows, given the FROM
	// item d that yields them, its columns named and typed as Columns: an
	// unnest of one array per column, or a subquery of at most one row.
	// A row's first value is never NULL. An array column may come as its
	// text literal: Insert casts it.
	Insert func(from string) string
}

// SinkRows collects a statement's rows for its Sink, as text: column by
// column, in the Sink's Columns order.
type SinkRows struct{ Cols [][]string }

// Add appends one row.
func (r *SinkRows) Add(vals ...string) {
	if r.Cols == nil {
		r.Cols = make([][]string, len(vals))
	}
	for i, v := range vals {
		r.Cols[i] = append(r.Cols[i], v)
	}
}

// Len is the number of rows added.
func (r *SinkRows) Len() int {
	if len(r.Cols) == 0 {
		return 0
	}
	return len(r.Cols[0])
}

// ModelArg is the argument that names a stored model to predict from.
const ModelArg = "model"

// PredictsFromModel reports whether f can predict from a stored model.
func (f *Func) PredictsFromModel() bool {
	return f.ModelColumns != nil && f.argIndex(ModelArg) >= 0
}

// Positional lists, in order, the indices in Args of the arguments that a
// call's positional arguments fill. A call that names a model (model =>
// 'name') takes none of the Fit arguments, so its positional arguments
// fill the others in declaration order: the function's fitting input is
// often its first argument, and a prediction would otherwise have to name
// every argument. similar_items(input, item, n) is thus called
// similar_items(item, n, model => 'catalog'), holt_forecast(input,
// horizon) holt_forecast(6, model => 'demand'). Without a model every
// argument is positional, in order. The skipped arguments are exactly the
// ones a call with a model may not give, so no call valid with all
// arguments positional changes meaning.
func (f *Func) Positional(withModel bool) []int {
	out := make([]int, 0, len(f.Args))
	for i, a := range f.Args {
		if withModel && a.Fit && f.PredictsFromModel() {
			continue
		}
		out = append(out, i)
	}
	return out
}

func (f *Func) argIndex(name string) int {
	for i, a := range f.Args {
		if a.Name == name && !a.Relation {
			return i
		}
	}
	return -1
}

// ReturnColumn is one declared result column.
type ReturnColumn struct {
	Name string
	Type Type
}

// InputColumn describes one column of a relation argument.
type InputColumn struct {
	Name string `json:"name"`
	Type uint32 `json:"type"` // type OID
}

// Catalog is the set of model functions, looked up by lower-case name.
type Catalog struct {
	funcs map[string]*Func
	names []string
}

// New builds a catalog from declarations.
func New(funcs ...*Func) *Catalog {
	c := &Catalog{funcs: make(map[string]*Func, len(funcs))}
	for _, f := range funcs {
		c.funcs[f.Name] = f
		c.names = append(c.names, f.Name)
	}
	sort.Strings(c.names)
	return c
}

// Lookup finds a function by name (case-insensitive, as SQL identifiers).
func (c *Catalog) Lookup(name string) (*Func, bool) {
	f, ok := c.funcs[strings.ToLower(name)]
	return f, ok
}

// Names lists the functions' names, sorted.
func (c *Catalog) Names() []string { return c.names }

// Funcs lists the declarations in name order.
func (c *Catalog) Funcs() []*Func {
	out := make([]*Func, len(c.names))
	for i, n := range c.names {
		out[i] = c.funcs[n]
	}
	return out
}

// ArgError reports a bad argument value; the planner maps it to SQLSTATE
// 22023 (invalid_parameter_value).
type ArgError struct {
	Func, Arg string
	Msg       string
}

func (e *ArgError) Error() string {
	if e.Arg == "" {
		return fmt.Sprintf("%s: %s", e.Func, e.Msg)
	}
	return fmt.Sprintf("%s: argument %q: %s", e.Func, e.Arg, e.Msg)
}

// TypeError reports an input column of the wrong type; the planner maps it
// to SQLSTATE 42804 (datatype_mismatch).
type TypeError struct {
	Func, Column string
	Msg          string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s: input column %q: %s", e.Func, e.Column, e.Msg)
}

// nameClash refuses output column names (taken from input columns) that
// repeat each other or one of the function's fixed names: the result would
// have two columns of one name, which no query could tell apart.
func nameClash(fn string, names []string, fixed ...string) error {
	seen := map[string]bool{}
	for _, f := range fixed {
		seen[f] = true
	}
	for _, n := range names {
		if seen[n] {
			return &TypeError{Func: fn, Column: n, Msg: "the output would have two columns of this name; rename it in the subquery (AS ...)"}
		}
		seen[n] = true
	}
	return nil
}
