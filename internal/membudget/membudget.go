// Package membudget is one memory budget shared by everything in a
// Flywheel process that holds memory on a client's behalf: the inputs and
// results of model-function calls in every session, and the model cache.
//
// The per-call caps (--max-input-rows/bytes) bound one call; this bounds
// the sum, so that twenty sessions each reading a large input get SQLSTATE
// 53200 rather than the kernel's OOM killer ending the proxy for all.
//
// A caller reserves bytes before it allocates them, in chunks as it reads,
// so a huge input fails early. A reservation that does not fit waits a
// little (the bounded Wait, or the caller's context if it ends sooner) for
// others to finish, asking reclaimers (the model cache) to give memory
// back first, and then fails with an *ExceededError.
//
// A nil *Budget is unlimited and costs nothing: every method accepts it.
package membudget

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// A holder of model work is charged an estimate of what it holds, as it
// comes to hold it: the Go heap has no per-goroutine accounting, so the
// estimate is made from the bytes a call reads and returns. The factors
// were measured on recommend, nmf and kmeans inputs of 200,000 to 871,000
// rows (peak heap over the input's counted bytes, len(value)+9 per value,
// the count the per-call --max-input-bytes cap uses):
//
//   - reading: 2.3-2.6 × the counted bytes at the peak, since a column's
//     packed buffers grow by doubling and the outgrown ones are garbage
//     until the next collection;
//   - running: recommend user_cf 2.1-2.7 ×, recommend nmf 2.7 × (7 × on a
//     small input with a wide user × item shape), kmeans about 1 ×;
//   - results: text arrays grow by doubling too.
//
// So a call is charged about 5 × its input, which matches issue 15's
// 160 MiB for a recommend over 871,000 ratings. What a function allocates
// beyond the estimate is part of the Slack.
const (
	InputFactor  = 2 // × the counted bytes of input rows, as they are read
	WorkFactor   = 3 // × the counted input, before the function runs
	ResultFactor = 2 // × the bytes of result arrays, as they are built
	// Chunk is how much a holder counts before it asks the budget, so a
	// large input takes the budget's lock once a mebibyte, not once a row.
	Chunk = 1 << 20
)

// DefaultWait is how long a reservation waits for memory before it fails:
// long enough for a call that is finishing to release what it holds, short
// enough that a client sees 53200 rather than a statement that seems hung.
const DefaultWait = 2 * time.Second

// Budget is a limit of bytes shared by many holders. It is safe for
// concurrent use.
type Budget struct {
	limit int64
	wait  time.Duration

	mu   sync.Mutex
	used int64
	// The waiters, oldest first, each a *waiter: holders are reservations
	// that already hold memory (a call part-way through its input), and
	// are served before newcomers, which hold none: work under way
	// finishes, and so gives its memory back, before new work starts.
	// waitingHeld is what the waiting holders hold. When every byte in use
	// is held by waiters, nothing will ever be released but by their
	// giving up: the wait is a deadlock, and a holder is failed at once.
	holders, newcomers list.List
	waitingHeld        int64
	reclaimers         map[uint64]Reclaimer
	nextID             uint64
	peak               int64
	failures           uint64
}

// Reclaimer gives memory back to the budget when a reservation does not
// fit: it releases up to need bytes (with Release) and returns how many it
// released. It is called without the budget's lock held.
type Reclaimer func(need int64) int64

type waiter struct {
	n     int64
	held  int64 // what the waiting reservation already holds
	ready chan struct{}
	// granted is set (under the budget's lock) when the waiter got its
	// bytes; failed when deadlock detection chose it to give up.
	granted, failed bool
}

// New makes a budget of limit bytes; limit <= 0 means unlimited (nil).
// wait <= 0 means DefaultWait.
func New(limit int64, wait time.Duration) *Budget {
	if limit <= 0 {
		return nil
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	return &Budget{limit: limit, wait: wait}
}

// Limit is the budget's size in bytes, 0 for unlimited.
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Stats is what the budget holds now and has held.
type Stats struct {
	Limit, Used, Peak int64
	Waiting           int
	Failures          uint64 // reservations that gave up
}

// Stats reports the budget's state.
func (b *Budget) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Limit: b.limit, Used: b.used, Peak: b.peak, Waiting: b.waiting(), Failures: b.failures}
}

// AddReclaimer registers f to be asked for memory when a reservation does
// not fit, until the returned function removes it (a closed cache).
func (b *Budget) AddReclaimer(f Reclaimer) (remove func()) {
	if b == nil {
		return func() {}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reclaimers == nil {
		b.reclaimers = map[uint64]Reclaimer{}
	}
	id := b.nextID
	b.nextID++
	b.reclaimers[id] = f
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.reclaimers, id)
	}
}

// TryAcquire takes n bytes if they fit now, without waiting or reclaiming:
// for holders that can do without (a cache).
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting() > 0 || b.used+n > b.limit {
		return false
	}
	b.take(n)
	return true
}

// take adds n to what is used; b.mu is held.
func (b *Budget) take(n int64) {
	b.used += n
	if b.used > b.peak {
		b.peak = b.used
	}
}

// Release gives back n bytes taken with TryAcquire or a reservation.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("membudget: released more than was acquired")
	}
	b.grant()
}

// waiting is the number of waiters; b.mu is held.
func (b *Budget) waiting() int { return b.holders.Len() + b.newcomers.Len() }

// queue is the list a reservation holding held waits in.
func (b *Budget) queue(held int64) *list.List {
	if held > 0 {
		return &b.holders
	}
	return &b.newcomers
}

// grant wakes the waiters that fit now, holders first, each list oldest
// first; b.mu is held. It stops at the first that does not fit, so a
// large request is not starved by a stream of small ones.
func (b *Budget) grant() {
	for _, q := range []*list.List{&b.holders, &b.newcomers} {
		for e := q.Front(); e != nil; e = q.Front() {
			w := e.Value.(*waiter)
			if b.used+w.n > b.limit {
				b.breakDeadlock()
				return
			}
			b.take(w.n)
			b.dequeue(e, w)
			w.granted = true
			close(w.ready)
		}
	}
}

func (b *Budget) dequeue(e *list.Element, w *waiter) {
	b.queue(w.held).Remove(e)
	b.waitingHeld -= w.held
}

// breakDeadlock fails a waiter when all the memory in use is held by
// waiters, so that none would be released but by a timeout; b.mu is held.
// The one failed is the newest of those holding least (but something: its
// release is what lets the others go on), as it has done the least work.
// Memory held outside reservations (TryAcquire: the cache) counts as not
// waiting: the reclaimers were asked before anyone waited.
func (b *Budget) breakDeadlock() {
	if b.waiting() == 0 || b.used > b.waitingHeld {
		return
	}
	var victim *list.Element
	for e := b.holders.Front(); e != nil; e = e.Next() {
		h := e.Value.(*waiter).held
		if h > 0 && (victim == nil || h <= victim.Value.(*waiter).held) {
			victim = e
		}
	}
	if victim == nil {
		return // nothing in use at all: the waiters are being granted
	}
	w := victim.Value.(*waiter)
	b.dequeue(victim, w)
	w.failed = true
	close(w.ready)
}

// ExceededError is a reservation that did not fit in the budget.
type ExceededError struct {
	Need  int64 // bytes asked for
	Held  int64 // bytes the reservation already held
	Used  int64 // bytes in use in the whole budget when it gave up
	Limit int64
	// Cause says why it gave up: it could never fit, the wait ended, the
	// caller's context ended, or every holder was waiting.
	Cause error
}

// Causes of an ExceededError.
var (
	ErrTooLarge = errors.New("more than the whole limit")
	ErrTimeout  = errors.New("no memory was released in time")
	ErrDeadlock = errors.New("every holder of memory was waiting for more")
)

func (e *ExceededError) Error() string {
	return fmt.Sprintf("memory limit of %s exceeded: needed %s more on top of %s held, with %s in use (%v)",
		Bytes(e.Limit), Bytes(e.Need), Bytes(e.Held), Bytes(e.Used), e.Cause)
}

func (e *ExceededError) Unwrap() error { return e.Cause }

// Reservation is memory one holder (a model-function call) takes in
// steps and gives back at once. It is not safe for concurrent use.
type Reservation struct {
	b    *Budget
	held int64
}

// Reserve starts an empty reservation; a nil budget gives a nil one,
// whose methods do nothing.
func (b *Budget) Reserve() *Reservation {
	if b == nil {
		return nil
	}
	return &Reservation{b: b}
}

// Held is what the reservation holds.
func (r *Reservation) Held() int64 {
	if r == nil {
		return 0
	}
	return r.held
}

// mayTake reports whether a reservation holding held may take n bytes
// now: they fit, and nobody it must let go first is waiting (for a
// holder, no other holder; for a newcomer, nobody); b.mu is held.
func (b *Budget) mayTake(held, n int64) bool {
	if b.used+n > b.limit || b.holders.Len() > 0 {
		return false
	}
	return held > 0 || b.newcomers.Len() == 0
}

// Grow adds n bytes to the reservation, waiting if they do not fit now:
// at most the budget's wait, or until ctx ends. It fails with an
// *ExceededError (ctx's end is its Cause when that came first); what the
// reservation held is still held, for Release.
func (r *Reservation) Grow(ctx context.Context, n int64) error {
	if r == nil || r.b == nil || n <= 0 {
		return nil
	}
	b := r.b
	if r.held+n > b.limit {
		return r.exceeded(n, ErrTooLarge)
	}
	b.mu.Lock()
	if b.mayTake(r.held, n) {
		b.take(n)
		b.mu.Unlock()
		r.held += n
		return nil
	}
	reclaimers := slices.Collect(maps.Values(b.reclaimers))
	b.mu.Unlock()

	// Ask for what is missing before waiting: cached models are the
	// cheapest memory to give back.
	for _, f := range reclaimers {
		b.mu.Lock()
		short := b.used + n - b.limit
		b.mu.Unlock()
		if short <= 0 {
			break
		}
		f(short)
	}

	b.mu.Lock()
	if b.mayTake(r.held, n) {
		b.take(n)
		b.mu.Unlock()
		r.held += n
		return nil
	}
	w := &waiter{n: n, held: r.held, ready: make(chan struct{})}
	e := b.queue(r.held).PushBack(w)
	b.waitingHeld += r.held
	b.breakDeadlock()
	b.mu.Unlock()

	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ready:
	case <-timer.C:
		cause = ErrTimeout
	case <-ctx.Done():
		cause = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case w.granted:
		r.held += n
		return nil
	case w.failed:
		b.failures++
		return r.exceededLocked(n, ErrDeadlock)
	}
	b.dequeue(e, w)
	b.failures++
	// Its leaving may let the next waiter in, or leave the rest
	// deadlocked.
	b.grant()
	return r.exceededLocked(n, cause)
}

func (r *Reservation) exceeded(n int64, cause error) error {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.failures++
	return r.exceededLocked(n, cause)
}

func (r *Reservation) exceededLocked(n int64, cause error) error {
	return &ExceededError{Need: n, Held: r.held, Used: r.b.used, Limit: r.b.limit, Cause: cause}
}

// Shrink gives back n of the bytes the reservation holds (all of them
// when it holds less): for a holder that is done with part of its memory.
func (r *Reservation) Shrink(n int64) {
	if r == nil || r.b == nil || n <= 0 {
		return
	}
	n = min(n, r.held)
	r.held -= n
	r.b.Release(n)
}

// Release gives back everything the reservation holds; it may be called
// again (and on a reservation of a nil budget).
func (r *Reservation) Release() {
	if r == nil || r.held == 0 {
		return
	}
	r.b.Release(r.held)
	r.held = 0
}

// Bytes formats a size for messages, in binary units as PostgreSQL's own
// settings are (kB = 1024 bytes there; here KiB, MiB, GiB to be exact).
func Bytes(n int64) string {
	const unit = 1024
	switch {
	case n < unit:
		return fmt.Sprintf("%d bytes", n)
	case n < unit*unit:
		return fmt.Sprintf("%.1f KiB", float64(n)/unit)
	case n < unit*unit*unit:
		return fmt.Sprintf("%.1f MiB", float64(n)/(unit*unit))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(unit*unit*unit))
}
