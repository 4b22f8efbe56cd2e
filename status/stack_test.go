package status_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/flywheeldb/flywheel/internal/metrics"
	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/status"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv) }

// stack is a proxy with metrics and its status server, wired as
// `flywheel serve` wires them, in front of a database of its own.
type stack struct {
	db      string
	proxy   string // client URL through the proxy
	httpURL string // the status server's base URL
}

type stackOptions struct {
	auth string
	// upstream overrides the status pool's database URL (a dead one, to
	// see /healthz fail).
	upstream string
	// refreshWorkers runs the refresh worker, looking for due work every
	// refreshTick (the store's default when zero).
	refreshWorkers int
	refreshTick    time.Duration
	// tls serves HTTPS.
	tls *tls.Config
}

// stackMemoryLimit is the test stack's memory budget: ample for the
// tests' models, small enough to tell apart from a default.
const stackMemoryLimit = 512 << 20

func startStack(t testing.TB, db string, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, direct, func(tx pgx.Tx) error {
		for _, stmt := range catalog.StubDDL(catalog.Builtin()) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	direct.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var (
		store *models.Store
		ws    *wire.Server
	)
	counters := new(wire.Counters)
	// A memory budget as serve's --memory-limit gives one, shared by the
	// store and the planner, so that /metrics reports it.
	mem := membudget.New(stackMemoryLimit, 0)
	met := metrics.New(metrics.Sources{Relay: counters,
		Sessions: func() int { return ws.Sessions() },
		Cache:    func() models.CacheStats { return store.CacheStats() },
		Refresh:  func() models.RefreshStatus { return store.RefreshStatus() },
		Memory:   mem.Stats})
	store, err = models.Open(ctx, models.Config{URL: srv.URL(db), Decode: catalog.DecodeModel, Observer: met, Memory: mem,
		Refresh: models.RefreshConfig{Workers: o.refreshWorkers, Tick: o.refreshTick}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ws, err = wire.NewServer(wire.Config{Upstream: srv.URL(db), Counters: counters,
		Planner: planner.New(catalog.Builtin(), planner.Options{Models: store, Observer: met, Memory: mem})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := o.upstream
	if up == "" {
		up = srv.URL(db)
	}
	pcfg, err := pgxpool.ParseConfig(up)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 2
	pcfg.ConnConfig.RuntimeParams["application_name"] = "flywheel status"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	met.Registry.MustRegister(status.NewStreamCollector(pool, nil))
	st, err := status.New(status.Config{Auth: o.auth, TLS: o.tls, DB: pool, Sessions: ws.Sessions, BackendPIDs: ws.BackendPIDs, ComputingPIDs: ws.ComputingPIDs, Metrics: met.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- ws.Serve(sctx, ln) }()
	go func() { done <- st.Serve(sctx, hln) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	scheme := "http://"
	if o.tls != nil {
		scheme = "https://"
	}
	return &stack{db: db,
		proxy:   fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", ln.Addr(), db),
		httpURL: scheme + hln.Addr().String()}
}

// connect opens a session through the proxy with an application_name.
func (s *stack) connect(t testing.TB, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.proxy)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func run(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// get fetches path and returns the status code and body.
func get(t testing.TB, url string, auth ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// trainModels gives the database the models the tests look at: "segments"
// (kmeans, three versions with a holdout, so a primary metric to plot),
// "recs" (recommend, two versions) and a failed training of "broken".
func trainModels(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	run(t, conn, `CREATE TABLE points AS
	SELECT g AS id, (g % 3) * 10 + (g * 7 % 11) / 10.0 AS x, (g % 3) * -5 + (g * 13 % 17) / 10.0 AS y
	FROM generate_series(1, 300) g`)
	run(t, conn, `CREATE TABLE ratings (user_id int, product_id int, rating int);
INSERT INTO ratings VALUES (1,101,5), (1,102,4), (1,103,3), (2,101,4), (2,104,5), (3,102,2), (3,103,3), (3,104,4)`)
	for _, k := range []int{2, 3, 4} {
		run(t, conn, fmt.Sprintf(`SELECT * FROM flywheel.train('segments', 'kmeans', (SELECT id, x, y FROM points), k => %d, holdout => 0.25, promote => 'if_better')`, k))
	}
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings))`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings), method => 'nmf', k => 2)`)
	if _, err := conn.Exec(context.Background(), `SELECT * FROM flywheel.train('broken', 'kmeans', (SELECT id, x FROM points WHERE id < 5), k => 50)`); err == nil {
		t.Fatal("training 50 clusters on 4 rows succeeded")
	}
	// Predictions: a model cache miss, then hits.
	for range 3 {
		run(t, conn, `SELECT * FROM recommend(1, 2, model => 'recs')`)
	}
}
