package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"

	"github.com/flywheeldb/flywheel/executor"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// session relays one client connection to its own upstream connection
// (session pooling: temp tables, prepared statements, SET and transactions
// behave exactly as PostgreSQL defines them).
type session struct {
	// sideFailed records that a side query of the running call failed
	// upstream, which is now skipping to Sync: the call's error is then
	// the client's to see, however the function reported it.
	sideFailed bool
	srv        *Server
	log        *slog.Logger
	client     net.Conn
	up         net.Conn
	cr         *frameReader  // client reader
	cw         *bufio.Writer // client writer, guarded by q.mu
	ur         *frameReader  // upstream reader
	uw         *bufio.Writer // upstream writer, used by the client goroutine only
	q          queue

	key   cancelKey // the key the client was given; set once, before relay
	upKey []byte    // the upstream's BackendKeyData body

	// Statements the client prepared that call model functions, by name.
	stmts map[string]*planner.Statement
	// ex runs the statements that call model functions and tracks the
	// SQL-level prepared statements that do.
	ex *executor.Executor
	// clientSkip: a request failed in the proxy, so, like the server, the
	// session drops the client's requests until Sync.
	clientSkip bool
	// copyEnds counts the client's CopyDone and CopyFail messages (see
	// entry.copyEnds).
	copyEnds uint32
	// lastUp is the type of the upstream's latest message and terminated
	// says the client sent Terminate (both guarded by q.mu): when the
	// upstream then hangs up, it has said why itself, or was asked to.
	lastUp     byte
	terminated bool

	ctx       context.Context // ends when the session ends
	cancelMu  sync.Mutex
	cancelRun context.CancelFunc // cancels the model computation in progress

	side sideQuery
	wait waiter
	// unnamed is a Parse into the unnamed statement whose outcome stmts
	// assumes before the server has answered.
	unnamed pendingParse
	// holdComplete (under q.mu) keeps CommandComplete, NotificationResponse
	// and ParameterStatus in held instead of relaying them: the last
	// statement of a Query run in the proxy's implicit block completes only
	// if the COMMIT does.
	holdComplete bool
	held         []byte
	// inlineOpen: a Bind used the proxy's statement executor.InlineName, to be
	// closed at the client's next Sync.
	inlineOpen bool
	// lend, when busy polling, lets the upstream goroutine serve the
	// client goroutine's reads (nil otherwise).
	lend   *clientSource
	spinUp *upstreamSource // the upstream reader, when busy polling
	// upFree: the upstream goroutine is between messages and holds no
	// lock, so it may relay a client's plain messages itself. Only that
	// goroutine reads or writes it.
	upFree bool
	inline inlineReader
	out    []byte // scratch for encoding messages
}

func (s *session) writeUp(msg interface{ Encode([]byte) ([]byte, error) }) error {
	var err error
	s.out, err = msg.Encode(s.out[:0])
	if err != nil {
		return err
	}
	_, err = s.uw.Write(s.out)
	return err
}

// relay runs the two relay loops until either side ends.
func (s *session) relay() {
	if s.spinUp != nil && s.lend != nil {
		// Reads are lent only between two goroutines: start-up ran on one.
		s.spinUp.client, s.spinUp.inline = s.lend, s.inlineClient
	}
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		err := s.upstreamLoopSafe()
		if s.lend != nil {
			s.lend.withdraw() // nobody will serve a lent read now
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("upstream loop ended", "err", err)
		}
		// Tell the client, unless it is the one that left or PostgreSQL
		// already sent its FATAL.
		s.q.mu.Lock()
		if s.q.closed == nil {
			s.q.closeLocked(executor.ErrUpstreamGone)
			explained := errors.Is(err, io.EOF) && (s.terminated || s.lastUp == 'E')
			if err != nil && !errors.Is(err, net.ErrClosed) && !explained {
				s.writeErrorLocked(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08006",
					Message: "terminating connection: the upstream PostgreSQL connection was lost",
					Detail:  err.Error()})
				_ = s.cw.Flush()
			}
		}
		s.q.mu.Unlock()
		s.client.Close()
		// A model computation has no one to answer now.
		s.cancelComputation()
	}()
	err := s.clientLoop()
	if errors.Is(err, errTerminate) {
		// PostgreSQL finishes what came before Terminate, then hangs up:
		// relay that to the end rather than cancel it.
		stop := context.AfterFunc(s.ctx, func() { s.up.Close() })
		<-upDone
		stop()
		return
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var pe *ProtocolError
		s.q.mu.Lock()
		switch {
		case errors.As(err, &pe):
			s.writeErrorLocked(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01", Message: pe.Msg})
			_ = s.cw.Flush()
		case s.q.closed == nil:
			// Most likely a write to an upstream that is gone (killed):
			// the upstream loop, which the Close below ends, would take
			// its own end for ours and say nothing, leaving the client
			// with a bare EOF. (If it is the client that is gone, the
			// write fails quietly.)
			s.q.closeLocked(executor.ErrUpstreamGone)
			s.writeErrorLocked(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08006",
				Message: "terminating connection: the upstream PostgreSQL connection was lost", Detail: err.Error()})
			_ = s.cw.Flush()
		}
		s.q.mu.Unlock()
		s.log.Debug("client loop ended", "err", err)
	}
	// The client left (or broke the protocol): stop whatever the upstream
	// is still running for it, then hang up.
	s.q.mu.Lock()
	busy := s.q.n > 0 && s.q.closed == nil
	s.q.mu.Unlock()
	if busy {
		s.srv.cancelUpstream(s.upKey, s.log)
	}
	s.cancelComputation()
	s.up.Close()
	<-upDone
}

var errTerminate = errors.New("client sent Terminate")

// nextClient flushes what is pending upstream once the client has nothing
// more buffered, then reads the client's next message header.
func (s *session) nextClient() (byte, int, error) {
	if s.cr.r.Buffered() == 0 {
		if err := s.uw.Flush(); err != nil {
			return 0, 0, err
		}
		s.lend.startMessage()
	}
	return s.cr.next()
}

// clientLoop reads the client's messages and forwards them upstream.
func (s *session) clientLoop() error {
	for {
		typ, n, err := s.nextClient()
		if err != nil {
			return err
		}
		if s.clientSkip && typ != 'S' && typ != 'X' {
			if err := s.cr.skip(n); err != nil {
				return err
			}
			continue
		}
		if err := s.onClient(typ, n); err != nil {
			return err
		}
	}
}

// onClient handles one client message whose header has been read from
// s.cr.
func (s *session) onClient(typ byte, n int) error {
	if c := s.srv.counters; c != nil {
		countMessage(&c.ClientMessages, &c.ClientBytes, n)
	}
	switch typ {
	case 'd', 'c', 'f', 'H': // CopyData, CopyDone, CopyFail, Flush: no response of their own
		if typ == 'c' || typ == 'f' {
			s.copyEnds++
		}
		if n > bufferedBodyLimit {
			return s.cr.copyTo(s.uw, n)
		}
		return s.forwardBuffered(typ, n, 0)
	case 'Q':
		return s.onQuery(n)
	case 'P':
		return s.onParse(n)
	case 'B':
		return s.onBind(n)
	case 'D':
		return s.onDescribe(n)
	case 'C':
		return s.onClose(n)
	case 'E', 'F':
		return s.forwardBuffered(typ, n, typ)
	case 'S':
		s.clientSkip = false
		s.unnamed.synced = true
		if s.inlineOpen {
			// Drop the proxy's inline statement (its portals live on), so
			// the session's list of prepared statements is the client's
			// own again.
			s.inlineOpen = false
			s.push(entry{kind: 'C', act: swallow})
			if err := s.writeUp(&pgproto3.Close{ObjectType: 'S', Name: executor.InlineName}); err != nil {
				return err
			}
		}
		return s.forwardBuffered(typ, n, 'S')
	case 'X':
		s.q.mu.Lock()
		s.terminated = true
		s.q.mu.Unlock()
		_ = s.forwardBuffered(typ, n, 0)
		_ = s.uw.Flush()
		return errTerminate
	}
	return &ProtocolError{fmt.Sprintf("invalid frontend message type %d", typ)}
}

// forwardBuffered reads a message whole and forwards it unchanged,
// queueing an entry for its responses when kind is not 0.
func (s *session) forwardBuffered(typ byte, n int, kind byte) error {
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	if kind != 0 {
		s.push(entry{kind: kind, act: forward, trim: -1})
	}
	return writeFrame(s.uw, typ, body)
}

// push queues an entry; a synthetic one with nothing ahead of it is
// written to the client at once.
func (s *session) push(e entry) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	s.pushLocked(e)
}

func (s *session) pushLocked(e entry) {
	q := &s.q
	if q.closed != nil {
		if e.side != nil && e.last {
			e.side.closed = q.closed
			e.side.done <- struct{}{}
		}
		if e.wait != nil {
			e.wait.failed, e.wait.status = true, 'I'
			e.wait.done <- struct{}{}
		}
		return
	}
	if q.skipping && e.kind != 'S' && !e.force {
		// The server will skip this request: it gets no response.
		if e.side != nil && e.last {
			e.side.skipped = true
			e.side.done <- struct{}{}
		}
		if e.wait != nil {
			e.wait.skipped = true
			e.wait.done <- struct{}{}
		}
		return
	}
	e.copyEnds = s.copyEnds
	if e.kind == 'S' {
		if q.copyIn && e.copyEnds == q.copyEnds {
			return // sent during COPY IN: the server ignores it
		}
		q.skipping = false
	}
	if e.act == synthetic && q.n == 0 {
		_, _ = s.cw.Write(e.syn)
		_ = s.cw.Flush()
		return
	}
	q.pushLocked(e)
}

// upstreamLoopSafe runs upstreamLoop and turns a panic (in the relay or in
// a side query's row callback) into an error that ends this session only.
func (s *session) upstreamLoopSafe() (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("upstream relay panicked; closing the session", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return s.upstreamLoop()
}

// upstreamLoop reads the upstream's messages and routes each by the
// request at the front of the queue.
func (s *session) upstreamLoop() error {
	for {
		s.upFree = true // reading a header holds no lock: see inlineClient
		typ, n, err := s.ur.next()
		s.upFree = false
		if err != nil {
			return err
		}
		if err := s.onUpstream(typ, n); err != nil {
			return err
		}
	}
}

func (s *session) onUpstream(typ byte, n int) error {
	if c := s.srv.counters; c != nil {
		countMessage(&c.UpstreamMessages, &c.UpstreamBytes, n)
	}
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	s.lastUp = typ
	// ErrorResponses are rare and small: peeking at one costs nothing
	// on the hot path (one too large for the buffer is taken as not fatal).
	var ended bool
	if typ == 'E' {
		b, err := s.ur.r.Peek(n)
		ended = err == nil && fatal(b)
	}
	var err error
	switch {
	case (typ == 'A' || typ == 'S') && s.holdComplete:
		// PostgreSQL sends these after the implicit COMMIT, just before
		// ReadyForQuery: they wait with the held CommandComplete.
		var body []byte
		if body, err = s.ur.body(n); err == nil {
			s.held = appendFrame(s.held, typ, body)
		}
	case typ == 'N' || typ == 'A' || typ == 'S' || q.n == 0:
		// Notices, notifications and parameter changes come at any time;
		// anything else unasked for (a FATAL at shutdown) is relayed too.
		err = s.ur.copyTo(s.cw, n)
	default:
		e := q.front()
		switch e.act {
		case forward:
			err = s.forwardResponse(e, typ, n)
		case swallow:
			if typ == 'E' {
				err = s.relayFatal(n)
			} else {
				err = s.ur.skip(n)
			}
		case capture:
			err = s.captureResponse(e.side, typ, n)
		}
		if err != nil {
			return err
		}
		switch {
		case typ == 'G':
			q.startCopyInLocked()
			if e.wait != nil {
				e.wait.copyIn = true
				e.wait.done <- struct{}{}
			}
		case q.copyIn && (typ == 'C' || typ == 'E'):
			q.copyIn = false // the COPY is over, later Syncs count
		}
		if typ == 'E' {
			q.failed = true
			if extended(e.kind) {
				if e.wait != nil {
					e.wait.failed = true
					e.wait.done <- struct{}{}
				}
				s.q.popLocked()
				q.skipToSyncLocked()
			}
		} else if terminal(e.kind, typ) {
			if typ == 'Z' {
				if e.wait != nil {
					e.wait.failed = q.failed
					e.wait.done <- struct{}{}
				}
				q.failed = false
			} else if e.wait != nil {
				e.wait.done <- struct{}{}
			}
			q.popLocked()
		}
		// Synthetic responses that were waiting for this one go now
		// (none after a FATAL: the session is over).
		for !ended && q.n > 0 && q.front().act == synthetic {
			_, err = s.cw.Write(q.front().syn)
			q.popLocked()
		}
	}
	if err != nil {
		return err
	}
	if ended {
		// PostgreSQL sends nothing after a FATAL and hangs up: whoever
		// waits for an answer (the planner's side query, a Sync of the
		// proxy's own) learns at once that none will come.
		q.closeLocked(executor.ErrUpstreamGone)
		return s.cw.Flush()
	}
	if s.ur.r.Buffered() == 0 {
		return s.cw.Flush()
	}
	return nil
}

// relayFatal reads an ErrorResponse to one of the proxy's own requests,
// which the client does not see, unless it ends the session (a backend
// terminated by pg_terminate_backend or at shutdown): the client gets
// PostgreSQL's own FATAL, as on a direct connection.
func (s *session) relayFatal(n int) error {
	body, err := s.ur.body(n)
	if err != nil || !fatal(body) {
		return err
	}
	return writeFrame(s.cw, 'E', body)
}

// fatal reports whether an ErrorResponse body has severity FATAL or PANIC.
func fatal(body []byte) bool {
	for len(body) > 0 && body[0] != 0 {
		code := body[0]
		v, rest, ok := cstring(body[1:])
		if !ok {
			return false
		}
		// V is the unlocalized severity (9.6 on); S may be translated.
		if code == 'V' || code == 'S' {
			if string(v) == "FATAL" || string(v) == "PANIC" {
				return true
			}
			if code == 'V' {
				return false
			}
		}
		body = rest
	}
	return false
}

// forwardResponse relays one response to the client, adjusting the few
// that a rewritten request needs adjusted.
func (s *session) forwardResponse(e *entry, typ byte, n int) error {
	switch {
	case typ == 'Z' && e.wait != nil:
		body, err := s.ur.body(n)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			e.wait.status = body[0]
		}
		return nil
	case e.swallowOK && typ != 'E':
		return s.ur.skip(n)
	case typ == 'C' && s.holdComplete:
		body, err := s.ur.body(n)
		if err != nil {
			return err
		}
		s.held = appendFrame(s.held, 'C', body)
		return nil
	case typ == 'n' && e.dropNoData:
		return s.ur.skip(n)
	case typ == 'E' && e.st != nil:
		body, err := s.ur.body(n)
		if err != nil {
			return err
		}
		var er pgproto3.ErrorResponse
		if err := er.Decode(body); err != nil {
			return err
		}
		if er.Position > 0 {
			if p := e.st.ClientPosition(int(er.Position)); p > 0 {
				er.Position = int32(p + e.offset)
			} else {
				er.Position = 0
			}
		}
		s.writeErrorLocked(&er)
		return nil
	case typ == 't' && e.trim >= 0:
		body, err := s.ur.body(n)
		if err != nil {
			return err
		}
		var pd pgproto3.ParameterDescription
		if err := pd.Decode(body); err != nil {
			return err
		}
		if len(pd.ParameterOIDs) > e.trim {
			pd.ParameterOIDs = pd.ParameterOIDs[:e.trim]
		}
		out, err := pd.Encode(nil)
		if err != nil {
			return err
		}
		_, err = s.cw.Write(out)
		return err
	}
	return s.ur.copyTo(s.cw, n)
}

// captureResponse hands a side query's response to the waiting planner.
func (s *session) captureResponse(sq *sideQuery, typ byte, n int) error {
	switch typ {
	case 't', 'T', 'D', 'E':
	default:
		return s.ur.skip(n)
	}
	body, err := s.ur.body(n)
	if err != nil {
		return err
	}
	switch typ {
	case 't':
		var pd pgproto3.ParameterDescription
		if err := pd.Decode(body); err != nil {
			return err
		}
		sq.params = pd.ParameterOIDs
	case 'T':
		var rd pgproto3.RowDescription
		if err := rd.Decode(body); err != nil {
			return err
		}
		sq.cols = sq.cols[:0]
		for _, f := range rd.Fields {
			sq.cols = append(sq.cols, inputColumn(f))
		}
		if sq.onCols != nil && sq.rowErr == nil {
			sq.rowErr = sq.onCols(sq.cols)
		}
	case 'D':
		if sq.onRow == nil || sq.rowErr != nil {
			return nil
		}
		vals, ok := decodeDataRow(body, sq.values[:0])
		if !ok {
			return &ProtocolError{"malformed DataRow from upstream"}
		}
		sq.values = vals
		sq.rowErr = sq.onRow(vals)
	case 'E':
		var er pgproto3.ErrorResponse
		if err := er.Decode(body); err != nil {
			return err
		}
		sq.err = &er
		if fatal(body) {
			// The session ends with it: the client hears it from
			// PostgreSQL, as on a direct connection (see relayFatal).
			return writeFrame(s.cw, 'E', body)
		}
	}
	return nil
}

// decodeDataRow splits a DataRow body into its values (nil for NULL)
// without copying them.
func decodeDataRow(b []byte, vals [][]byte) ([][]byte, bool) {
	if len(b) < 2 {
		return nil, false
	}
	cnt := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	for i := 0; i < cnt; i++ {
		if len(b) < 4 {
			return nil, false
		}
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 {
			vals = append(vals, nil)
			continue
		}
		if len(b) < l {
			return nil, false
		}
		vals = append(vals, b[:l:l])
		b = b[l:]
	}
	return vals, true
}

// writeErrorLocked writes an ErrorResponse to the client; q.mu is held.
func (s *session) writeErrorLocked(er *pgproto3.ErrorResponse) {
	out, err := er.Encode(nil)
	if err == nil {
		_, _ = s.cw.Write(out)
	}
}

// cancelComputation stops the model computation in progress, if any.
func (s *session) cancelComputation() {
	s.cancelMu.Lock()
	if s.cancelRun != nil {
		s.cancelRun()
	}
	s.cancelMu.Unlock()
}

// runContext returns the context for one planner call; a CancelRequest
// cancels it.
func (s *session) runContext() (context.Context, context.CancelFunc) {
	s.sideFailed = false
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancelMu.Lock()
	s.cancelRun = cancel
	s.cancelMu.Unlock()
	// The session reads nothing from the client until the call is done, so
	// a client that leaves meanwhile is noticed by a watcher.
	stopWatch := watchHangup(s.client, func() {
		s.log.Debug("client left during a model function call; cancelling it")
		cancel()
		s.srv.cancelUpstream(s.upKey, s.log)
	})
	return ctx, func() {
		stopWatch()
		s.cancelMu.Lock()
		s.cancelRun = nil
		s.cancelMu.Unlock()
		cancel()
	}
}
