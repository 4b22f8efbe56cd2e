package planner

import (
	"context"
	"errors"
	"unicode/utf8"
)

// SideQueryError is PostgreSQL's error from a query the planner ran on the
// client's behalf (a relation argument, a describe of the rewritten
// statement, EXPLAIN). Unwrap gives the error exactly as Conn returned it,
// so it can be relayed unchanged; Position says where PostgreSQL's cursor
// position falls in the client's own statement.
type SideQueryError struct {
	Err error
	// Position maps PostgreSQL's 1-based character position in the side
	// query's text to one in the statement given to Prepare; 0 means the
	// side query's text has no counterpart there, so drop the position.
	Position func(int) int
}

func (e *SideQueryError) Error() string { return e.Err.Error() }
func (e *SideQueryError) Unwrap() error { return e.Err }

// noPosition is the Position of side queries the client never wrote.
func noPosition(int) int { return 0 }

// shifted maps positions of a side query whose text starts at 1-based
// character position start of the statement.
func shifted(start int) func(int) int {
	if start <= 0 {
		return noPosition
	}
	return func(p int) int { return p + start - 1 }
}

// sideErr wraps an error from Conn: cancellation becomes 57014, the
// planner's own errors (caps) pass as they are, PostgreSQL's get their
// position mapping (composed with any inner one).
func sideErr(ctx context.Context, err error, pos func(int) int) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cancelled(ctx)
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	var se *SideQueryError
	if errors.As(err, &se) {
		inner := se.Position
		return &SideQueryError{Err: se.Err, Position: func(p int) int {
			if q := inner(p); q > 0 {
				return pos(q)
			}
			return 0
		}}
	}
	return &SideQueryError{Err: err, Position: pos}
}

// cancelled is the error a cancelled call returns, as PostgreSQL words it
// for a cancel request or for statement_timeout.
func cancelled(ctx context.Context) *Error {
	if errors.Is(context.Cause(ctx), errStatementTimeout) {
		return &Error{Code: "57014", Message: "canceling statement due to statement timeout"}
	}
	return &Error{Code: "57014", Message: "canceling statement due to user request"}
}

// splice records one call's replacement: bytes [origStart, origEnd) of the
// client's statement became [newStart, newEnd) of the rewritten one.
type splice struct {
	origStart, origEnd, newStart, newEnd int
}

// mapPosition maps a 1-based character position in a rewritten text to the
// client's statement: text outside the replacements maps one to one, a
// position inside one maps to the call's start.
func mapPosition(orig, rewritten string, splices []splice, pos int) int {
	if pos <= 0 {
		return 0
	}
	off, n := 0, 1
	for off < len(rewritten) && n < pos {
		_, size := utf8.DecodeRuneInString(rewritten[off:])
		off += size
		n++
	}
	if n < pos {
		return 0
	}
	delta := 0
	for _, sp := range splices {
		if off < sp.newStart {
			break
		}
		if off < sp.newEnd {
			return utf8.RuneCountInString(orig[:sp.origStart]) + 1
		}
		delta = sp.origEnd - sp.newEnd
	}
	o := off + delta
	if o < 0 || o > len(orig) {
		return 0
	}
	return utf8.RuneCountInString(orig[:o]) + 1
}
