// Package planner finds calls of Flywheel's model functions in a statement,
// evaluates their arguments, runs them, and rewrites the statement so that
// PostgreSQL reads the results as a typed relation and does the rest.
//
// The planner knows no sockets: side queries (relation arguments, the
// types of a subquery's columns) go through the Conn interface, which the
// wire package implements on the session's own upstream connection.
package planner

import (
	"context"
	"errors"
	"log/slog"

	"github.com/flywheeldb/flywheel/catalog"
)

// Options bound what one call may consume.
type Options struct {
	// MaxInputRows caps the rows one call reads from its relation arguments
	// (SQLSTATE 53200 beyond it). Zero means 10 million.
	MaxInputRows int64
	// MaxInputBytes caps the bytes one call reads. Zero means 1 GiB.
	MaxInputBytes int64
	Logger        *slog.Logger
}

// Planner rewrites statements against one catalog. It is safe for
// concurrent use by many sessions.
type Planner struct {
	cat  *catalog.Catalog
	opts Options
}

// New makes a planner.
func New(cat *catalog.Catalog, opts Options) *Planner {
	return &Planner{cat: cat, opts: opts}
}

// Mentions reports whether sql may call a model function: whether it
// contains, case-insensitively, the name of any catalog function. False
// means the statement is relayed untouched without being parsed. It must
// not allocate: it runs on every Query and Parse.
func (p *Planner) Mentions(sql []byte) bool {
	return false
}

// Part is one statement of a simple-Query string.
type Part struct {
	SQL    string // the statement's text, without the separating semicolon
	Offset int    // where SQL starts in the whole string, in characters
	Calls  bool   // whether it calls a model function
}

// Split splits a simple-Query string into its statements. A string the
// parser rejects comes back as one part with Calls false, so PostgreSQL
// reports its own syntax error.
func (p *Planner) Split(sql string) ([]Part, error) {
	return []Part{{SQL: sql}}, nil
}

// Statement is a statement rewritten by Prepare.
type Statement struct {
	// SQL is the rewritten text to send upstream in Parse.
	SQL string
	// ParamOIDs holds the type of every parameter: the client's own
	// (types filled in where the client left 0) followed by the proxy's.
	ParamOIDs []uint32
	// ClientParams is how many of ParamOIDs are the client's; the
	// ParameterDescription sent to the client lists only those.
	ClientParams int
}

// Prepare analyses one statement. It returns (nil, nil) when the statement
// calls no model function, so the caller relays it unchanged. paramOIDs are
// the types the client gave in Parse (may be shorter than the number of
// parameters, 0 meaning unspecified).
func (p *Planner) Prepare(ctx context.Context, conn Conn, sql string, paramOIDs []uint32) (*Statement, error) {
	return nil, nil
}

// Bind runs the statement's model functions for one execution, given the
// client's parameter values as sent in Bind (formats as in Bind: none means
// all text, one applies to all), and returns the values of the proxy's own
// parameters in text format, to be appended after the client's.
func (s *Statement) Bind(ctx context.Context, conn Conn, params [][]byte, formats []int16) ([][]byte, error) {
	return nil, errors.New("planner: not implemented")
}

// Error is an error the planner raises itself, sent to the client as an
// ErrorResponse.
type Error struct {
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
	Position int // 1-based character position in the statement, 0 if none
}

func (e *Error) Error() string { return e.Message }
