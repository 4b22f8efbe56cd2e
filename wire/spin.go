package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Busy polling.
//
// A proxy puts two more hops into every round trip. On a machine with idle
// cores most of their cost is wake-up latency, not work: a goroutine parked
// in the netpoller has its thread asleep in epoll_wait, its CPU may be
// halted, and each message then waits for the kernel (and, in a virtual
// machine, the hypervisor) to wake it. So while a session is busy and the
// machine has CPU to spare, its upstream goroutine keeps reading the
// upstream without blocking instead of parking, for up to a window after
// the last message, and it also watches the client's socket on behalf of
// the client goroutine (which lends it its read), so a whole round trip
// passes through the proxy without a thread going to sleep. This is the
// idea of Linux's busy_poll and of DPDK, at the scale of one session.
//
// Spinning is only worth it while cores are idle: under load it would take
// CPU from PostgreSQL itself. A governor reads the kernel's pressure stall
// information (/proc/pressure/cpu) and allows spinning only while tasks
// rarely wait for a CPU; at most GOMAXPROCS-1 goroutines spin at once.
// Nor is it worth it for a session whose statements call model functions:
// there the proxy's own computing is most of the round trip, and a spinner
// beside it slows it by more than the wake-ups cost.
//
// The concurrency contract. A session's fields belong to its client
// goroutine, with one exception: while that goroutine is parked in a read
// it lent (clientSource.Read waiting on wake, at a message boundary), the
// upstream goroutine may run the client's handlers itself
// (session.inlineClient), and owns the session until it delivers. It does
// so only for whole messages that need nothing but relaying, with nothing
// outstanding upstream and no planner involved, since the planner's side
// queries would wait for the very goroutine running them. Hand-overs go
// through clientSource.mu and the wake channel, so the race detector sees
// each one. Before anything that may block, the upstream goroutine
// withdraws its offer and returns an unfilled lent read, so the client
// goroutine never waits on a blocked spinner. The differential suite runs
// under -race with busy polling forced on and with it off (bothRelays),
// and each relay must be indistinguishable from a direct connection.

// spinPolicy is the server-wide busy-polling state.
type spinPolicy struct {
	window   time.Duration // how long to spin after the last message
	max      int32         // goroutines spinning at most
	spinners atomic.Int32
	allowed  atomic.Bool // set by the governor
	// inlined counts client batches the spinner relayed itself; spins,
	// the spins begun.
	inlined atomic.Int64
	spins   atomic.Int64
}

// Governor thresholds: the share of time some task waited for a CPU above
// which spinning stops, and below which it starts again. Measured on a
// 2-core machine: pgbench -S with 1 client through a spinning proxy sits
// at 0.05–0.40, with 8 clients (all cores busy) at 0.70–0.85.
const (
	stallStop  = 0.60
	stallStart = 0.45
	govPeriod  = 20 * time.Millisecond
)

const psiCPU = "/proc/pressure/cpu"

// newSpinPolicy returns nil (no spinning) when window is 0 or the kernel
// offers no pressure information to govern it by. always skips the
// governor: spinning is always allowed.
func newSpinPolicy(window time.Duration, always bool) *spinPolicy {
	// A spinner holds its P: with only one, nothing else would run.
	if window <= 0 || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	if _, err := readStall(psiCPU); err != nil && !always {
		return nil
	}
	p := &spinPolicy{window: window, max: int32(max(1, runtime.GOMAXPROCS(0)-1))}
	p.allowed.Store(always)
	return p
}

// govern updates allowed from the CPU pressure until ctx ends.
func (p *spinPolicy) govern(ctx context.Context) {
	prev, err := readStall(psiCPU)
	if err != nil {
		return
	}
	last := time.Now()
	t := time.NewTicker(govPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.allowed.Store(false)
			return
		case now := <-t.C:
			cur, err := readStall(psiCPU)
			if err != nil {
				p.allowed.Store(false)
				return
			}
			p.update(float64(cur-prev) / float64(now.Sub(last).Microseconds()))
			prev, last = cur, now
		}
	}
}

// update allows or stops spinning from the share of the last period in
// which some task waited for a CPU, with hysteresis so that the pressure
// spinning itself adds does not flip it on and off.
func (p *spinPolicy) update(share float64) {
	if p.allowed.Load() {
		p.allowed.Store(share < stallStop)
	} else {
		p.allowed.Store(share < stallStart)
	}
}

// readStall returns the "some" total of a pressure file: microseconds in
// which at least one task waited.
func readStall(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte("total="))
	if i < 0 {
		return 0, errors.New("no total in " + path)
	}
	b = b[i+len("total="):]
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		b = b[:j]
	}
	return strconv.ParseInt(string(b), 10, 64)
}

func (p *spinPolicy) acquire() bool {
	for {
		n := p.spinners.Load()
		if n >= p.max {
			return false
		}
		if p.spinners.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (p *spinPolicy) release() { p.spinners.Add(-1) }

// rawConn returns c's raw connection, or nil when c is not a plain socket
// (TLS, or a test's pipe).
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// rawIO does single non-blocking reads and writes on a socket. Its
// callbacks are bound once, so a poll allocates nothing (a closure passed
// to RawConn.Read escapes).
type rawIO struct {
	raw     syscall.RawConn
	p       []byte
	n       int
	err     error
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

func newRawIO(c net.Conn) *rawIO {
	raw := rawConn(c)
	if raw == nil {
		return nil
	}
	r := &rawIO{raw: raw}
	r.readFn, r.writeFn = r.read, r.write
	return r
}

func (r *rawIO) read(fd uintptr) bool {
	r.n, r.err = syscall.Read(int(fd), r.p)
	return true
}

func (r *rawIO) write(fd uintptr) bool {
	r.n, r.err = syscall.Write(int(fd), r.p)
	return true
}

// tryRead reads once without blocking. got is false when nothing was
// waiting.
func (r *rawIO) tryRead(p []byte) (n int, err error, got bool) {
	n, err, got = r.once(r.raw.Read, r.readFn, p)
	if got && err == nil && n == 0 {
		err = io.EOF
	}
	return n, err, got
}

// tryWrite writes once without blocking. done is false when the socket's
// buffer is full.
func (r *rawIO) tryWrite(p []byte) (n int, err error, done bool) {
	return r.once(r.raw.Write, r.writeFn, p)
}

// once runs one non-blocking call through op (RawConn.Read or Write).
func (r *rawIO) once(op func(func(uintptr) bool) error, fn func(uintptr) bool, p []byte) (int, error, bool) {
	r.p = p
	cerr := op(fn)
	r.p = nil
	switch {
	case cerr != nil:
		return 0, cerr, true
	case r.err == syscall.EAGAIN || r.err == syscall.EINTR:
		return 0, nil, false
	case r.err != nil:
		return 0, r.err, true
	}
	return r.n, nil, true
}

// upstreamSource is what the upstream goroutine reads: the upstream
// connection, busy-polled while the policy allows.
type upstreamSource struct {
	conn   net.Conn
	raw    *rawIO
	policy *spinPolicy
	client *clientSource // nil when the client's reads cannot be lent
	// inline relays a lent read's bytes from this goroutine when they
	// allow it (session.inlineClient).
	inline func([]byte) (bool, error)
	// modelWork: the client's last statement runs model work in the proxy
	// (session.noteModelWork). Such a session does not spin: its round
	// trip is mostly the proxy's own computing, which a spinner on the
	// other core slowed by more than wake-ups cost (recommend from a
	// model, 1 client on 2 cores: p50 0.26 ms spinning, 0.18 ms not).
	modelWork atomic.Bool
}

func (u *upstreamSource) Read(p []byte) (int, error) {
	if u.raw != nil && u.policy != nil && !u.modelWork.Load() && u.policy.allowed.Load() && u.policy.acquire() {
		n, err, got := u.spin(p)
		u.policy.release()
		if got {
			return n, err
		}
	}
	// About to block: the client goroutine must not wait on us meanwhile.
	u.client.withdraw()
	return u.conn.Read(p)
}

// spin polls the upstream, and the client when its goroutine lends its
// read, until the upstream has something, the window passes with no
// message either way, or the governor says stop. The offer to serve the
// client's reads outlives a spin that returns data: the upstream
// goroutine comes straight back here once it has relayed it.
func (u *upstreamSource) spin(p []byte) (int, error, bool) {
	u.policy.spins.Add(1)
	u.client.offer()
	deadline := time.Now().Add(u.policy.window)
	for i := 1; ; i++ {
		if n, err, got := u.raw.tryRead(p); got {
			if err != nil {
				u.client.withdraw()
			}
			return n, err, true
		}
		if n, err, got := u.client.poll(); got {
			deadline = time.Now().Add(u.policy.window)
			if err == nil && u.client.lentBoundary && u.inline != nil {
				took, err := u.inline(u.client.buf[:n])
				if err != nil {
					u.client.withdraw()
					return 0, err, true
				}
				if took {
					u.policy.inlined.Add(1)
					continue // the client goroutine stays lent
				}
			}
			// Let the client goroutine handle what came: it runs next on
			// this P.
			u.client.deliver(n, err)
			runtime.Gosched()
			continue
		}
		if i%8 == 0 && (!u.policy.allowed.Load() || u.modelWork.Load() || time.Now().After(deadline)) {
			u.client.withdraw()
			return 0, nil, false
		}
	}
}

// clientSource is what the client goroutine's buffered reader reads: the
// client connection, except that while the upstream goroutine spins, the
// client goroutine hands it the buffer and waits, and the spinner fills it
// as soon as the client sends something. Its methods accept a nil
// receiver: a client that cannot be lent (TLS) is never offered.
type clientSource struct {
	conn net.Conn
	raw  *rawIO // the spinner's reads into a lent buffer
	wraw *rawIO // clientSink's writes

	mu      sync.Mutex  // orders offer/withdraw against a read being lent
	offered atomic.Bool // a spinner will serve a lent read
	// blocked: the client goroutine is in conn.Read; kicked: a spinner
	// set a past read deadline to bring it out (both guarded by mu).
	blocked bool
	kicked  bool
	lent    atomic.Bool // the client goroutine waits on wake with buf
	// boundary: the client goroutine's next read starts a message;
	// lentBoundary: the lent read does.
	boundary     bool
	lentBoundary bool
	buf          []byte
	n            int
	err          error
	wake         chan struct{}
}

func newClientSource(c net.Conn) *clientSource {
	raw := newRawIO(c)
	if raw == nil {
		return nil
	}
	return &clientSource{conn: c, raw: raw, wraw: newRawIO(c), wake: make(chan struct{}, 1)}
}

func (c *clientSource) Read(p []byte) (int, error) {
	defer func() { c.boundary = false }()
	for {
		c.mu.Lock()
		if c.offered.Load() {
			c.buf, c.n, c.err, c.lentBoundary = p, 0, nil, c.boundary
			c.lent.Store(true)
			c.mu.Unlock()
			<-c.wake
			n, err := c.n, c.err
			c.buf = nil
			if n > 0 || err != nil {
				return n, err
			}
			// The spinner stopped with nothing read: block as usual.
			c.mu.Lock()
		}
		c.blocked = true
		c.mu.Unlock()
		n, err := c.conn.Read(p)
		c.mu.Lock()
		c.blocked = false
		kicked := c.kicked
		if kicked {
			c.kicked = false
			_ = c.conn.SetReadDeadline(time.Time{})
		}
		c.mu.Unlock()
		if kicked && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // a spinner started: lend it this read
		}
		if kicked && n > 0 {
			err = nil
		}
		return n, err
	}
}

// startMessage notes that the client goroutine's next read begins a
// message (its reader has nothing buffered).
func (c *clientSource) startMessage() {
	if c != nil {
		c.boundary = true
	}
}

// offer tells the client goroutine that its reads may be lent; one
// already blocked in the netpoller is woken (by a read deadline in the
// past) to lend its read instead.
func (c *clientSource) offer() {
	if c == nil || c.offered.Load() {
		return
	}
	c.mu.Lock()
	c.offered.Store(true)
	if c.blocked && !c.kicked {
		c.kicked = true
		_ = c.conn.SetReadDeadline(time.Unix(1, 0)) // long past
	}
	c.mu.Unlock()
}

// withdraw ends the offer and returns a lent read unfilled; the upstream
// goroutine calls it before anything that may block.
func (c *clientSource) withdraw() {
	if c == nil || !c.offered.Load() {
		return
	}
	c.mu.Lock()
	c.offered.Store(false)
	c.mu.Unlock()
	if c.lent.Load() {
		c.lent.Store(false)
		c.wake <- struct{}{}
	}
}

// poll reads into a lent read's buffer if the client has sent something.
func (c *clientSource) poll() (n int, err error, got bool) {
	if c == nil || !c.lent.Load() {
		return 0, nil, false
	}
	return c.raw.tryRead(c.buf)
}

// deliver hands what poll read to the client goroutine.
func (c *clientSource) deliver(n int, err error) {
	c.n, c.err = n, err
	c.lent.Store(false)
	c.wake <- struct{}{}
}

// clientSink is what the client's buffered writer writes to. While the
// client goroutine's reads may be lent, a blocking write could wait on a
// client that is itself blocked writing to us, with nobody reading it: so
// it writes what goes without blocking and releases the client goroutine
// before it blocks on the rest.
type clientSink struct {
	conn net.Conn
	lend *clientSource
}

func (w *clientSink) Write(p []byte) (int, error) {
	if !w.lend.offered.Load() {
		return w.conn.Write(p)
	}
	n := 0
	for n < len(p) {
		m, err, done := w.lend.wraw.tryWrite(p[n:])
		if err != nil {
			return n, err
		}
		if !done {
			break
		}
		n += m
	}
	if n == len(p) {
		return n, nil
	}
	w.lend.withdraw()
	m, err := w.conn.Write(p[n:])
	return n + m, err
}
