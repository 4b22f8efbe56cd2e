package wire

import (
	"errors"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/executor"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// This file holds the session's handlers of the messages that may carry
// a statement calling model functions (Query, Parse, Bind, Describe,
// Close): what is for the planner goes to the executor, everything else
// is relayed as frames. exec.go is the executor's way back.

// noteModelWork tells the upstream spinner whether the client's current
// statement runs model work in the proxy (upstreamSource.modelWork).
func (s *session) noteModelWork(calls bool) {
	// Stored only on a change: the spinner reads it on another core.
	if s.spinUp != nil && s.spinUp.modelWork.Load() != calls {
		s.spinUp.modelWork.Store(calls)
	}
}

// onQuery handles a simple Query.
func (s *session) onQuery(n int) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	if err := s.settleUnnamed(true); err != nil {
		return err
	}
	if len(s.stmts) > 0 {
		if _, ok := s.stmts[""]; ok {
			// A simple Query drops the unnamed statement, unless the
			// server skips it after an earlier error: a Close of the
			// proxy's own ahead of it tells which.
			done, err := s.sendAwaited(entry{kind: 'C', act: swallow},
				func() error { return s.writeUp(&pgproto3.Close{ObjectType: 'S'}) })
			if err != nil {
				return err
			}
			if done {
				delete(s.stmts, "")
			}
		}
	}
	calls := len(body) > 0 && s.ex.Mentions(body[:len(body)-1])
	s.noteModelWork(calls)
	if calls {
		if ran, err := s.ex.Query(string(body[:len(body)-1])); ran || err != nil {
			return err
		}
	}
	s.push(entry{kind: 'Q', act: forward, trim: -1})
	return writeFrame(s.uw, 'Q', body)
}

// bindWithExtra appends the proxy's parameters (text format) to a Bind.
func bindWithExtra(b *pgproto3.Bind, extra [][]byte) *pgproto3.Bind {
	if len(extra) == 0 {
		return b
	}
	n := len(b.Parameters)
	formats := make([]int16, n+len(extra))
	switch len(b.ParameterFormatCodes) {
	case 0:
	case 1:
		for i := 0; i < n; i++ {
			formats[i] = b.ParameterFormatCodes[0]
		}
	default:
		copy(formats, b.ParameterFormatCodes)
	}
	b.ParameterFormatCodes = formats
	b.Parameters = append(b.Parameters[:n:n], extra...)
	return b
}

// failExtended reports a failed extended-protocol request in order and
// skips the client's requests up to Sync, as the server would.
func (s *session) failExtended(err error) error {
	resp, abort := executor.ErrorResponse(s.log, err, 0)
	abort = abort && !s.sideFailed
	s.clientSkip = true
	if resp == nil {
		return nil
	}
	syn, _ := resp.Encode(nil)
	s.q.mu.Lock()
	s.pushLocked(entry{act: synthetic, syn: syn, force: !abort})
	if abort {
		s.pushLocked(entry{kind: 'P', act: swallow})
	}
	s.q.mu.Unlock()
	if abort {
		return s.writeUp(&pgproto3.Parse{Name: executor.AbortName, Query: executor.AbortSQL})
	}
	return nil
}

// onParse handles Parse: statements that call model functions are
// prepared by the planner and their rewritten text goes upstream.
func (s *session) onParse(n int) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	name, rest, ok := cstring(body)
	if !ok {
		return &ProtocolError{"malformed Parse message"}
	}
	query, _, ok := cstring(rest)
	if !ok {
		return &ProtocolError{"malformed Parse message"}
	}
	if err := s.settleUnnamed(true); err != nil {
		return err
	}
	known := false
	if len(s.stmts) > 0 {
		_, known = s.stmts[string(name)]
	}
	var st *planner.Statement // nil: the Parse goes upstream as the client sent it
	if target, ok := s.ex.ParseTarget(query); ok {
		var msg pgproto3.Parse
		if err := msg.Decode(body); err != nil {
			return &ProtocolError{"malformed Parse message: " + err.Error()}
		}
		if st, err = s.ex.Parse(target, msg.Query, msg.ParameterOIDs); err != nil {
			if len(name) == 0 && !errors.Is(err, executor.ErrSkipped) {
				// PostgreSQL drops the unnamed statement before parsing
				// (unless it skipped the Parse, as it did the planner's
				// side query).
				delete(s.stmts, "")
			}
			return s.failExtended(err)
		}
	}
	if st == nil && !known {
		s.push(entry{kind: 'P', act: forward, trim: -1})
		return writeFrame(s.uw, 'P', body)
	}
	// The map of call statements follows what the server does with the
	// Parse, which fails on a taken name or in an aborted transaction and
	// is skipped after an earlier error: wait for the outcome (the unnamed
	// statement's is settled later).
	nm := string(name)
	if nm == "" {
		return s.parseUnnamed(st, body)
	}
	e := entry{kind: 'P', act: forward, trim: -1, st: st}
	write := func() error { return writeFrame(s.uw, 'P', body) }
	if st != nil {
		write = func() error {
			return s.writeUp(&pgproto3.Parse{Name: nm, Query: st.SQL, ParameterOIDs: st.ParamOIDs})
		}
	}
	done, err := s.sendAwaited(e, write)
	switch {
	case done && st != nil:
		if s.stmts == nil {
			s.stmts = make(map[string]*planner.Statement)
		}
		s.stmts[nm] = st
	case done:
		delete(s.stmts, nm)
	}
	return err
}

// pendingParse is a Parse into the unnamed statement sent without waiting
// for the server's answer: the session's map of call statements assumes it
// succeeds, and prev is what the map held before. Drivers parse into the
// unnamed statement for each query (pgx's exec modes, pgbench -M extended,
// pgJDBC before its prepare threshold), so waiting would cost a round trip
// per query. Assuming is safe for what follows up to the client's next
// Sync: if the Parse fails or is skipped, so is every request up to there.
type pendingParse struct {
	w      waiter
	prev   *planner.Statement
	active bool
	synced bool // the client's Sync came since: assuming is safe no more
}

// parseUnnamed sends a Parse into the unnamed statement: st's rewritten
// text, or when st is nil the client's body (a plain statement replacing
// a call statement).
func (s *session) parseUnnamed(st *planner.Statement, body []byte) error {
	p := &s.unnamed
	if p.w.done == nil {
		p.w.done = make(chan struct{}, 1)
	}
	p.w.failed, p.w.skipped = false, false
	p.prev, p.active, p.synced = s.stmts[""], true, false
	s.push(entry{kind: 'P', act: forward, trim: -1, st: st, wait: &p.w})
	if st == nil {
		delete(s.stmts, "")
		return writeFrame(s.uw, 'P', body)
	}
	if s.stmts == nil {
		s.stmts = make(map[string]*planner.Statement)
	}
	s.stmts[""] = st
	return s.writeUp(&pgproto3.Parse{Query: st.SQL, ParameterOIDs: st.ParamOIDs})
}

// settleUnnamed corrects the map of call statements by the pending
// unnamed Parse's outcome, if it has come, or once it has with block or
// past a Sync. Whatever reads or replaces the unnamed statement settles
// it first.
func (s *session) settleUnnamed(block bool) error {
	p := &s.unnamed
	if !p.active {
		return nil
	}
	select {
	case <-p.w.done:
	default:
		if !block && !p.synced {
			return nil
		}
		if err := s.flushUp(); err != nil {
			return err
		}
		<-p.w.done
	}
	switch {
	case p.w.skipped && p.prev != nil:
		s.stmts[""] = p.prev
	case p.w.skipped, p.w.failed:
		// PostgreSQL drops the unnamed statement before parsing.
		delete(s.stmts, "")
	}
	p.prev, p.active = nil, false
	return s.q.closedErr()
}

// sendAwaited sends a request and waits for the server's answer to it:
// done, or not when it failed or the server skipped it.
func (s *session) sendAwaited(e entry, write func() error) (done bool, err error) {
	e.wait = s.newWait()
	s.push(e)
	if err := write(); err != nil {
		return false, err
	}
	if err := s.flushUp(); err != nil {
		return false, err
	}
	<-s.wait.done
	if err := s.q.closedErr(); err != nil {
		return false, err
	}
	return !s.wait.failed && !s.wait.skipped, nil
}

// flushUp sends what is buffered upstream with a Flush after it:
// PostgreSQL holds its answers until Sync or Flush.
func (s *session) flushUp() error {
	if err := s.writeUp(&pgproto3.Flush{}); err != nil {
		return err
	}
	return s.uw.Flush()
}

// onBind handles Bind: for a statement that calls model functions, the
// planner runs them and their results are appended as parameters.
func (s *session) onBind(n int) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	// A failed Parse ahead of it is known by now, as a rule: no call for
	// a Bind the server will skip.
	if err := s.settleUnnamed(false); err != nil {
		return err
	}
	var st *planner.Statement
	if len(s.stmts) > 0 {
		_, rest, ok := cstring(body)
		if !ok {
			return &ProtocolError{"malformed Bind message"}
		}
		name, _, ok := cstring(rest)
		if !ok {
			return &ProtocolError{"malformed Bind message"}
		}
		st = s.stmts[string(name)]
	}
	s.noteModelWork(st != nil)
	if st == nil {
		s.push(entry{kind: 'B', act: forward, trim: -1})
		return writeFrame(s.uw, 'B', body)
	}
	var msg pgproto3.Bind
	if err := msg.Decode(body); err != nil {
		return &ProtocolError{"malformed Bind message: " + err.Error()}
	}
	extra, err := s.ex.Bind(st, msg.Parameters, msg.ParameterFormatCodes)
	if err != nil {
		return s.failExtended(err)
	}
	if st.Kind().Inline() {
		// COPY and EXECUTE take no parameters: the values are in the
		// text, parsed afresh under a name of the proxy's own (the
		// client's unnamed statement stays theirs). A portal outlives the
		// statement it was bound from, so the next such Bind may replace
		// it.
		s.q.mu.Lock()
		s.pushLocked(entry{kind: 'C', act: swallow})
		s.pushLocked(entry{kind: 'P', act: forward, trim: -1, st: st, swallowOK: true})
		s.pushLocked(entry{kind: 'B', act: forward, trim: -1})
		s.q.mu.Unlock()
		if err := s.writeUp(&pgproto3.Close{ObjectType: 'S', Name: executor.InlineName}); err != nil {
			return err
		}
		if err := s.writeUp(&pgproto3.Parse{Name: executor.InlineName, Query: st.Inline(extra)}); err != nil {
			return err
		}
		// Every value is in the text now, the client's parameters too.
		msg.PreparedStatement = executor.InlineName
		msg.Parameters, msg.ParameterFormatCodes = nil, nil
		s.inlineOpen = true
		return s.writeUp(&msg)
	}
	s.push(entry{kind: 'B', act: forward, trim: -1})
	return s.writeUp(bindWithExtra(&msg, extra))
}

// onDescribe trims the proxy's own parameters from a rewritten statement's
// ParameterDescription.
func (s *session) onDescribe(n int) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	if err := s.settleUnnamed(false); err != nil {
		return err
	}
	e := entry{kind: 'D', act: forward, trim: -1}
	if len(s.stmts) > 0 && len(body) > 1 && body[0] == 'S' {
		name, _, _ := cstring(body[1:])
		if st := s.stmts[string(name)]; st != nil {
			e.trim = st.ClientParams
		}
	}
	s.push(e)
	return writeFrame(s.uw, 'D', body)
}

// onClose forgets a closed statement.
func (s *session) onClose(n int) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	if err := s.settleUnnamed(true); err != nil {
		return err
	}
	if len(s.stmts) > 0 && len(body) > 1 && body[0] == 'S' {
		name, _, _ := cstring(body[1:])
		if _, ok := s.stmts[string(name)]; ok {
			// Forget the statement once the server has closed it (it
			// skips the Close after an earlier error).
			nm := string(name)
			done, err := s.sendAwaited(entry{kind: 'C', act: forward, trim: -1},
				func() error { return writeFrame(s.uw, 'C', body) })
			if done {
				delete(s.stmts, nm)
			}
			return err
		}
	}
	s.push(entry{kind: 'C', act: forward, trim: -1})
	return writeFrame(s.uw, 'C', body)
}

func inputColumn(f pgproto3.FieldDescription) catalog.InputColumn {
	return catalog.InputColumn{Name: string(f.Name), Type: f.DataTypeOID}
}
