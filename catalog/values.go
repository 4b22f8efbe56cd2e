package catalog

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Column holds one column of a relation argument as PostgreSQL sent it in
// text format, packed into one buffer so that a million-row input costs a
// few allocations rather than a million.
type Column struct {
	InputColumn
	data  []byte
	ends  []int
	nulls []bool
}

// NewColumn makes an empty column.
func NewColumn(c InputColumn) *Column { return &Column{InputColumn: c} }

// Append adds a value; nil is SQL NULL.
func (c *Column) Append(v []byte) {
	c.data = append(c.data, v...)
	c.ends = append(c.ends, len(c.data))
	c.nulls = append(c.nulls, v == nil)
}

// Len is the number of values.
func (c *Column) Len() int { return len(c.ends) }

// Size is the number of bytes held, for the memory cap.
func (c *Column) Size() int { return len(c.data) + 9*len(c.ends) }

// Null reports whether value i is SQL NULL.
func (c *Column) Null(i int) bool { return c.nulls[i] }

// Bytes returns value i's text form, without copying.
func (c *Column) Bytes(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]]
}

// Text returns value i's text form.
func (c *Column) Text(i int) string { return string(c.Bytes(i)) }

// Numeric reports whether the column's type is one Column.Float reads.
func (c InputColumn) Numeric() bool {
	switch c.Type {
	case pgtype.Int8OID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		return true
	}
	return false
}

// Float parses value i as a number. NULL, NaN and infinities are errors:
// no algorithm here has a meaning for them.
func (c *Column) Float(i int) (float64, error) {
	if c.nulls[i] {
		return 0, fmt.Errorf("row %d: NULL in column %q", i+1, c.Name)
	}
	f, err := strconv.ParseFloat(string(c.Bytes(i)), 64)
	if err != nil {
		return 0, fmt.Errorf("row %d: column %q: %q is not a number", i+1, c.Name, c.Bytes(i))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("row %d: column %q: %v is not a finite number", i+1, c.Name, f)
	}
	return f, nil
}

// Floats reads the whole column as numbers.
func (c *Column) Floats() ([]float64, error) {
	out := make([]float64, c.Len())
	for i := range out {
		f, err := c.Float(i)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// Time parses value i as a date or timestamp (date, timestamp, timestamptz
// in PostgreSQL's ISO output style).
func (c *Column) Time(i int) (time.Time, error) {
	if c.nulls[i] {
		return time.Time{}, fmt.Errorf("row %d: NULL in column %q", i+1, c.Name)
	}
	s := string(c.Bytes(i))
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	// The column's type is a date or timestamp (the functions check), so
	// PostgreSQL printed a valid one: either one no time.Time holds or a
	// style other than ISO, which the session's DateStyle chose.
	switch {
	case s == "infinity" || s == "-infinity":
		return time.Time{}, fmt.Errorf("row %d: column %q: %s is not a finite date or timestamp", i+1, c.Name, s)
	case strings.HasSuffix(s, " BC"):
		return time.Time{}, fmt.Errorf("row %d: column %q: %q: dates before the year 1 are not supported", i+1, c.Name, s)
	}
	return time.Time{}, fmt.Errorf("row %d: column %q: %q is not in the ISO date style that Flywheel reads; run SET DateStyle TO ISO (PostgreSQL's default)", i+1, c.Name, s)
}

// KeyText is a scalar argument's value (a user, an item) as PostgreSQL
// prints it, booleans as t and f, so that it matches a key column's text.
// The planner sends it to PostgreSQL to be printed as the key column's
// type when that type has other spellings (dates, uuids).
func KeyText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		if v {
			return "t"
		}
		return "f"
	}
	return fmt.Sprint(v)
}

// Relation is an evaluated relation argument.
type Relation struct {
	Columns []*Column
}

// Rows is the number of rows.
func (r *Relation) Rows() int {
	if len(r.Columns) == 0 {
		return 0
	}
	return r.Columns[0].Len()
}

// Call is one evaluated call of a model function: every argument has a
// value (defaults filled in by the planner).
type Call struct {
	Func *Func
	// Values holds each argument by name: int64, float64, string, bool,
	// *Relation, or nil for SQL NULL.
	Values map[string]any
	// Memo, when not nil, is shared by the calls of one batch (a LATERAL
	// call runs once per outer value over the same relation arguments), so
	// a function can build an index of a relation once per batch. Keys
	// should include the *Relation they derive from.
	Memo map[any]any
	// Model is the deployed model a constant model => argument names, nil
	// without one; the planner resolves it for each execution.
	Model *Model
	// DB is the session's own connection and Store the model store, for
	// the lifecycle functions; Sources holds each given relation
	// argument's query text by argument name.
	DB      DB
	Store   ModelStore
	Sources map[string]string
	// Unrepeatable holds, by argument name, why a relation argument's
	// query cannot run again on its own (SourceParams, SourceCalls): a
	// refresh policy needs one that can.
	Unrepeatable map[string]string
	// Sink, when the function declares one and the call asks for it,
	// collects the rows to write (see Func.Sink); it is shared by every
	// run of the call in this execution (all of a LATERAL batch).
	Sink *SinkRows
	// Progress, when set, tells the client how a long call is going (a
	// NOTICE; the planner sends only those of a call that has run a while).
	// It formats the message only when it sends one.
	Progress func(format string, a ...any)
}

// Progressf reports progress (see Call.Progress).
func (c *Call) Progressf(format string, a ...any) {
	if c.Progress != nil {
		c.Progress(format, a...)
	}
}

// Int returns an integer argument.
func (c *Call) Int(name string) (int64, error) {
	switch v := c.Values[name].(type) {
	case int64:
		return v, nil
	case float64:
		if v == math.Trunc(v) {
			return int64(v), nil
		}
	case nil:
		return 0, &ArgError{Func: c.Func.Name, Arg: name, Msg: "must not be NULL"}
	}
	return 0, &ArgError{Func: c.Func.Name, Arg: name, Msg: fmt.Sprintf("must be an integer, got %v", c.Values[name])}
}

// Float returns a numeric argument.
func (c *Call) Float(name string) (float64, error) {
	switch v := c.Values[name].(type) {
	case int64:
		return float64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, &ArgError{Func: c.Func.Name, Arg: name, Msg: fmt.Sprintf("must be a finite number, got %v", v)}
		}
		return v, nil
	case nil:
		return 0, &ArgError{Func: c.Func.Name, Arg: name, Msg: "must not be NULL"}
	}
	return 0, &ArgError{Func: c.Func.Name, Arg: name, Msg: fmt.Sprintf("must be a number, got %v", c.Values[name])}
}

// String returns a text argument.
func (c *Call) String(name string) (string, error) {
	switch v := c.Values[name].(type) {
	case string:
		return v, nil
	case nil:
		return "", &ArgError{Func: c.Func.Name, Arg: name, Msg: "must not be NULL"}
	}
	return fmt.Sprint(c.Values[name]), nil
}

// Bool returns a boolean argument.
func (c *Call) Bool(name string) (bool, error) {
	switch v := c.Values[name].(type) {
	case bool:
		return v, nil
	case nil:
		return false, &ArgError{Func: c.Func.Name, Arg: name, Msg: "must not be NULL"}
	}
	return false, &ArgError{Func: c.Func.Name, Arg: name, Msg: fmt.Sprintf("must be a boolean, got %v", c.Values[name])}
}

// IsNull reports whether an argument is SQL NULL.
func (c *Call) IsNull(name string) bool { return c.Values[name] == nil }

// Relation returns a relation argument.
func (c *Call) Relation(name string) (*Relation, error) {
	r, ok := c.Values[name].(*Relation)
	if !ok || r == nil {
		return nil, &ArgError{Func: c.Func.Name, Arg: name, Msg: "must be a relation written as (SELECT ...) or (TABLE name)"}
	}
	return r, nil
}

// checkedRelation is the relation argument name, its columns checked
// with columns (the function's Columns), as the one-shot call would
// check them before running.
func (c *Call) checkedRelation(name string, columns func([][]InputColumn) ([]OutputColumn, error)) (*Relation, error) {
	r, err := c.Relation(name)
	if err != nil {
		return nil, err
	}
	if _, err := columns([][]InputColumn{inputColumns(r)}); err != nil {
		return nil, err
	}
	return r, nil
}

// firstWidth is the number of columns of a function's first relation
// argument, as a Columns function sees them; 0 without one.
func firstWidth(inputs [][]InputColumn) int {
	if len(inputs) == 0 {
		return 0
	}
	return len(inputs[0])
}

// identity is 0, 1, ..., n-1.
func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Result is a function's output, column by column. Each column holds
// exactly one of its value slices, all of the same length.
type Result struct {
	Columns []ResultColumn
}

// ResultColumn is one output column.
type ResultColumn struct {
	OutputColumn
	Floats []float64
	Ints   []int64
	Texts  []string
	// From/Rows pass input values through unchanged (keys, timestamps):
	// value i is From's value at row Rows[i].
	From *Column
	Rows []int
	// Nulls, when set, marks NULL values (any representation).
	Nulls []bool
}

// Len is the number of values in the column.
func (c *ResultColumn) Len() int {
	switch {
	case c.From != nil:
		return len(c.Rows)
	case c.Floats != nil:
		return len(c.Floats)
	case c.Ints != nil:
		return len(c.Ints)
	default:
		return len(c.Texts)
	}
}
