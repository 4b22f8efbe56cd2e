package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tolerances of TestChaos's return to baseline once every session has
// closed: goroutines may differ by a few (the model store's pool and its
// LISTEN connection reconnect on their own schedule), and the live heap
// by what pools, caches and the runtime keep.
const (
	chaosSessions       = 200
	chaosGoroutineSlack = 10
	chaosHeapSlack      = 32 << 20
	// chaosOpTimeout bounds every operation: one that takes longer is a
	// hang, and the test fails. It is far above any operation's time, as
	// the test makes no assertion of speed.
	chaosOpTimeout = 90 * time.Second
)

type chaosOp struct {
	name string
	run  func(ctx context.Context, c *pgx.Conn) error
}

// chaosOps mixes pass-through statements (extended and simple protocol,
// a transaction) with model calls (one-shot, a stored model, LATERAL).
func chaosOps() []chaosOp {
	return []chaosOp{
		{"pass-through", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 2000, "SELECT count(*) FROM pts")
		}},
		{"pass-through simple", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 1, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		}},
		{"kmeans", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 2000, "SELECT count(*) FROM kmeans((SELECT id, a, b FROM pts), 3, n_init => 1)")
		}},
		{"recommend", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 3, "SELECT count(*) FROM recommend(7, 3, ratings => (SELECT user_id, item_id, rating FROM ratings))")
		}},
		{"stored model", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 3, "SELECT count(*) FROM recommend(7, 3, model => 'recs')")
		}},
		{"transaction", func(ctx context.Context, c *pgx.Conn) error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				var n int64
				if err := tx.QueryRow(ctx, "SELECT count(*) FROM kmeans((SELECT id, a, b FROM pts WHERE id <= 500), 2, n_init => 1)").Scan(&n); err != nil {
					return err
				}
				if n != 500 {
					return fmt.Errorf("kmeans in a transaction: %d rows", n)
				}
				return nil
			})
		}},
		{"lateral", func(ctx context.Context, c *pgx.Conn) error {
			return want(ctx, c, 6, `SELECT count(*) FROM (VALUES (1), (2)) u(id)
			CROSS JOIN LATERAL recommend(u.id, 3, model => 'recs') r`, pgx.QueryExecModeSimpleProtocol)
		}},
	}
}

func want(ctx context.Context, c *pgx.Conn, n int64, sql string, args ...any) error {
	var got int64
	if err := c.QueryRow(ctx, sql, args...).Scan(&got); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("%s: %d, want %d", sql, got, n)
	}
	return nil
}

// chaosTally counts what the sessions saw.
type chaosTally struct {
	mu      sync.Mutex
	ok      int
	codes   map[string]int    // clean SQLSTATE errors by code
	example map[string]string // the first message of each code
	unclean []string          // errors without a SQLSTATE, and wrong results
	hangs   []string
}

func (t *chaosTally) record(op string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var pe *pgconn.PgError
	switch {
	case err == nil:
		t.ok++
	case errors.Is(err, context.DeadlineExceeded):
		t.hangs = append(t.hangs, fmt.Sprintf("%s: %v", op, err))
	case errors.Is(err, pgconn.ErrConnClosed) && strings.Contains(err.Error(), "failed to deallocate cached statement(s)"):
		// pgx's own doing: after an error it deallocates the statement
		// at the start of the next query, in a pipeline; when the server
		// has ended the session meanwhile, pgx reads the FATAL there,
		// closes the connection and reports only that it is closed (a
		// bare EOF would be reported as such). Against PostgreSQL itself
		// that query fails with "write failed: broken pipe".
		t.codes["pgx: conn closed after FATAL"]++
	case errors.As(err, &pe):
		t.codes[pe.Code]++
		if _, ok := t.example[pe.Code]; !ok {
			t.example[pe.Code] = op + ": " + pe.Message
		}
	default:
		t.unclean = append(t.unclean, fmt.Sprintf("%s at %s: %v", op, time.Now().Format("15:04:05.000"), err))
	}
}

// TestChaos runs 200 sessions mixing pass-through statements and model
// calls while the upstream PostgreSQL is restarted twice (a fast shutdown,
// then a kill). Every operation must end with its result or an error with
// a SQLSTATE, within chaosOpTimeout; every session must work again after
// the restarts; and once the sessions close, the proxy's goroutines and
// live heap must come back near where they were before (see the slacks
// above).
func TestChaos(t *testing.T) {
	ctx := context.Background()
	// A PostgreSQL of the test's own, so restarting it disturbs no other.
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	db := pg.NewDatabase(t)
	pg.Exec(t, db, `CREATE TABLE pts AS SELECT g AS id, (g * 7919 % 1000)::float8 AS a, (g * 104729 % 997)::float8 AS b FROM generate_series(1, 2000) g;
	CREATE TABLE ratings AS SELECT 1 + g % 50 AS user_id, 1 + (g * 13 + g / 50) % 40 AS item_id, 1 + g % 5 AS rating FROM generate_series(0, 999) g;`)
	direct, err := pgx.Connect(ctx, pg.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range catalog.StubDDL(catalog.Builtin()) {
		if _, err := direct.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	direct.Close(ctx)

	// A budget small enough that some calls get 53200, so that memory is
	// seen to come back on every path: errors, cancels, upstream deaths.
	mem := membudget.New(2<<20, 0)
	// Panics are recovered (the session or statement ends, the proxy
	// goes on) and logged: count them, as a failure of the test.
	panics := &panicLog{}
	log := slog.New(panics)
	store, err := models.Open(ctx, models.Config{URL: pg.URL(db), Decode: catalog.DecodeModel, Memory: mem, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	proxy, err := wire.NewServer(wire.Config{Upstream: pg.URL(db), MaxConnections: chaosSessions + 50, Logger: log,
		Planner: planner.New(catalog.Builtin(), planner.Options{Models: store, Memory: mem, Logger: log})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopProxy := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(sctx, ln) }()
	defer func() {
		stopProxy()
		<-served
	}()
	url := pgURL(ln.Addr().String(), db)
	ops := chaosOps()

	// Warm up: every operation once, and the stored model trained, so the
	// baseline holds what a used proxy keeps (parsers, pools, the cache).
	func() {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, item_id, rating FROM ratings))"); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if err := op.run(ctx, c); err != nil {
				t.Fatalf("warm-up %s: %v", op.name, err)
			}
		}
	}()
	baseG, baseHeap := settled()

	tally := &chaosTally{codes: map[string]int{}, example: map[string]string{}}
	stop := make(chan struct{})
	var started sync.WaitGroup
	started.Add(chaosSessions)
	var sessions sync.WaitGroup
	var recovered atomic.Int64
	var notRecovered []string
	var nrMu sync.Mutex
	for i := 0; i < chaosSessions; i++ {
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var c *pgx.Conn
			defer func() {
				if c != nil {
					c.Close(ctx)
				}
			}()
			// op runs one operation, connecting first when needed.
			op := func(k int) error {
				octx, cancel := context.WithTimeout(ctx, chaosOpTimeout)
				defer cancel()
				if c == nil || c.IsClosed() {
					if c != nil {
						c.Close(ctx)
					}
					var err error
					if c, err = pgx.Connect(octx, url); err != nil {
						c = nil
						return err
					}
				}
				return ops[k].run(octx, c)
			}
			first := true
			for {
				k := rng.IntN(len(ops))
				tally.record(ops[k].name, op(k))
				if first {
					started.Done()
					first = false
				}
				select {
				case <-stop:
					// Every session works again once the upstream is back:
					// retry (reconnecting) until one operation succeeds.
					deadline := time.Now().Add(chaosOpTimeout)
					var err error
					for time.Now().Before(deadline) {
						if err = op(k); err == nil {
							recovered.Add(1)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					nrMu.Lock()
					notRecovered = append(notRecovered, fmt.Sprintf("%s: %v", ops[k].name, err))
					nrMu.Unlock()
					return
				case <-time.After(time.Duration(20+rng.IntN(80)) * time.Millisecond):
				}
			}
		}()
	}
	started.Wait()
	// First a fast shutdown (backends get FATAL 57P01), then a kill (the
	// connections just drop).
	for _, how := range []string{"stop", "kill"} {
		time.Sleep(time.Second)
		t.Logf("%s: %s", time.Now().Format("15:04:05.000"), how)
		if how == "stop" {
			err = pg.Stop()
		} else {
			err = pg.Kill()
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // sessions meet the dead upstream
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = pg.Restart(rctx)
		cancel()
		if err != nil {
			t.Fatalf("restart after %s: %v", how, err)
		}
		t.Logf("%s: restarted", time.Now().Format("15:04:05.000"))
	}
	time.Sleep(time.Second)
	close(stop)
	sessions.Wait()

	codes := make([]string, 0, len(tally.codes))
	for code, n := range tally.codes {
		codes = append(codes, fmt.Sprintf("%s×%d", code, n))
	}
	sort.Strings(codes)
	t.Logf("%d sessions: %d operations succeeded, SQLSTATE errors %s; %d sessions worked again after the restarts",
		chaosSessions, tally.ok, strings.Join(codes, " "), recovered.Load())
	for _, code := range sort.StringSlice(keys(tally.example)) {
		t.Logf("  %s e.g. %s", code, tally.example[code])
	}
	if n := tally.codes["XX000"]; n > 0 {
		t.Errorf("%d internal errors (XX000): %s", n, tally.example["XX000"])
	}
	if n, first := panics.seen(); n > 0 {
		t.Errorf("%d panics were recovered and logged; the first: %s", n, first)
	}
	for _, h := range tally.hangs {
		t.Errorf("hang: %s", h)
	}
	for i, u := range tally.unclean {
		if i == 20 {
			t.Errorf("... and %d more errors without a SQLSTATE", len(tally.unclean)-20)
			break
		}
		t.Errorf("error without a SQLSTATE: %s", u)
	}
	for _, n := range notRecovered {
		t.Errorf("a session did not work again after the restarts: %s", n)
	}

	// Back to baseline: poll, since sessions end asynchronously, for as
	// long as it takes to come within a goroutine or two (or 20 seconds);
	// the assertions below allow the slacks.
	deadline := time.Now().Add(20 * time.Second)
	var g int
	var heap uint64
	for {
		g, heap = settled()
		if g <= baseG+2 && heap <= baseHeap+chaosHeapSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("goroutines %d (baseline %d), live heap %s (baseline %s), budget in use %s (the model cache's %s)",
		g, baseG, membudget.Bytes(int64(heap)), membudget.Bytes(int64(baseHeap)),
		membudget.Bytes(mem.Stats().Used), membudget.Bytes(store.CacheStats().Bytes))
	if g > baseG+chaosGoroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines did not return to baseline: %d, baseline %d\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if heap > baseHeap+chaosHeapSlack {
		t.Errorf("live heap did not return to baseline: %s, baseline %s", membudget.Bytes(int64(heap)), membudget.Bytes(int64(baseHeap)))
	}
	if used, cached := mem.Stats().Used, store.CacheStats().Bytes; used != cached {
		t.Errorf("memory budget holds %d bytes after every session closed, the cache %d: a call leaked its reservation", used, cached)
	}
}

// settled collects garbage and reports the goroutines and the live heap.
func settled() (int, uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// panicLog is a slog.Handler that keeps the error records mentioning a
// panic and drops everything else.
type panicLog struct {
	mu    sync.Mutex
	n     int
	first string
}

func (h *panicLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "panic") {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.first = r.Message
		r.Attrs(func(a slog.Attr) bool {
			h.first += " " + a.String()
			return true
		})
	}
	h.n++
	return nil
}

func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicLog) WithGroup(string) slog.Handler      { return h }

func (h *panicLog) seen() (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.first
}
