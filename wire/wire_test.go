package wire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var srv *pgtest.Server

// The shared server's pg_hba.conf: password roles for the authentication
// tests, trust for everyone else.
const hba = `local all all trust
host all scram_user 127.0.0.1/32 scram-sha-256
host all md5_user 127.0.0.1/32 md5
host all clear_user 127.0.0.1/32 password
host all all 127.0.0.1/32 trust
`

func TestMain(m *testing.M) {
	s, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := func() int {
		defer s.Close()
		if err := s.WriteHBA(hba); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// relay is how a test proxy's sessions relay: busyPolling forces every
// session to busy-poll whatever the CPU pressure (spin.go), the most
// intricate path; blocking turns busy polling off, the relay sessions run
// on a machine without idle CPU or with --busy-poll 0.
type relay int

const (
	busyPolling relay = iota
	blocking
)

func (r relay) String() string { return [...]string{"busy-poll", "blocking"}[r] }

// bothRelays runs test once per relay, as subtests.
func bothRelays(t *testing.T, test func(t *testing.T, r relay)) {
	for _, r := range []relay{busyPolling, blocking} {
		t.Run(r.String(), func(t *testing.T) { test(t, r) })
	}
}

// proxy starts a busy-polling wire.Server in front of upstream and
// returns its address. The package's own tests default to busy polling;
// the differential suite runs both relays, the end-to-end tests the
// default.
func proxy(t testing.TB, cfg wire.Config) string {
	t.Helper()
	_, addr := proxyServer(t, cfg)
	return addr
}

// proxyServer is proxy, also returning the server.
func proxyServer(t testing.TB, cfg wire.Config) (*wire.Server, string) {
	t.Helper()
	return proxyRelay(t, cfg, busyPolling)
}

// proxyRelay is proxyServer with the given relay.
func proxyRelay(t testing.TB, cfg wire.Config, r relay) (*wire.Server, string) {
	t.Helper()
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	switch r {
	case busyPolling:
		wire.AlwaysBusyPoll(&cfg)
	case blocking:
		cfg.BusyPoll = 0
	}
	s, err := wire.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// proxyURL starts a proxy in front of a fresh database and returns the
// client URL for it and the database's name.
func proxyURL(t testing.TB) (string, string) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db)})
	return clientURL(addr, "postgres", db), db
}

func clientURL(addr, user, db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, addr, db)
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestSimpleAndExtended(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	// Simple protocol, several statements in one Query.
	res, err := c.PgConn().Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b'); SELECT count(*) FROM t").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || string(res[2].Rows[0][0]) != "2" {
		t.Fatalf("multi-statement results: %+v", res)
	}
	// Extended protocol with parameters, text and binary.
	var name string
	if err := c.QueryRow(ctx, "SELECT name FROM t WHERE id = $1", 2).Scan(&name); err != nil || name != "b" {
		t.Fatalf("extended: %q %v", name, err)
	}
	// Named statement reused.
	if _, err := c.Prepare(ctx, "byid", "SELECT name FROM t WHERE id = $1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := c.QueryRow(ctx, "byid", 1+i%2).Scan(&name); err != nil {
			t.Fatal(err)
		}
	}
	// Binary results of several types.
	var f float64
	var ts time.Time
	var arr []int32
	if err := c.QueryRow(ctx, "SELECT 1.5::float8, '2024-02-29'::date, ARRAY[1,2,3]").Scan(&f, &ts, &arr); err != nil {
		t.Fatal(err)
	}
	if f != 1.5 || ts.Day() != 29 || len(arr) != 3 {
		t.Fatalf("binary values: %v %v %v", f, ts, arr)
	}
}

func TestPipelineErrorThenRecovery(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue("SELECT 1/0")
	b.Queue("SELECT 3")
	br := c.SendBatch(ctx, b)
	var n int
	if err := br.QueryRow().Scan(&n); err != nil || n != 1 {
		t.Fatalf("first: %d %v", n, err)
	}
	err := br.QueryRow().Scan(&n)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("second: want 22012, got %v", err)
	}
	br.Close()
	if err := c.QueryRow(ctx, "SELECT 42").Scan(&n); err != nil || n != 42 {
		t.Fatalf("after pipeline error: %d %v", n, err)
	}
	// A batch that works, with several statements before Sync.
	b = &pgx.Batch{}
	for i := 0; i < 50; i++ {
		b.Queue("SELECT $1::int", i)
	}
	br = c.SendBatch(ctx, b)
	for i := 0; i < 50; i++ {
		if err := br.QueryRow().Scan(&n); err != nil || n != i {
			t.Fatalf("batch row %d: %d %v", i, n, err)
		}
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLowLevelPipeline(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	p := c.PgConn().StartPipeline(ctx)
	p.SendPrepare("s1", "SELECT $1::text || 'x'", nil)
	p.SendQueryPrepared("s1", [][]byte{[]byte("a")}, nil, nil)
	p.SendQueryParams("SELECT generate_series(1, $1::int)", [][]byte{[]byte("3")}, nil, nil, nil)
	p.SendDeallocate("s1")
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		r, err := p.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		switch r := r.(type) {
		case *pgconn.ResultReader:
			res := r.Read()
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			for _, row := range res.Rows {
				got = append(got, string(row[0]))
			}
		case *pgconn.PipelineSync:
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "ax,1,2,3" {
		t.Fatalf("pipeline rows: %v", got)
	}
}

func TestTransactionTempTable(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE tmp (x int) ON COMMIT DROP"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO tmp SELECT generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT sum(x) FROM tmp").Scan(&n); err != nil || n != 55 {
		t.Fatalf("sum: %d %v", n, err)
	}
	// An error aborts the transaction exactly as PostgreSQL does.
	_, err = tx.Exec(ctx, "SELECT 1/0")
	if err == nil {
		t.Fatal("want error")
	}
	_, err = tx.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25P02" {
		t.Fatalf("want 25P02 in aborted transaction, got %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if c.PgConn().TxStatus() != 'I' {
		t.Fatalf("tx status %c", c.PgConn().TxStatus())
	}
}

func TestCopyInOut(t *testing.T) {
	url, db := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	if _, err := c.Exec(ctx, "CREATE TABLE big (id int, name text, v float8)"); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&in, "%d\tname %d with some text\t%g\n", i, i, float64(i)/7)
	}
	tag, err := c.PgConn().CopyFrom(ctx, bytes.NewReader(in.Bytes()), "COPY big FROM STDIN")
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 100000 {
		t.Fatalf("copied %d rows", tag.RowsAffected())
	}
	var out bytes.Buffer
	if _, err := c.PgConn().CopyTo(ctx, &out, "COPY (SELECT * FROM big ORDER BY id) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	// The same COPY directly against PostgreSQL must give the same bytes.
	direct := connect(t, srv.URL(db))
	var want bytes.Buffer
	if _, err := direct.PgConn().CopyTo(ctx, &want, "COPY (SELECT * FROM big ORDER BY id) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) || !bytes.Equal(out.Bytes(), in.Bytes()) {
		t.Fatalf("COPY OUT through the proxy differs: %d vs %d bytes", out.Len(), want.Len())
	}
	// pgx's binary CopyFrom (extended protocol + COPY BINARY).
	rows := make([][]any, 1000)
	for i := range rows {
		rows[i] = []any{int32(i), "x", 1.0}
	}
	n, err := c.CopyFrom(ctx, pgx.Identifier{"big"}, []string{"id", "name", "v"}, pgx.CopyFromRows(rows))
	if err != nil || n != 1000 {
		t.Fatalf("binary copy: %d %v", n, err)
	}
	// COPY FROM STDIN that fails half way leaves the session usable.
	_, err = c.PgConn().CopyFrom(ctx, strings.NewReader("1\tok\t1\nnot-a-number\tx\t1\n"), "COPY big FROM STDIN")
	if err == nil {
		t.Fatal("want COPY error")
	}
	var cnt int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM big").Scan(&cnt); err != nil || cnt != 101000 {
		t.Fatalf("count after failed COPY: %d %v", cnt, err)
	}
}

// waitActive returns once the backing database shows query running, so a
// test acts on a statement in flight instead of after a guessed delay.
func waitActive(ctx context.Context, directURL, query string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return fmt.Errorf("waiting for %q: %w", query, err)
	}
	defer c.Close(context.Background())
	for {
		var active bool
		err := c.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query = $1 AND state = 'active')", query).Scan(&active)
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", query, err)
		}
		if active {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancel(t *testing.T) {
	url, db := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	const query = "SELECT pg_sleep(30)"
	go func() {
		if err := waitActive(ctx, srv.URL(db), query); err != nil {
			t.Error(err)
			return
		}
		// A CancelRequest on its own connection, with the key the proxy gave.
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Error(err)
		}
	}()
	_, err := c.Exec(ctx, query)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("want 57014 query_canceled, got %v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("after cancel: %v", err)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	url, db := proxyURL(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	const query = "SELECT pg_sleep(30)"
	go func() {
		if err := waitActive(ctx, srv.URL(db), query); err != nil {
			t.Error(err)
		}
		c.PgConn().Conn().Close() // vanish without Terminate
	}()
	_, _ = c.Exec(ctx, query)
	direct := connect(t, srv.URL(db))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("upstream query still running after the client disconnected")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestListenNotify(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	listener := connect(t, url)
	notifier := connect(t, url)
	if _, err := listener.Exec(ctx, "LISTEN events"); err != nil {
		t.Fatal(err)
	}
	if _, err := notifier.Exec(ctx, "SELECT pg_notify('events', 'hello')"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "events" || n.Payload != "hello" {
		t.Fatalf("notification %+v", n)
	}
}

func TestNoticeAndParameterStatus(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db)})
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(clientURL(addr, "postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	var mu sync.Mutex
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DO $$ BEGIN RAISE NOTICE 'hi there'; END $$"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SET application_name = 'flywheel-test'"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 1 || notices[0] != "hi there" {
		t.Fatalf("notices: %v", notices)
	}
	if got := c.PgConn().ParameterStatus("application_name"); got != "flywheel-test" {
		t.Fatalf("application_name ParameterStatus = %q", got)
	}
}

func TestPasswordAuthentication(t *testing.T) {
	ctx := context.Background()
	admin := connect(t, srv.URL("postgres"))
	for _, stmt := range []string{
		"SET password_encryption = 'scram-sha-256'",
		"DROP ROLE IF EXISTS scram_user", "CREATE ROLE scram_user LOGIN PASSWORD 's3cret'",
		"SET password_encryption = 'md5'",
		"DROP ROLE IF EXISTS md5_user", "CREATE ROLE md5_user LOGIN PASSWORD 'md5pass'",
		"DROP ROLE IF EXISTS clear_user", "CREATE ROLE clear_user LOGIN PASSWORD 'clearpass'",
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	addr := proxy(t, wire.Config{Upstream: srv.TCPURL("postgres")})
	for _, tc := range []struct{ user, pass string }{
		{"scram_user", "s3cret"}, {"md5_user", "md5pass"}, {"clear_user", "clearpass"},
	} {
		good := fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable", tc.user, tc.pass, addr)
		c, err := pgx.Connect(ctx, good)
		if err != nil {
			t.Fatalf("%s with the right password: %v", tc.user, err)
		}
		var who string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != tc.user {
			t.Fatalf("current_user %q %v", who, err)
		}
		c.Close(ctx)
		bad := fmt.Sprintf("postgres://%s:wrong@%s/postgres?sslmode=disable", tc.user, addr)
		_, err = pgx.Connect(ctx, bad)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Fatalf("%s with a wrong password: want 28P01, got %v", tc.user, err)
		}
	}
}

func TestTooManyConnections(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db), MaxConnections: 2})
	ctx := context.Background()
	url := clientURL(addr, "postgres", db)
	connect(t, url)
	connect(t, url)
	_, err := pgx.Connect(ctx, url)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "53300" {
		t.Fatalf("third connection: want 53300, got %v", err)
	}
}

func TestManySessionsNoLeak(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db), MaxConnections: 300})
	url := clientURL(addr, "postgres", db)
	ctx := context.Background()
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(ctx)
			for j := 0; j < 5; j++ {
				var n int
				if err := c.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
					errs <- fmt.Errorf("session %d: %d %v", i, n, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawConn opens a TCP connection to the proxy for hand-made bytes.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestBadStartup(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db), StartupTimeout: 500 * time.Millisecond})
	cases := []struct {
		name string
		send []byte
		want string // substring of the reply; "" means just closed
	}{
		{"length below 8", []byte{0, 0, 0, 4}, "invalid length of startup packet"},
		{"length too large", []byte{0, 0, 0x27, 0x11, 0, 3, 0, 0}, "invalid length of startup packet"},
		{"protocol 2.0", []byte{0, 0, 0, 8, 0, 2, 0, 0}, "unsupported frontend protocol 2.0"},
		{"protocol 4.0", []byte{0, 0, 0, 8, 0, 4, 0, 0}, "unsupported frontend protocol 4.0"},
		{"unterminated parameters", append([]byte{0, 0, 0, 12, 0, 3, 0, 0}, "user"...), "invalid startup packet"},
		{"truncated then silent", []byte{0, 0, 0, 40, 0, 3}, ""},
		{"nothing at all", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, addr)
			if tc.send != nil {
				if _, err := c.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			reply, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection not closed cleanly: %v", err)
			}
			if tc.want == "" {
				if len(reply) != 0 {
					t.Fatalf("unexpected reply %q", reply)
				}
				return
			}
			if len(reply) == 0 || reply[0] != 'E' || !bytes.Contains(reply, []byte(tc.want)) {
				t.Fatalf("reply %q, want an ErrorResponse with %q", reply, tc.want)
			}
		})
	}
	// The proxy still serves everyone.
	c := connect(t, clientURL(addr, "postgres", db))
	if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestSSLRequestWithoutTLS(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db)})
	c := rawConn(t, addr)
	if _, err := c.Write([]byte{0, 0, 0, 8, 4, 210, 22, 47}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'N' {
		t.Fatalf("SSLRequest answer %q %v", b, err)
	}
	// GSSENCRequest gets 'N' too.
	if _, err := c.Write([]byte{0, 0, 0, 8, 4, 210, 22, 48}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'N' {
		t.Fatalf("GSSENCRequest answer %q %v", b, err)
	}
	// Plaintext pipelined after SSLRequest is refused (a MITM defence).
	c2 := rawConn(t, addr)
	msg := append([]byte{0, 0, 0, 8, 4, 210, 22, 47}, 0, 0, 0, 8, 0, 3, 0, 0)
	if _, err := c2.Write(msg); err != nil {
		t.Fatal(err)
	}
	if reply, _ := io.ReadAll(c2); len(reply) != 0 {
		t.Fatalf("reply to SSLRequest with trailing bytes: %q", reply)
	}
	// sslmode=prefer falls back to plaintext and works.
	conn := connect(t, fmt.Sprintf("postgres://postgres@%s/%s?sslmode=prefer", addr, db))
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestBadMessages(t *testing.T) {
	url, _ := proxyURL(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"unknown type", []byte{'!', 0, 0, 0, 4}},
		{"length below 4", []byte{'Q', 0, 0, 0, 2}},
		{"length above limit", []byte{'Q', 0x7f, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, url)
			nc := c.PgConn().Conn()
			if _, err := nc.Write(tc.msg); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			reply, _ := io.ReadAll(nc)
			if len(reply) == 0 || reply[0] != 'E' || !bytes.Contains(reply, []byte("08P01")) {
				t.Fatalf("reply %q, want a FATAL 08P01", reply)
			}
		})
	}
	// Others are unaffected.
	c := connect(t, url)
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestProtocol32Negotiated(t *testing.T) {
	url, _ := proxyURL(t)
	// Ask for 3.2: PostgreSQL before 18 answers NegotiateProtocolVersion,
	// which the proxy relays, and the session goes on in 3.0.
	c := connect(t, url+"&max_protocol_version=3.2")
	var n int
	if err := c.QueryRow(context.Background(), "SELECT $1::int", 32).Scan(&n); err != nil || n != 32 {
		t.Fatalf("query on a 3.2-requested session: %d %v", n, err)
	}
	// Cancel still works with the proxy's key.
	if err := c.PgConn().CancelRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// pgx's PID is the backend's: the client's own notifications carry it,
// another session terminates this one by it, and the client sees
// PostgreSQL's own FATAL.
func TestBackendPID(t *testing.T) {
	url, db := proxyURL(t)
	ctx := context.Background()
	c := connect(t, url)
	var pid uint32
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if got := c.PgConn().PID(); got != pid {
		t.Fatalf("PgConn().PID() = %d, pg_backend_pid() = %d", got, pid)
	}
	// libpq and pgx clients tell their own notifications by this PID.
	if _, err := c.Exec(ctx, "LISTEN me; NOTIFY me"); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	n, err := c.WaitForNotification(wctx)
	if err != nil || n.PID != pid {
		t.Fatalf("own notification: %+v %v, want PID %d", n, err, pid)
	}
	direct := connect(t, srv.URL(db))
	var ok bool
	if err := direct.QueryRow(ctx, "SELECT pg_terminate_backend($1, 10000)", int64(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v %v", pid, ok, err)
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.Exec(qctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Fatalf("after pg_terminate_backend: want 57P01, got %v", err)
	}
}
