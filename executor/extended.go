package executor

import (
	"errors"

	"github.com/flywheeldb/flywheel/planner"
)

// ParseTarget is what an extended-protocol Parse hands the planner: a
// statement with calls, or an EXECUTE of a tracked prepared statement.
type ParseTarget struct {
	prep *planner.Prepared // the EXECUTE's; nil for a statement with calls
}

// ParseTarget reports whether the planner must see the statement of a
// Parse; without, the Parse goes upstream as the client sent it.
func (e *Executor) ParseTarget(query []byte) (ParseTarget, bool) {
	if e.planner == nil {
		return ParseTarget{}, false
	}
	if e.planner.Mentions(query) {
		return ParseTarget{}, true
	}
	if e.Prepared.Mentions(query) {
		if parts, _ := e.planner.Split(string(query)); len(parts) == 1 {
			if prep := e.Prepared.Lookup(parts[0].Execute); prep != nil {
				return ParseTarget{prep: prep}, true
			}
		}
	}
	return ParseTarget{}, false
}

// Parse prepares the statement of a Parse that ParseTarget picked; a nil
// statement and error mean that it goes upstream unchanged after all.
func (e *Executor) Parse(t ParseTarget, sql string, paramOIDs []uint32) (*planner.Statement, error) {
	ctx, done := e.s.Context()
	defer done()
	if t.prep != nil {
		st, err := e.planner.PrepareExecute(ctx, &e.conn, sql, paramOIDs, t.prep)
		if errors.Is(err, planner.ErrReplaced) {
			e.Prepared.Forget(t.prep.Name) // replaced behind the proxy's back
			return nil, nil
		}
		return st, err
	}
	st, err := e.planner.Prepare(ctx, &e.conn, sql, paramOIDs)
	if errors.Is(err, planner.ErrNoCalls) {
		return nil, nil
	}
	return st, err
}

// Bind runs st's model functions for one Bind and returns the values of
// the proxy's own parameters (see planner.Statement.Bind).
func (e *Executor) Bind(st *planner.Statement, params [][]byte, formats []int16) ([][]byte, error) {
	ctx, done := e.s.Context()
	extra, err := st.Bind(ctx, &e.conn, params, formats)
	done()
	if err != nil {
		return nil, err
	}
	// Recorded before a PREPARE runs, which may yet fail: EXECUTE checks
	// with the server that the statement is this one.
	e.Prepared.Remember(st)
	return extra, nil
}
