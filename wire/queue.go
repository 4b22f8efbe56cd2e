package wire

import (
	"sync"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// action says what the upstream reader does with the responses to one
// request.
type action uint8

const (
	forward   action = iota // relay to the client
	swallow                 // the proxy's own request: drop the responses
	capture                 // a side query: hand the responses to the waiting planner
	synthetic               // no upstream request: write syn to the client when reached
)

// entry is one request whose responses are still to come, in the order the
// upstream will answer them. This is how the proxy keeps the extended
// protocol straight when it injects or rewrites messages (pgbouncer's
// request queue and pgdog's protocol state are the models).
type entry struct {
	kind byte // the request's message type: P B D E C S Q F; 0 for synthetic
	act  action
	// trim, when >= 0, cuts a ParameterDescription to this many
	// parameters: the proxy's own parameters are not the client's business.
	trim int
	// dropNoData drops NoData: a rewritten simple Query must look like a
	// simple Query, which never sends it.
	dropNoData bool
	// wait, on a Sync or Query, takes the ReadyForQuery instead of
	// relaying it and signals the session with the transaction status; on
	// a Parse or Close, it signals the request's outcome.
	wait *waiter
	side *sideQuery // capture target
	last bool       // last entry of a side query: signal when removed
	syn  []byte     // synthetic message bytes
	// swallowOK drops the request's own answer but relays its error: the
	// Parse and Bind of a rewritten simple Query.
	swallowOK bool
	// st, for a rewritten statement's requests, maps the cursor position
	// of PostgreSQL's errors back to the client's text (plus offset, the
	// statement's place in a simple Query string).
	st     *planner.Statement
	offset int
	// force delivers a synthetic message even while the server skips to
	// Sync: it reports the very error that started the skipping (a side
	// query's), so nothing is ahead of it.
	force bool
	// copyEnds is how many CopyDone/CopyFail the client had sent when the
	// request went upstream: PostgreSQL ignores a Sync sent after a
	// request that starts COPY FROM STDIN and before that COPY's end.
	copyEnds uint32
}

// terminal reports whether a response of type typ completes a request of
// kind k. ErrorResponse is handled separately.
func terminal(k, typ byte) bool {
	switch k {
	case 'P':
		return typ == '1'
	case 'B':
		return typ == '2'
	case 'D':
		return typ == 'T' || typ == 'n'
	case 'E':
		return typ == 'C' || typ == 'I' || typ == 's'
	case 'C':
		return typ == '3'
	case 'S', 'Q', 'F':
		return typ == 'Z'
	}
	return false
}

// extended reports whether an error in a request of kind k makes the
// server skip everything up to the next Sync.
func extended(k byte) bool {
	switch k {
	case 'P', 'B', 'D', 'E', 'C', 0:
		return true
	}
	return false
}

// waiter carries the outcome of a Sync the session waited for.
type waiter struct {
	done   chan struct{}
	status byte // transaction status from ReadyForQuery
	failed bool // an ErrorResponse came since the previous Sync
	// copyIn: signalled early, the request started COPY FROM STDIN and
	// the waiting session must relay the client's data first.
	copyIn bool
	// skipped: the server skipped the request (it is skipping to Sync
	// after an earlier error), so no response will come.
	skipped bool
}

// sideQuery collects the responses to a planner side query.
type sideQuery struct {
	done    chan struct{}
	skipped bool // the server skipped it: an earlier request had failed
	err     *pgproto3.ErrorResponse
	params  []uint32
	cols    []catalog.InputColumn
	onCols  func([]catalog.InputColumn) error
	onRow   func([][]byte) error
	rowErr  error
	values  [][]byte
	closed  error // the upstream connection ended
}

// queue is the list of pending requests, shared by the goroutine that
// reads the client and the one that reads the upstream.
type queue struct {
	mu   sync.Mutex
	ents []entry
	head int
	n    int
	// skipping: the server is discarding requests until a Sync, and none
	// is queued yet, so requests pushed now will get no response.
	skipping bool
	failed   bool // an ErrorResponse since the last ReadyForQuery
	closed   error
	// copyIn: the server is in COPY FROM STDIN, started by a request
	// pushed when the client had ended copyEnds COPYs; Syncs pushed with
	// the same count are ignored by the server.
	copyIn   bool
	copyEnds uint32
}

func (q *queue) front() *entry { return &q.ents[q.head] }

func (q *queue) pushLocked(e entry) {
	if q.n == len(q.ents) {
		grown := make([]entry, 2*len(q.ents)+8)
		for i := 0; i < q.n; i++ {
			grown[i] = q.ents[(q.head+i)%len(q.ents)]
		}
		q.ents, q.head = grown, 0
	}
	q.ents[(q.head+q.n)%len(q.ents)] = e
	q.n++
}

// popLocked removes the front entry, signalling a side query whose last
// entry it was.
func (q *queue) popLocked() {
	e := q.ents[q.head]
	q.ents[q.head] = entry{}
	q.head = (q.head + 1) % len(q.ents)
	q.n--
	if e.last && e.side != nil {
		e.side.done <- struct{}{}
	}
}

// skipToSyncLocked drops what the server will skip after an error: every
// request before the next queued Sync.
func (q *queue) skipToSyncLocked() {
	for q.n > 0 && q.front().kind != 'S' {
		if f := q.front(); f.side != nil {
			f.side.skipped = f.side.err == nil
		}
		if f := q.front(); f.wait != nil {
			f.wait.skipped = true
			f.wait.done <- struct{}{}
		}
		q.popLocked()
	}
	if q.n == 0 {
		q.skipping = true
	}
}

// closedErr is why the upstream ended, nil while it is there. The upstream
// goroutine may close the queue (EOF after a FATAL) just after it woke a
// waiter for another reason, so a waiter reads it under the lock.
func (q *queue) closedErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// closeLocked fails everyone waiting: the upstream is gone.
func (q *queue) closeLocked(err error) {
	q.closed = err
	for q.n > 0 {
		f := q.front()
		if f.side != nil {
			f.side.closed = err
		}
		if f.wait != nil {
			f.wait.failed = true
			f.wait.status = 'I'
			f.wait.done <- struct{}{}
		}
		q.popLocked()
	}
}

// startCopyInLocked notes that the front request started COPY FROM STDIN
// and drops the Syncs queued behind it that the server will ignore (libpq
// sends one right after Execute; the COPY's end comes with another).
func (q *queue) startCopyInLocked() {
	q.copyIn, q.copyEnds = true, q.front().copyEnds
	kept := 1
	for i := 1; i < q.n; i++ {
		e := q.ents[(q.head+i)%len(q.ents)]
		if e.kind == 'S' && e.copyEnds == q.copyEnds {
			continue
		}
		q.ents[(q.head+kept)%len(q.ents)] = e
		kept++
	}
	for i := kept; i < q.n; i++ {
		q.ents[(q.head+i)%len(q.ents)] = entry{}
	}
	q.n = kept
}
