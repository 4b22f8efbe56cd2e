// Package executor runs the statements that call model functions, between
// wire, which frames and relays messages, and planner, which analyses and
// rewrites statements (as pgconn sits under pgx).
//
// Wire hands an Executor the simple Queries, Parses and Binds that mention
// a function or a tracked prepared statement. The Executor runs a
// multi-statement Query one statement at a time, in a stand-in for
// PostgreSQL's implicit transaction when it needs one (ImplicitBlock);
// tracks which SQL-level prepared statements call functions (Prepared);
// gives the planner its connection for side queries (Conn); and turns the
// planner's and side queries' errors into the client's ErrorResponse.
// It knows nothing of sockets or of the queue of expected responses: it
// asks wire's session for each request through Session, and wire sends
// it.
package executor

import "github.com/flywheeldb/flywheel/planner"

// Statement names of the proxy's own on the upstream connection.
const (
	// SideName is the statement and portal of a side query.
	SideName = "__flywheel_side"
	// AbortName is the statement AbortSQL is parsed into.
	AbortName = "__flywheel_abort"
	// InlineName is the statement a COPY or EXECUTE with calls runs from
	// when the client binds it: re-parsed at every Bind, closed at the
	// next Sync.
	InlineName = "__flywheel_inline"
	// AbortSQL is a deliberate syntax error. After the proxy itself
	// rejects a request, it sends this so that PostgreSQL fails the same
	// way it would have: an open transaction becomes aborted, and the rest
	// of an extended-protocol batch is skipped up to Sync.
	AbortSQL = "flywheel: a model function call failed; the error was sent to the client"
)

// ImplicitBlock reports whether the statements of one simple Query may
// need the proxy's stand-in for PostgreSQL's implicit transaction, a BEGIN
// and COMMIT of its own around them: several statements, none of which
// controls the transaction block. The caller still checks that the session
// is outside a block.
func ImplicitBlock(parts []planner.Part) bool {
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p.Block {
			// BEGIN, COMMIT, VACUUM and the like inside the string:
			// statement by statement, as documented.
			return false
		}
	}
	return true
}
