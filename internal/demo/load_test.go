package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv) }

// connect opens a connection to a fresh database of the test's own.
func connect(t testing.TB) (*pgx.Conn, string) {
	t.Helper()
	db := srv.NewDatabase(t)
	return connectTo(t, db), db
}

func connectTo(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func load(t testing.TB, conn *pgx.Conn, opts Options) Stats {
	t.Helper()
	st, err := Load(context.Background(), conn, opts)
	if err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	return st
}

func count(t testing.TB, conn *pgx.Conn, sql string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func envScale(tb testing.TB, def int) int {
	s := os.Getenv("FLYWHEEL_DEMO_SCALE")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.Fatalf("FLYWHEEL_DEMO_SCALE: %v", err)
	}
	return n
}

// TestLoadInto loads the demo into the database at $FLYWHEEL_DEMO_URL
// (scale $FLYWHEEL_DEMO_SCALE, default 1, replacing what is there), printing
// the progress line and the rates; skipped unless the variable is set:
//
//	FLYWHEEL_DEMO_URL=postgres://postgres@127.0.0.1:5432/postgres FLYWHEEL_DEMO_SCALE=100 \
//	    go test ./internal/demo -run TestLoadInto -v -timeout 1h
func TestLoadInto(t *testing.T) {
	url := os.Getenv("FLYWHEEL_DEMO_URL")
	if url == "" {
		t.Skip("set FLYWHEEL_DEMO_URL to load the demo into that database")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	phase := ""
	st, err := Load(ctx, conn, Options{Scale: envScale(t, 1), Replace: true, Progress: func(p Progress) {
		if p.Phase != "copy" && p.Phase+p.Table == phase {
			return
		}
		phase = p.Phase + p.Table
		t.Log(p)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st)
	for _, tb := range st.Tables {
		t.Logf("  %-13s %10d rows", tb.Name, tb.Rows)
	}
}

// BenchmarkLoad loads one scale (FLYWHEEL_DEMO_SCALE, default 10) per
// iteration into a fresh database and reports rows/s:
//
//	go test ./internal/demo -run '^$' -bench Load -benchtime 1x
//	FLYWHEEL_DEMO_SCALE=100 go test ./internal/demo -run '^$' -bench Load -benchtime 1x -timeout 30m
func BenchmarkLoad(b *testing.B) {
	scale := envScale(b, 10)
	var rows, copyNs, totalNs float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		conn, _ := connect(b)
		b.StartTimer()
		st := load(b, conn, Options{Scale: scale})
		rows += float64(st.Rows)
		copyNs += float64(st.CopyTime)
		totalNs += float64(st.Elapsed)
		b.Logf("%s", st)
		for _, t := range st.Tables {
			b.Logf("  %-13s %10d rows", t.Name, t.Rows)
		}
	}
	b.ReportMetric(rows/(totalNs/1e9), "rows/s")
	b.ReportMetric(rows/(copyNs/1e9), "copy-rows/s")
	b.ReportMetric(rows/float64(b.N), "rows/op")
}

// BenchmarkGenerate measures the generator alone, without a database.
func BenchmarkGenerate(b *testing.B) {
	m := newModel(1, DefaultSeed)
	var rows int64
	for i := 0; i < b.N; i++ {
		for _, g := range []struct {
			n   int
			gen rowGen
		}{
			{5, &productGen{m: m}},
			{8, &customerGen{m: m}},
			{6, &salesGen{perCustomer: perCustomer{m: m}}},
			{4, &ratingGen{perCustomer: perCustomer{m: m}, seen: map[int32]bool{}}},
			{5, &eventGen{perCustomer: perCustomer{m: m}}},
		} {
			row := make([]any, g.n)
			for g.gen.next(row) {
				rows++
			}
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// tableCounts are the row counts of the demo's public tables.
func tableCounts(t testing.TB, conn *pgx.Conn) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range []string{"dim_date", "dim_product", "dim_customer", "fact_sales", "fact_ratings", "events"} {
		out[name] = count(t, conn, "SELECT count(*) FROM "+name)
	}
	return out
}

func TestLoadScale1(t *testing.T) {
	conn, _ := connect(t)
	ctx := context.Background()
	var phases []string
	st := load(t, conn, Options{Scale: 1, Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Rows > p.TotalRows || p.Percent() < 0 || p.Percent() > 100 {
			t.Errorf("progress out of bounds: %+v", p)
		}
	}})
	if st.AlreadyLoaded {
		t.Fatal("fresh database reported as already loaded")
	}
	if got, want := strings.Join(phases, ","), "copy,index,analyze,done"; got != want {
		t.Errorf("progress phases %s, want %s", got, want)
	}

	// Counts: the dimensions exactly, the facts about 50,000 sales a scale.
	counts := tableCounts(t, conn)
	var total int64
	for _, ts := range st.Tables {
		if counts[ts.Name] != ts.Rows {
			t.Errorf("%s: Stats says %d rows, table has %d", ts.Name, ts.Rows, counts[ts.Name])
		}
		total += ts.Rows
	}
	if total != st.Rows || len(st.Tables) != 6 {
		t.Errorf("Stats: %d tables, %d rows, sum %d", len(st.Tables), st.Rows, total)
	}
	for name, want := range map[string]int64{"dim_date": 2192, "dim_product": 200, "dim_customer": 1000} {
		if counts[name] != want {
			t.Errorf("%s has %d rows, want %d", name, counts[name], want)
		}
	}
	if n := counts["fact_sales"]; n < 40_000 || n > 60_000 {
		t.Errorf("fact_sales has %d rows, want about 50,000", n)
	}
	if n := counts["events"]; n < 3*counts["fact_sales"] {
		t.Errorf("events has %d rows, fewer than 3 per sale", n)
	}
	if n := counts["fact_ratings"]; n < 5_000 {
		t.Errorf("fact_ratings has %d rows", n)
	}

	// Keys: every foreign key exists and is validated, and no row breaks one.
	if n := count(t, conn, `SELECT count(*) FROM pg_constraint
		WHERE contype = 'f' AND convalidated AND connamespace = 'public'::regnamespace`); n != 8 {
		t.Errorf("%d validated foreign keys in public, want 8", n)
	}
	for _, q := range []string{
		"SELECT count(*) FROM fact_sales s LEFT JOIN dim_product p USING (product_id) WHERE p.product_id IS NULL",
		"SELECT count(*) FROM fact_sales s LEFT JOIN dim_customer c USING (customer_id) WHERE c.customer_id IS NULL",
		"SELECT count(*) FROM fact_sales s LEFT JOIN dim_date d ON d.date_key = s.sale_date WHERE d.date_key IS NULL",
		"SELECT count(*) FROM events e LEFT JOIN dim_product p USING (product_id) WHERE p.product_id IS NULL",
		// Model consistency: one purchase event per sale, segment inputs
		// measured on the customer's sales.
		"SELECT abs((SELECT count(*) FROM events WHERE event_type = 'purchase') - (SELECT count(*) FROM fact_sales))",
		`SELECT count(*) FROM events e WHERE event_type = 'purchase' AND NOT EXISTS (SELECT 1 FROM fact_sales s
			WHERE s.customer_id = e.customer_id AND s.product_id = e.product_id AND s.sale_date = e.event_time::date)`,
		"SELECT count(*) FROM fact_ratings r JOIN dim_customer c USING (customer_id) WHERE r.rated_at::date < c.signup_date",
		`SELECT count(*) FROM dim_customer c JOIN (SELECT customer_id, round(avg(sales_amount), 2) AS spend,
			'2024-12-31'::date - max(sale_date) AS recency FROM fact_sales GROUP BY customer_id) s USING (customer_id)
			WHERE s.spend <> c.avg_spend OR s.recency <> c.last_purchase_days_ago`,
		"SELECT count(*) FROM dim_customer c WHERE NOT EXISTS (SELECT 1 FROM fact_sales s WHERE s.customer_id = c.customer_id)",
	} {
		if n := count(t, conn, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
	if n := count(t, conn, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"); n < 13 {
		t.Errorf("%d indexes in public, want at least 13 (6 primary keys, 7 others)", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM seed.nmf_ratings"); n != 13 {
		t.Errorf("seed.nmf_ratings has %d rows, want 13", n)
	}

	meta, ok, err := Status(ctx, conn)
	if err != nil || !ok || meta.Scale != 1 || meta.Seed != DefaultSeed || meta.Rows != st.Rows || meta.GeneratorVersion != generatorVersion {
		t.Errorf("Status = %+v, %v, %v", meta, ok, err)
	}
	if ok, err := Loaded(ctx, conn); !ok || err != nil {
		t.Errorf("Loaded = %v, %v", ok, err)
	}

	// Idempotence: the same scale again is a reported no-op.
	again := load(t, conn, Options{Scale: 1})
	if !again.AlreadyLoaded || again.Rows != st.Rows || !strings.Contains(again.String(), "already loaded") {
		t.Errorf("second load: %+v", again)
	}
	if m2, _, _ := Status(ctx, conn); !m2.LoadedAt.Equal(meta.LoadedAt) {
		t.Errorf("second load rewrote the meta row")
	}
	// Another scale is refused without Replace, naming what is loaded.
	_, err = Load(ctx, conn, Options{Scale: 2})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Loaded == nil || ce.Loaded.Scale != 1 || !strings.Contains(err.Error(), "scale 1") {
		t.Errorf("loading scale 2 over scale 1: %v", err)
	}
	// Dropping a table makes the demo incomplete.
	if _, err := conn.Exec(ctx, "DROP TABLE events"); err != nil {
		t.Fatal(err)
	}
	if ok, err := Loaded(ctx, conn); ok || err != nil {
		t.Errorf("Loaded after DROP TABLE events = %v, %v", ok, err)
	}
}

// TestWalkthrough runs the walkthrough's plain-SQL blocks on PostgreSQL
// against scale 1 and checks them; the model blocks need the proxy, so here
// they are only parsed.
func TestWalkthrough(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "walkthrough.sql"))
	if err != nil {
		t.Fatal(err)
	}
	cases, err := ParseWalkthrough(data)
	if err != nil {
		t.Fatal(err)
	}
	plain, models := 0, 0
	for _, c := range cases {
		if c.NeedsFlywheel {
			models++
		} else if c.Directive == "query" {
			plain++
		}
	}
	// One per model function and option the brief lists, and the seed's.
	if plain < 8 || models < 15 {
		t.Errorf("walkthrough has %d plain and %d model queries", plain, models)
	}
	conn, _ := connect(t)
	load(t, conn, Options{Scale: 1})
	ctx := context.Background()
	for _, c := range cases {
		if c.NeedsFlywheel {
			continue
		}
		if err := c.Run(ctx, conn.PgConn()); err != nil {
			t.Errorf("%v\n%s", err, c.SQL)
		}
	}
}

// TestWalkthroughChecks makes sure the expectations can fail.
func TestWalkthroughChecks(t *testing.T) {
	s := func(v string) *string { return &v }
	res := Result{Columns: []string{"a", "lower", "f", "upper"}, Rows: [][]*string{
		{s("x"), s("1"), s("2.5"), s("3")},
		{s("y"), s("0"), nil, s("1")},
	}}
	for _, tc := range []struct {
		expect string
		ok     bool
	}{
		{"columns: a, lower, f, upper", true},
		{"columns: a, f", false},
		{"rows: 2", true},
		{"rows: 3", false},
		{"rows: 1..", true},
		{"rows: ..1", false},
		{"row 1: x | 1 | 2.5 | 3", true},
		{"row 1: x | 1 | 2.4 | 3", false},
		{"row 1: x | * | 2.4±0.2 | 3", true},
		{"row 2: y | 0 | NULL | 1", true},
		{"row 2: y | 0 | * | 1", true},
		{"row 3: y | 0 | * | 1", false},
		{"contains: y | 0 | NULL | 1", true},
		{"contains: z | 0 | NULL | 1", false},
		{"range upper: 1..3", true},
		{"range upper: 2..", false},
		{"range f: 2..3", true},
		{"distinct a: 2", true},
		{"distinct a: 1", false},
		{"ordered: lower <= upper", true},
		{"ordered: upper <= lower", false},
		{"ordered: lower <= f <= upper", false}, // NULL is not ordered
		{"range nope: 1..2", false},
	} {
		c := Case{Directive: "query", Expect: []string{tc.expect}}
		if err := c.Check(res); (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.expect, err, tc.ok)
		}
	}
	for _, bad := range []string{
		"query\nSELECT 1\n",                                          // no ----
		"query\nSELECT 1\n----\n",                                    // no expectation
		"query\nSELECT 1\n----\nrows: x\n",                           // bad bound
		"query\nSELECT 1\n----\nwhatever: 1\n",                       // unknown expectation
		"select\nSELECT 1\n----\nrows: 1\n",                          // unknown directive
		"query\nSELECT * FROM kmeans((TABLE t), 2)\n----\nrows: 1\n", // calls a model function
		"query needs=flywheel\nSELECT 1\n----\nrows: 1\n",            // does not
	} {
		if _, err := ParseWalkthrough([]byte(bad)); err == nil {
			t.Errorf("ParseWalkthrough(%q) succeeded", bad)
		}
	}
	cases, err := ParseWalkthrough([]byte("# file comment\n\n-- one\n-- two\nquery\nSELECT 1 AS x;\n----\nrows: 1\nrow 1: 1\n\nexec\nSET a.b = 1;\n----\nok\n"))
	if err != nil || len(cases) != 2 || cases[0].Comment != "one\ntwo" || cases[0].SQL != "SELECT 1 AS x;" ||
		cases[0].Line != 5 || len(cases[0].Expect) != 2 || cases[1].Directive != "exec" {
		t.Errorf("ParseWalkthrough: %+v, %v", cases, err)
	}
}

// checksum is an md5 over a table's rows in key order.
func checksum(t testing.TB, conn *pgx.Conn, table, key string) string {
	t.Helper()
	var sum string
	q := fmt.Sprintf("SELECT md5(string_agg(x::text, ',' ORDER BY %s)) FROM %s x", key, table)
	if err := conn.QueryRow(context.Background(), q).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestDeterministic(t *testing.T) {
	a, _ := connect(t)
	b, _ := connect(t)
	c, _ := connect(t)
	load(t, a, Options{Scale: 1})
	load(t, b, Options{Scale: 1})
	load(t, c, Options{Scale: 1, Seed: 7})
	for _, tb := range []struct{ name, key string }{
		{"dim_product", "product_id"}, {"dim_customer", "customer_id"}, {"fact_sales", "sale_id"},
		{"fact_ratings", "customer_id, product_id"}, {"events", "event_id"},
	} {
		sa, sb, sc := checksum(t, a, tb.name, tb.key), checksum(t, b, tb.name, tb.key), checksum(t, c, tb.name, tb.key)
		if sa != sb {
			t.Errorf("%s: the same seed gave different rows (%s, %s)", tb.name, sa, sb)
		}
		if sa == sc && tb.name != "dim_product" {
			t.Errorf("%s: seeds 0 and 7 gave the same rows", tb.name)
		}
	}
}

func TestRefusesForeignTables(t *testing.T) {
	conn, _ := connect(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE events (id int, what text);
		INSERT INTO events VALUES (1, 'mine');
		CREATE SCHEMA seed; CREATE VIEW seed.train AS SELECT 1 AS x`); err != nil {
		t.Fatal(err)
	}
	_, err := Load(ctx, conn, Options{Scale: 1})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Loaded != nil || strings.Join(ce.Relations, ",") != "public.events,seed.train" {
		t.Fatalf("Load over foreign tables: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "public.events, seed.train") || !strings.Contains(msg, "--replace") {
		t.Errorf("message does not name the tables and the way out: %s", msg)
	}
	// Nothing was touched.
	if n := count(t, conn, "SELECT count(*) FROM events WHERE what = 'mine'"); n != 1 {
		t.Errorf("the user's events table changed")
	}
	if n := count(t, conn, "SELECT count(*) FROM pg_class WHERE relname IN ('dim_customer', 'flywheel_demo_meta')"); n != 0 {
		t.Errorf("a refused load created tables")
	}
	if ok, err := Loaded(ctx, conn); ok || err != nil {
		t.Errorf("Loaded = %v, %v", ok, err)
	}
	// Replace drops them and loads.
	st := load(t, conn, Options{Scale: 1, Replace: true})
	if n := count(t, conn, "SELECT count(*) FROM events"); n != st.Tables[5].Rows || n < 100_000 {
		t.Errorf("events has %d rows after Replace", n)
	}
	if ok, _ := Loaded(ctx, conn); !ok {
		t.Errorf("not Loaded after Replace")
	}
}

func TestReplace(t *testing.T) {
	conn, _ := connect(t)
	ctx := context.Background()
	load(t, conn, Options{Scale: 1})
	before := checksum(t, conn, "fact_sales", "sale_id")
	// A view on a demo table goes with it (CASCADE), as documented.
	if _, err := conn.Exec(ctx, "CREATE VIEW my_sales AS SELECT * FROM fact_sales"); err != nil {
		t.Fatal(err)
	}
	st := load(t, conn, Options{Scale: 2, Seed: 3, Replace: true})
	if st.AlreadyLoaded {
		t.Fatal("Replace reported already loaded")
	}
	meta, ok, err := Status(ctx, conn)
	if err != nil || !ok || meta.Scale != 2 || meta.Seed != 3 {
		t.Errorf("Status after Replace = %+v, %v, %v", meta, ok, err)
	}
	if n := count(t, conn, "SELECT count(*) FROM dim_customer"); n != 2000 {
		t.Errorf("scale 2 has %d customers", n)
	}
	if checksum(t, conn, "fact_sales", "sale_id") == before {
		t.Errorf("fact_sales unchanged by Replace")
	}
	if n := count(t, conn, "SELECT count(*) FROM pg_class WHERE relname = 'my_sales'"); n != 0 {
		t.Errorf("dependent view survived Replace")
	}
	// Replace with the same scale and seed reloads too.
	st = load(t, conn, Options{Scale: 2, Seed: 3, Replace: true})
	if st.AlreadyLoaded {
		t.Errorf("Replace of the same scale was a no-op")
	}
}

func TestBadScale(t *testing.T) {
	for _, scale := range []int{0, -1, MaxScale + 1, 1 << 40} {
		// No connection needed: the scale is checked first.
		_, err := Load(context.Background(), nil, Options{Scale: scale})
		if err == nil || !strings.Contains(err.Error(), "scale") {
			t.Errorf("scale %d: %v", scale, err)
		}
	}
	if err := CheckScale(MaxScale); err != nil {
		t.Errorf("CheckScale(MaxScale): %v", err)
	}
}

// assertNothingLoaded checks, on a fresh connection, that a failed load
// left no demo relation behind, complete-looking or not.
func assertNothingLoaded(t *testing.T, db string) {
	t.Helper()
	conn := connectTo(t, db)
	ctx := context.Background()
	if ok, err := Loaded(ctx, conn); ok || err != nil {
		t.Errorf("Loaded = %v, %v after a failed load", ok, err)
	}
	if _, ok, err := Status(ctx, conn); ok || err != nil {
		t.Errorf("Status ok = %v, %v after a failed load", ok, err)
	}
	var left []string
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = ANY($1)`, relations)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		left = append(left, s)
	}
	if len(left) > 0 {
		t.Errorf("a failed load left %v", left)
	}
}

func TestCancelMidCopy(t *testing.T) {
	conn, db := connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var salesTicks int
	var atCancel Progress
	_, err := Load(ctx, conn, Options{Scale: 1, progressEvery: -1, Progress: func(p Progress) {
		if p.Phase == "copy" && p.Table == "fact_sales" {
			// The third report comes 4,096 rows into fact_sales.
			if salesTicks++; salesTicks == 3 {
				atCancel = p
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: %v", err)
	}
	if atCancel.Table != "fact_sales" {
		t.Fatalf("cancelled at %+v, not mid-COPY", atCancel)
	}
	assertNothingLoaded(t, db)
	// The connection survives a cancellation the source noticed first.
	if err := conn.Ping(context.Background()); err == nil {
		if n := count(t, conn, "SELECT count(*) FROM pg_class WHERE relname = 'fact_sales'"); n != 0 {
			t.Errorf("fact_sales visible on the loading connection")
		}
	}
}

func TestConnectionLostMidCopy(t *testing.T) {
	conn, db := connect(t)
	admin := connectTo(t, db)
	pid := conn.PgConn().PID()
	killed := false
	_, err := Load(context.Background(), conn, Options{Scale: 1, progressEvery: -1, Progress: func(p Progress) {
		if !killed && p.Phase == "copy" && p.Table == "events" && p.Rows > 60_000 {
			killed = true
			if _, err := admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid); err != nil {
				t.Error(err)
			}
			// Let the termination land while the COPY is still running.
			time.Sleep(100 * time.Millisecond)
		}
	}})
	if !killed {
		t.Fatal("never reached the events COPY")
	}
	if err == nil {
		t.Fatal("Load succeeded on a terminated connection")
	}
	t.Logf("Load: %v", err)
	assertNothingLoaded(t, db)
}
