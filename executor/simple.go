package executor

import (
	"context"
	"errors"
	"log/slog"

	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Session is the wire session as the executor drives it. Each method
// sends requests upstream, in order with the client's, and waits for the
// server's answer; the responses reach the client as the method says.
type Session interface {
	Upstream
	// Context is the context of one model-function computation, ended by
	// the client's CancelRequest or hang-up; done releases it.
	Context() (ctx context.Context, done context.CancelFunc)
	// Simple sends sql as a simple Query and waits for its ReadyForQuery,
	// which it keeps; the other responses go to the client, but for own
	// only an ErrorResponse does.
	Simple(sql string, own bool) (status byte, failed bool, err error)
	// Call runs st with the proxy's parameter values extra through the
	// unnamed statement and portal up to Sync, the client getting the
	// responses a simple Query would have sent (RowDescription, rows,
	// CommandComplete); offset is where st starts in the client's text.
	Call(st *planner.Statement, offset int, extra [][]byte) (status byte, failed bool, err error)
	// Fail sends resp to the client in place of a statement's responses,
	// then Sync; abort first fails the upstream as the statement would
	// have (AbortSQL).
	Fail(resp *pgproto3.ErrorResponse, abort bool) (status byte, err error)
	// HoldComplete holds back the CommandComplete (and what PostgreSQL
	// sends with it) of the statements that follow, until
	// ReleaseComplete, which sends it to the client if send.
	HoldComplete()
	ReleaseComplete(send bool)
	// SideFailed reports whether a side query of the running call failed:
	// the upstream has already failed then, so needs no AbortSQL.
	SideFailed() bool
	// Ready ends a simple Query the executor ran: ReadyForQuery with
	// status, and the unnamed statement the rewritten statements used
	// closed, as a simple Query leaves none behind.
	Ready(status byte) error
}

// Executor runs a session's statements that call model functions. Wire
// hands it the simple Queries that mention a function or a tracked
// prepared statement; the extended protocol's Parse and Bind use Conn and
// Prepared directly.
type Executor struct {
	// Prepared are the session's SQL-level prepared statements that call
	// functions.
	Prepared Prepared
	planner  *planner.Planner
	s        Session
	conn     Conn
	log      *slog.Logger
}

// New returns the executor of one session; p may be nil (no functions).
func New(p *planner.Planner, s Session, log *slog.Logger) *Executor {
	return &Executor{planner: p, s: s, conn: Conn{up: s}, log: log}
}

// Mentions reports whether a statement's text may call a model function
// or use a tracked prepared statement: without, it is relayed unparsed.
func (e *Executor) Mentions(sql []byte) bool {
	return e.planner != nil && e.planner.Mentions(sql) || e.Prepared.Mentions(sql)
}

// Query runs a simple Query whose statements include model function calls,
// one statement at a time: plain ones as simple Queries, the others
// rewritten through the extended protocol, so that the client sees what a
// simple Query would have sent. ran is false, and nothing sent, when none
// of the statements needs the executor after all (or the text does not
// parse): the caller relays the Query.
//
// Outside a transaction block, PostgreSQL runs the statements of one Query
// in one implicit transaction; the executor gets the same by wrapping them
// in BEGIN and COMMIT (ROLLBACK after an error) of its own.
func (e *Executor) Query(sql string) (ran bool, err error) {
	parts, err := e.planner.Split(sql)
	if err != nil || !e.Prepared.Involved(parts) {
		return false, nil
	}
	implicit, err := e.implicitBlock(parts)
	if errors.Is(err, ErrSkipped) {
		// The server is skipping to the client's Sync after an earlier
		// error in an extended-protocol batch, so it skips this whole
		// Query, which gets no response at all.
		return true, nil
	}
	if err != nil {
		return true, err
	}
	status := byte('I')
	failed := false
	for i, p := range parts {
		if implicit && i == len(parts)-1 {
			e.s.HoldComplete()
		}
		status, failed, err = e.run(p)
		if errors.Is(err, ErrSkipped) {
			return true, nil
		}
		if err != nil {
			return true, err
		}
		if failed {
			break
		}
		e.Prepared.Ran(p)
	}
	if implicit {
		end := "COMMIT"
		if failed {
			end = "ROLLBACK"
		}
		// COMMIT can still fail (a deferred constraint): its error is the
		// Query's, as PostgreSQL reports it, in place of the last
		// statement's CommandComplete.
		var commitFailed bool
		if status, commitFailed, err = e.s.Simple(end, true); err != nil {
			return true, err
		}
		e.s.ReleaseComplete(!failed && !commitFailed)
	}
	return true, e.s.Ready(status)
}

// implicitBlock starts the stand-in for PostgreSQL's implicit transaction
// when the Query needs one (ImplicitBlock) and the session is outside a
// block: an empty Query asks the server for the status first.
func (e *Executor) implicitBlock(parts []planner.Part) (bool, error) {
	if !ImplicitBlock(parts) {
		return false, nil
	}
	status, _, err := e.s.Simple("", true)
	if err != nil || status != 'I' {
		return false, err
	}
	if _, failed, err := e.s.Simple("BEGIN", true); err != nil || failed {
		return false, err
	}
	return true, nil
}

// run runs one statement of a simple Query.
func (e *Executor) run(p planner.Part) (byte, bool, error) {
	if prep := e.Prepared.Lookup(p.Execute); prep != nil {
		return e.call(p, func(ctx context.Context) (*planner.Statement, error) {
			st, err := e.planner.PrepareExecute(ctx, &e.conn, p.SQL, nil, prep)
			if errors.Is(err, planner.ErrReplaced) {
				e.Prepared.Forget(p.Execute) // replaced behind the proxy's back
			}
			return st, err
		})
	}
	if p.Calls {
		return e.call(p, func(ctx context.Context) (*planner.Statement, error) {
			return e.planner.PreparePart(ctx, &e.conn, p)
		})
	}
	return e.s.Simple(p.SQL, false)
}

// call runs one statement of a simple Query that calls model functions,
// as prepare analyses it. The planner's ErrNoCalls and ErrReplaced relay
// the statement unchanged.
func (e *Executor) call(p planner.Part, prepare func(context.Context) (*planner.Statement, error)) (byte, bool, error) {
	ctx, done := e.s.Context()
	st, err := prepare(ctx)
	relay := errors.Is(err, planner.ErrNoCalls) || errors.Is(err, planner.ErrReplaced)
	var extra [][]byte
	switch {
	case relay:
		err = nil
	case err == nil:
		extra, err = st.Bind(ctx, &e.conn, nil, nil)
	}
	done()
	if errors.Is(err, ErrSkipped) {
		return 'I', true, err
	}
	if err != nil {
		return e.fail(err, p.Offset)
	}
	if relay { // the planner found no call after all, or none of its own
		return e.s.Simple(p.SQL, false)
	}
	status, failed, err := e.s.Call(st, p.Offset, extra)
	if err == nil && !failed {
		e.Prepared.Remember(st)
	}
	return status, failed, err
}

// fail reports a failed statement of a simple Query and makes the
// upstream's transaction state match what PostgreSQL would have.
func (e *Executor) fail(err error, offset int) (byte, bool, error) {
	resp, abort := ErrorResponse(e.log, err, offset)
	if resp == nil { // skipped: cannot happen outside a batch
		resp = &pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: err.Error()}
	}
	status, err := e.s.Fail(resp, abort && !e.s.SideFailed())
	return status, true, err
}
