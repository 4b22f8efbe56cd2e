package wire

import (
	"context"
	"fmt"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/executor"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// This file is the session's side of executor.Session: the requests the
// executor asks for, sent upstream with the queue entries their responses
// need, and the waits for those responses.

// Simple implements executor.Session.
func (s *session) Simple(sql string, own bool) (status byte, failed bool, err error) {
	s.push(entry{kind: 'Q', act: forward, trim: -1, swallowOK: own, wait: s.newWait()})
	if err := s.writeUp(&pgproto3.Query{String: sql}); err != nil {
		return 'I', true, err
	}
	return s.awaitSync()
}

// HoldComplete implements executor.Session.
func (s *session) HoldComplete() {
	s.q.mu.Lock()
	s.holdComplete = true
	s.q.mu.Unlock()
}

// ReleaseComplete implements executor.Session.
func (s *session) ReleaseComplete(send bool) {
	s.q.mu.Lock()
	s.holdComplete = false
	held := s.held
	s.held = s.held[:0]
	s.q.mu.Unlock()
	if send && len(held) > 0 {
		s.push(entry{act: synthetic, syn: append([]byte(nil), held...)})
	}
}

// Ready implements executor.Session.
func (s *session) Ready(status byte) error {
	s.push(entry{act: synthetic, syn: []byte{'Z', 0, 0, 0, 5, status}})
	s.push(entry{kind: 'C', act: swallow})
	if err := s.writeUp(&pgproto3.Close{ObjectType: 'S'}); err != nil {
		return err
	}
	return s.writeUp(&pgproto3.Flush{})
}

// Context implements executor.Session.
func (s *session) Context() (context.Context, context.CancelFunc) { return s.runContext() }

// SideFailed implements executor.Session.
func (s *session) SideFailed() bool { return s.sideFailed }

func (s *session) newWait() *waiter {
	if s.wait.done == nil {
		s.wait.done = make(chan struct{}, 1)
	}
	s.wait.failed, s.wait.status, s.wait.skipped = false, 'I', false
	return &s.wait
}

// awaitSync flushes what was sent and waits for the pending Sync or Query.
func (s *session) awaitSync() (status byte, failed bool, err error) {
	if err := s.uw.Flush(); err != nil {
		return 'I', true, err
	}
	<-s.wait.done
	for s.wait.copyIn {
		// A plain statement started COPY FROM STDIN: the client's data
		// must go upstream before the statement can end.
		s.wait.copyIn = false
		if err := s.relayCopyIn(); err != nil {
			return 'I', true, err
		}
		<-s.wait.done
	}
	// Under the lock: the upstream goroutine may be closing the queue just
	// now, after the response that woke us.
	s.q.mu.Lock()
	closed := s.q.closed
	s.q.mu.Unlock()
	if closed != nil {
		return 'I', true, closed
	}
	if s.wait.skipped {
		return 'I', true, executor.ErrSkipped
	}
	return s.wait.status, s.wait.failed, nil
}

// relayCopyIn forwards the client's messages upstream until the end of a
// COPY FROM STDIN: CopyDone, CopyFail, or any message but CopyData, Flush
// and Sync (which PostgreSQL ignores during COPY), which fails the COPY.
func (s *session) relayCopyIn() error {
	for {
		typ, n, err := s.nextClient()
		if err != nil {
			return err
		}
		if n > bufferedBodyLimit {
			err = s.cr.copyTo(s.uw, n)
		} else {
			err = s.forwardBuffered(typ, n, 0)
		}
		if err != nil {
			return err
		}
		switch typ {
		case 'd', 'H', 'S':
			continue
		case 'c', 'f':
			s.copyEnds++
		}
		return s.uw.Flush()
	}
}

// Call implements executor.Session.
func (s *session) Call(st *planner.Statement, offset int, extra [][]byte) (byte, bool, error) {
	s.q.mu.Lock()
	// Parse and Bind answers are swallowed, but not their errors.
	s.pushLocked(entry{kind: 'P', act: forward, trim: -1, st: st, offset: offset, swallowOK: true})
	s.pushLocked(entry{kind: 'B', act: forward, trim: -1, st: st, offset: offset, swallowOK: true})
	s.pushLocked(entry{kind: 'D', act: forward, trim: -1, dropNoData: true, st: st, offset: offset})
	s.pushLocked(entry{kind: 'E', act: forward, trim: -1, st: st, offset: offset})
	s.pushLocked(entry{kind: 'S', act: forward, trim: -1, wait: s.newWait()})
	s.q.mu.Unlock()
	// Into the unnamed statement and portal; an inline kind has every
	// value in its text.
	var parse, bind pgproto3.FrontendMessage
	if st.Kind().Inline() {
		parse, bind = &pgproto3.Parse{Query: st.Inline(extra)}, &pgproto3.Bind{}
	} else {
		parse, bind = &pgproto3.Parse{Query: st.SQL, ParameterOIDs: st.ParamOIDs}, bindWithExtra(&pgproto3.Bind{}, extra)
	}
	for _, m := range []pgproto3.FrontendMessage{parse, bind, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}} {
		if err := s.writeUp(m); err != nil {
			return 'I', true, err
		}
	}
	return s.awaitSync()
}

// Fail implements executor.Session.
func (s *session) Fail(resp *pgproto3.ErrorResponse, abort bool) (byte, error) {
	s.q.mu.Lock()
	syn, _ := resp.Encode(nil)
	s.pushLocked(entry{act: synthetic, syn: syn, force: !abort})
	if abort {
		s.pushLocked(entry{kind: 'P', act: swallow})
	}
	s.pushLocked(entry{kind: 'S', act: forward, trim: -1, wait: s.newWait()})
	s.q.mu.Unlock()
	if abort {
		if err := s.writeUp(&pgproto3.Parse{Name: executor.AbortName, Query: executor.AbortSQL}); err != nil {
			return 'I', err
		}
	}
	if err := s.writeUp(&pgproto3.Sync{}); err != nil {
		return 'I', err
	}
	status, _, err := s.awaitSync()
	return status, err
}

// Side implements executor.Upstream: each message gets an entry that
// captures its response, and a Flush sends them.
func (s *session) Side(msgs []pgproto3.FrontendMessage, cols func([]catalog.InputColumn) error, row func([][]byte) error) ([]uint32, []catalog.InputColumn, error) {
	// Encoded first: each frame's type byte is the kind of its entry.
	out, kinds := s.out[:0], make([]byte, len(msgs))
	for i, m := range msgs {
		n := len(out)
		var err error
		if out, err = m.Encode(out); err != nil {
			return nil, nil, err
		}
		kinds[i] = out[n]
	}
	s.out = out
	sq := s.newSide(cols, row)
	// The last entry is marked as it is pushed: while the server skips to
	// Sync, pushLocked drops the entries and signals that last one, so
	// nothing must be marked later.
	s.q.mu.Lock()
	for i, k := range kinds {
		s.pushLocked(entry{kind: k, act: capture, side: sq, last: i == len(kinds)-1})
	}
	s.q.mu.Unlock()
	if _, err := s.uw.Write(out); err != nil {
		return nil, nil, err
	}
	if err := s.writeUp(&pgproto3.Flush{}); err != nil {
		return nil, nil, err
	}
	if err := s.awaitSide(sq); err != nil {
		return nil, nil, err
	}
	return sq.params, sq.cols, sq.rowErr
}

// ToClient implements executor.Upstream.
func (s *session) ToClient(msg pgproto3.BackendMessage) error {
	syn, err := msg.Encode(nil)
	if err != nil {
		return err
	}
	s.q.mu.Lock()
	s.pushLocked(entry{act: synthetic, syn: syn, force: true})
	s.q.mu.Unlock()
	return nil
}

func (s *session) newSide(cols func([]catalog.InputColumn) error, row func([][]byte) error) *sideQuery {
	done := s.side.done
	if done == nil {
		done = make(chan struct{}, 1)
	}
	s.side = sideQuery{done: done, onCols: cols, onRow: row, values: s.side.values[:0]}
	return &s.side
}

// awaitSide waits for a side query's last response.
func (s *session) awaitSide(sq *sideQuery) error {
	if err := s.uw.Flush(); err != nil {
		return err
	}
	<-sq.done
	switch {
	case sq.closed != nil:
		return fmt.Errorf("side query: %w", sq.closed)
	case sq.err != nil:
		s.sideFailed = true
		return &executor.UpstreamError{Resp: sq.err}
	case sq.skipped:
		return executor.ErrSkipped
	}
	return nil
}

var _ executor.Session = (*session)(nil)
