package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/clients"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const seedRatings = `CREATE TABLE ratings (user_id int, product_id int, rating int);
INSERT INTO ratings VALUES (1,101,5), (1,102,4), (1,103,3), (2,101,4), (2,104,5),
                           (3,102,2), (3,103,3), (3,104,4);
CREATE TABLE dim_customer (customer_id int PRIMARY KEY, customer_name text);
INSERT INTO dim_customer VALUES (1, 'Alice'), (2, 'Bob'), (3, 'Carol'), (4, 'Dave');`

// seeded starts a proxy over a database holding the seed's ratings.
func seeded(t testing.TB) (*pgx.Conn, string, string) {
	t.Helper()
	addr, db := startProxy(t)
	srv.Exec(t, db, seedRatings)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	return c, addr, db
}

type rec struct {
	Item  int32
	Score float64
	Rank  int32
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func collectRecs(t *testing.T, q querier, sql string, args ...any) []rec {
	t.Helper()
	rows, err := q.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rec])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecommendSeesOpenTransaction(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	const q = `SELECT item, score, rank FROM recommend(1, 10, ratings => (SELECT user_id, product_id, rating FROM ratings))`
	before := collectRecs(t, c, q)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A new item rated by user 2 only: user 1 should now be offered it.
	if _, err := tx.Exec(ctx, "INSERT INTO ratings VALUES (2, 105, 5)"); err != nil {
		t.Fatal(err)
	}
	inside := collectRecs(t, tx, q)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	after := collectRecs(t, c, q)
	has105 := func(rs []rec) bool {
		for _, r := range rs {
			if r.Item == 105 {
				return true
			}
		}
		return false
	}
	if has105(before) || !has105(inside) || has105(after) {
		t.Fatalf("before %v, inside %v, after rollback %v", before, inside, after)
	}
}

func TestPreparedRecommendManyUsers(t *testing.T) {
	c, _, db := seeded(t)
	ctx := context.Background()
	// 100 users with ratings drawn from a fixed pattern.
	srv.Exec(t, db, `INSERT INTO ratings SELECT u, 100 + (u * 7 + k) % 20, 1 + (u + k) % 5
		FROM generate_series(10, 109) u, generate_series(1, 6) k`)
	const q = `SELECT item, score, rank FROM recommend($1::int, $2::int, neighbors => 5,
		ratings => (SELECT user_id, product_id, rating FROM ratings))`
	if _, err := c.Prepare(ctx, "rec", q); err != nil {
		t.Fatal(err)
	}
	for u := 10; u < 110; u++ {
		prepared := collectRecs(t, c, "rec", u, 3)
		simple := collectRecs(t, c, q, pgx.QueryExecModeSimpleProtocol, u, 3)
		if fmt.Sprint(prepared) != fmt.Sprint(simple) || len(prepared) == 0 {
			t.Fatalf("user %d: prepared %v, simple %v", u, prepared, simple)
		}
	}
}

func TestLateralDecorrelated(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	rows, err := c.Query(ctx, `SELECT c.customer_id, r.item, r.score, r.rank
		FROM dim_customer c CROSS JOIN LATERAL recommend(c.customer_id, 3, neighbors => 2,
			ratings => (SELECT user_id, product_id, rating FROM ratings)) r
		ORDER BY c.customer_id, r.rank`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Customer int32
		rec
	}
	got := map[int32][]rec{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Customer, &r.Item, &r.Score, &r.Rank); err != nil {
			t.Fatal(err)
		}
		got[r.Customer] = append(got[r.Customer], r.rec)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for cust := int32(1); cust <= 4; cust++ {
		want := collectRecs(t, c, `SELECT item, score, rank FROM recommend($1::int, 3, neighbors => 2,
			ratings => (SELECT user_id, product_id, rating FROM ratings))`, cust)
		if fmt.Sprint(got[cust]) != fmt.Sprint(want) {
			t.Errorf("customer %d: lateral %v, direct call %v", cust, got[cust], want)
		}
	}
	if len(got[1]) != 1 || got[1][0].Item != 104 {
		t.Errorf("customer 1: %v", got[1])
	}
}

func TestPipelineMixed(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	b := &pgx.Batch{}
	b.Queue("SELECT count(*) FROM ratings")
	b.Queue(`SELECT item FROM recommend(1, 2, neighbors => 2, ratings => (SELECT user_id, product_id, rating FROM ratings))`)
	b.Queue("SELECT $1::int * 2", 21)
	b.Queue(`SELECT item FROM recommend($1::int, 2, neighbors => 2, ratings => (SELECT user_id, product_id, rating FROM ratings))`, 3)
	br := c.SendBatch(ctx, b)
	var n, item1, dbl, item3 int
	for i, dst := range []*int{&n, &item1, &dbl, &item3} {
		if err := br.QueryRow().Scan(dst); err != nil {
			t.Fatalf("batch statement %d: %v", i, err)
		}
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 8 || item1 != 104 || dbl != 42 || item3 != 101 {
		t.Fatalf("batch results %d %d %d %d", n, item1, dbl, item3)
	}
	// An error from a model function in the middle of a batch: the rest
	// up to Sync is skipped, and the session goes on.
	b = &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue(`SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 0)`)
	b.Queue("SELECT 3")
	br = c.SendBatch(ctx, b)
	if err := br.QueryRow().Scan(&n); err != nil || n != 1 {
		t.Fatalf("first: %v", err)
	}
	_, err := br.Exec()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22023" {
		t.Fatalf("want 22023, got %v", err)
	}
	br.Close()
	if err := c.QueryRow(ctx, "SELECT 5").Scan(&n); err != nil || n != 5 {
		t.Fatalf("after failed batch: %v", err)
	}
}

func TestErrorsKeepSessionAndTransactionRules(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	cases := []struct {
		sql, code string
	}{
		{"SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 0)", "22023"},
		{"SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 100)", "22023"},
		{"SELECT * FROM kmeans((SELECT user_id, rating FROM ratings))", "42883"},
		{"SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 2, nonsense => 1)", "42883"},
		{"SELECT * FROM kmeans((SELECT user_id, 'a'::text FROM ratings), 2)", "42804"},
		{"SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM no_such_table))", "42P01"},
		{"SELECT * FROM holt_forecast((SELECT 1, 2.0), -1)", "22023"},
	}
	for _, tc := range cases {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheDescribe} {
			_, err := c.Exec(ctx, tc.sql, mode)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != tc.code {
				t.Errorf("%s (mode %v): want %s, got %v", tc.sql, mode, tc.code, err)
			}
			var n int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
				t.Fatalf("session unusable after %q: %v", tc.sql, err)
			}
		}
	}
	// 42883 carries the call's position in the statement.
	_, err := c.Exec(ctx, "SELECT 1 AS a, x.* FROM kmeans((SELECT user_id, rating FROM ratings), 2, nonsense => 1) x", pgx.QueryExecModeSimpleProtocol)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position != 25 {
		t.Errorf("position: want 25, got %+v", err)
	}
	// In a transaction a model-function error aborts it, as PostgreSQL would.
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 0)"); err == nil {
		t.Fatal("want error")
	}
	_, err = tx.Exec(ctx, "SELECT 1")
	if !errors.As(err, &pgErr) || pgErr.Code != "25P02" {
		t.Fatalf("want 25P02, got %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

// startProxyComputing serves a fresh database through a proxy whose
// kmeans closes computing when it starts, so that a test acts on a
// computation in flight instead of after a guessed delay.
func startProxyComputing(t *testing.T) (addr, db string, computing <-chan struct{}) {
	cat := catalog.Builtin()
	f, _ := cat.Lookup("kmeans")
	started := make(chan struct{})
	var once sync.Once
	run := f.Run
	f.Run = func(ctx context.Context, call *catalog.Call) (*catalog.Result, error) {
		once.Do(func() { close(started) })
		return run(ctx, call)
	}
	db = srv.NewDatabase(t)
	return serveProxy(t, db, planner.Options{}, cat), db, started
}

func TestCancelStopsComputation(t *testing.T) {
	addr, db, computing := startProxyComputing(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// Enough points and restarts that k-means runs for a long while.
	srv.Exec(t, db, `CREATE TABLE pts AS SELECT g AS id, random() AS a, random() AS b, random() AS c
		FROM generate_series(1, 200000) g`)
	sent := make(chan time.Time, 1)
	go func() {
		<-computing
		sent <- time.Now()
		_ = c.PgConn().CancelRequest(ctx)
	}()
	start := time.Now()
	_, err = c.Exec(ctx, "SELECT count(*) FROM kmeans((SELECT id, a, b, c FROM pts), 50, n_init => 1000, max_iter => 1000)")
	end := time.Now()
	elapsed := end.Sub(start)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("want 57014, got %v after %v", err, elapsed)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatalf("session after cancel: %v", err)
	}
	t.Logf("statement ran %v; the error came %v after the CancelRequest was sent", elapsed, end.Sub(<-sent))
}

// TestStatementTimeoutStopsComputation: the session's statement_timeout
// bounds the Go work of a call, not only the side queries PostgreSQL runs
// (here reading 20000 rows takes a few milliseconds; k-means runs far
// longer than the timeout).
func TestStatementTimeoutStopsComputation(t *testing.T) {
	c, _, db := seeded(t)
	ctx := context.Background()
	srv.Exec(t, db, `CREATE TABLE pts AS SELECT g AS id, random() AS a, random() AS b, random() AS c
		FROM generate_series(1, 20000) g`)
	if _, err := c.Exec(ctx, "SET statement_timeout = '300ms'"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Exec(ctx, "SELECT count(*) FROM kmeans((SELECT id, a, b, c FROM pts), 50, n_init => 1000, max_iter => 1000)")
	elapsed := time.Since(start)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" || pgErr.Message != "canceling statement due to statement timeout" {
		t.Fatalf("want 57014 canceling statement due to statement timeout, got %v after %v", err, elapsed)
	}
	t.Logf("statement ran %v", elapsed)
	// The session goes on, and a call that fits in the timeout succeeds.
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM kmeans((SELECT id, a, b FROM pts WHERE id <= 100), 2)").Scan(&n); err != nil || n != 100 {
		t.Fatalf("a small call after the timeout: %d rows, %v", n, err)
	}
}

// TestImplicitTransactionPSQL: psql -c sends its statements as one Query;
// when one of them calls a model function and a later one fails, the
// earlier ones are undone, as PostgreSQL's implicit transaction does.
func TestImplicitTransactionPSQL(t *testing.T) {
	c, addr, db := seeded(t)
	ctx := context.Background()
	out, err := clients.PSQL(t, pgURL(addr, db), "", "-c",
		"CREATE TABLE clusters AS SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 2); "+
			"INSERT INTO clusters SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 0)")
	if err == nil || !strings.Contains(out, "ERROR:") {
		t.Fatalf("psql: want the second statement's error, got %v:\n%s", err, out)
	}
	var exists bool
	if err := c.QueryRow(ctx, "SELECT to_regclass('clusters') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table created by the failed Query exists: %v, %v", exists, err)
	}
	out, err = clients.PSQL(t, pgURL(addr, db), "", "-c",
		"CREATE TABLE clusters AS SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), 2); SELECT count(*) FROM clusters")
	if err != nil || !strings.Contains(out, "count\n8\n") {
		t.Fatalf("psql: %v: %q", err, out)
	}
}

// TestCopyOut: COPY (query) TO STDOUT with a call gives what the same
// query gives, through pgx's CopyTo and psql's \copy; text keys with
// quotes, backslashes and dollar signs survive the literal the rows travel in.
func TestCopyOut(t *testing.T) {
	c, addr, db := seeded(t)
	ctx := context.Background()
	srv.Exec(t, db, `CREATE TABLE odd (k text, v float8);
		INSERT INTO odd VALUES ('it''s', 1), ('back\slash', 2), ('$fw$', 10), ('x$fw', 11), ('{"a",b}', 30)`)
	query := "SELECT k, cluster FROM kmeans((SELECT k, v FROM odd), 3) JOIN odd USING (k) ORDER BY v"
	want := ""
	rows, err := c.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var cluster int
		if err := rows.Scan(&k, &cluster); err != nil {
			t.Fatal(err)
		}
		want += fmt.Sprintf("%s,%d\n", strings.NewReplacer(`"`, `""`).Replace(k), cluster)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// CSV quotes the fields that need it; the test's keys are chosen so
	// that only the one with quotes and commas does.
	want = strings.Replace(want, `{""a"",b}`, `"{""a"",b}"`, 1)
	var buf strings.Builder
	tag, err := c.PgConn().CopyTo(ctx, &buf, "COPY ("+query+") TO STDOUT (FORMAT csv)")
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != want || tag.RowsAffected() != 5 {
		t.Errorf("COPY TO STDOUT = %q (%s), want %q", buf.String(), tag, want)
	}
	file := t.TempDir() + "/clusters.csv"
	out, err := clients.PSQL(t, pgURL(addr, db), `\copy (`+query+`) TO '`+file+`' (FORMAT csv)`+"\n")
	if err != nil {
		t.Fatalf("psql \\copy: %v\n%s", err, out)
	}
	got, err := os.ReadFile(file)
	if err != nil || string(got) != want {
		t.Errorf("psql \\copy wrote %q (%v), want %q", got, err, want)
	}
	jdbc := clients.JDBC(t, fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres", addr, db),
		"copyout COPY ("+query+") TO STDOUT (FORMAT csv)\n")
	if jdbc != want+"(5 rows)\n" {
		t.Errorf("pgJDBC CopyManager.copyOut = %q, want %q", jdbc, want+"(5 rows)\n")
	}
	// COPY takes no parameters, with or without calls.
	_, err = c.Exec(ctx, "COPY (SELECT * FROM kmeans((SELECT k, v FROM odd), $1::int)) TO STDOUT", 2)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P02" {
		t.Errorf("COPY with a parameter: want 42P02, got %v", err)
	}
}

// TestSQLPrepare: PREPARE and EXECUTE of statements that call model
// functions, as psql users write them; PostgreSQL keeps the statement, so
// DEALLOCATE and pg_prepared_statements work as usual.
func TestSQLPrepare(t *testing.T) {
	c, addr, db := seeded(t)
	ctx := context.Background()
	// The simple protocol, as psql speaks it: the last result's rows.
	simple := func(sql string) ([][]string, error) {
		results, err := c.PgConn().Exec(ctx, sql).ReadAll()
		if err != nil {
			return nil, err
		}
		var out [][]string
		for _, r := range results[len(results)-1].Rows {
			var row []string
			for _, v := range r {
				row = append(row, string(v))
			}
			out = append(out, row)
		}
		return out, nil
	}
	mustRows := func(sql string) string {
		t.Helper()
		rows, err := simple(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return fmt.Sprint(rows)
	}
	direct := mustRows("SELECT item, score FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM ratings))")
	mustRows("PREPARE recs (int, int) AS SELECT item, score FROM recommend($1, $2, ratings => (SELECT user_id, product_id, rating FROM ratings))")
	if got := mustRows("EXECUTE recs(1, 2)"); got != direct {
		t.Errorf("EXECUTE recs(1, 2) = %s, want %s", got, direct)
	}
	if got := mustRows("EXECUTE recs(0 + 1, (SELECT 2))"); got != direct {
		t.Errorf("EXECUTE with expressions = %s, want %s", got, direct)
	}
	if got := mustRows("SELECT name, cardinality(parameter_types) FROM pg_prepared_statements"); got != "[[recs 5]]" {
		t.Errorf("pg_prepared_statements = %s; want recs with the client's 2 parameters and the proxy's 3 arrays", got)
	}
	// Types inferred from the call; several statements in one Query.
	if got := mustRows("PREPARE km AS SELECT count(*) FROM kmeans((SELECT user_id, rating FROM ratings), $1); EXECUTE km(2)"); got != "[[8]]" {
		t.Errorf("PREPARE km ...; EXECUTE km(2) = %s", got)
	}
	var pgErr *pgconn.PgError
	if _, err := simple("EXECUTE km(0)"); !errors.As(err, &pgErr) || pgErr.Code != "22023" {
		t.Errorf("EXECUTE km(0): want the function's 22023, got %v", err)
	}
	if _, err := simple("EXECUTE km(1, 2)"); !errors.As(err, &pgErr) || pgErr.Code != "42601" {
		t.Errorf("EXECUTE with too many arguments: want 42601, got %v", err)
	}
	if _, err := simple("PREPARE km AS SELECT 1"); !errors.As(err, &pgErr) || pgErr.Code != "42P05" {
		t.Errorf("PREPARE of a taken name: want 42P05, got %v", err)
	}
	mustRows("DEALLOCATE recs")
	if _, err := simple("EXECUTE recs(1, 2)"); !errors.As(err, &pgErr) || pgErr.Code != "26000" {
		t.Errorf("EXECUTE after DEALLOCATE: want 26000, got %v", err)
	}
	// The name is free again, for a plain statement this time.
	if got := mustRows("PREPARE recs AS SELECT 41 + 1; EXECUTE recs"); got != "[[42]]" {
		t.Errorf("a plain statement under a freed name = %s", got)
	}
	mustRows("DISCARD ALL")
	if got := mustRows("SELECT count(*) FROM pg_prepared_statements"); got != "[[0]]" {
		t.Errorf("after DISCARD ALL, %s prepared statements", got)
	}
	// psql: the statements a user types, one Query each.
	out, err := clients.PSQL(t, pgURL(addr, db), "PREPARE r (int) AS SELECT item FROM recommend($1, 1, ratings => (SELECT user_id, product_id, rating FROM ratings));\nEXECUTE r(1);\n")
	if err != nil || !strings.Contains(out, "item\n104\n") {
		t.Errorf("psql PREPARE/EXECUTE: %v\n%s", err, out)
	}
	// The extended protocol, as drivers speak it: PREPARE, then EXECUTE
	// parsed, described and bound by pgx. (PostgreSQL counts no parameters
	// in EXECUTE, so the arguments are literals there too.)
	if _, err := c.PgConn().ExecParams(ctx, "PREPARE km AS SELECT count(*) FROM kmeans((SELECT user_id, rating FROM ratings), $1)",
		nil, nil, nil, nil).Close(); err != nil {
		t.Fatalf("PREPARE in the extended protocol: %v", err)
	}
	var n int
	for _, sql := range []string{"EXECUTE km(2)", "EXECUTE km(1 + 2)", "EXECUTE km(2)"} {
		if err := c.QueryRow(ctx, sql).Scan(&n); err != nil || n != 8 {
			t.Errorf("%s in the extended protocol: %d, %v", sql, n, err)
		}
	}
	if err := c.QueryRow(ctx, "EXECUTE km(0)").Scan(&n); !errors.As(err, &pgErr) || pgErr.Code != "22023" {
		t.Errorf("EXECUTE km(0) in the extended protocol: want the function's 22023, got %v", err)
	}
	if err := c.QueryRow(ctx, "EXECUTE km($1)", 2).Scan(&n); err == nil {
		t.Errorf("EXECUTE km($1) with an argument: want pgx's error (no parameters, as PostgreSQL describes it)")
	}
	if got := mustRows("EXECUTE km(2)"); got != "[[8]]" {
		t.Errorf("EXECUTE km(2) in a simple Query after the extended ones = %s", got)
	}
	// Replaced through the extended protocol, which the proxy does not
	// follow: EXECUTE finds out and leaves the statement to PostgreSQL.
	for _, sql := range []string{"DEALLOCATE km", "PREPARE km AS SELECT 7"} {
		if _, err := c.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Close(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if got := mustRows("EXECUTE km"); got != "[[7]]" {
		t.Errorf("EXECUTE of a statement replaced behind the proxy's back = %s, want [[7]]", got)
	}
}

func TestInputCap(t *testing.T) {
	_, _, db := seeded(t)
	// A proxy of its own with a small cap.
	_, url := startProxyWithCap(t, db, 5)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM ratings))")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "53200" || pgErr.Hint == "" {
		t.Fatalf("want 53200 with a hint, got %+v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
}

func TestExplain(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	rows, err := c.Query(ctx, `EXPLAIN SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM ratings)) r
		JOIN dim_customer d ON d.customer_id = r.item`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(lines[0], "recommend") || !strings.Contains(plan, "input rows=8") || !strings.Contains(plan, "Function Scan") {
		t.Fatalf("EXPLAIN output:\n%s", plan)
	}
}

func TestStubsListed(t *testing.T) {
	_, addr, db := seeded(t)
	out, err := clients.PSQL(t, pgURL(addr, db), "", "-c", `\df+ flywheel.*`)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	for _, name := range []string{"kmeans", "kmeans_centers", "recommend", "similar_items", "nmf", "sgd_regress", "holt_forecast", "holt_fit"} {
		if !strings.Contains(out, "flywheel|"+name+"|") {
			t.Errorf("\\df+ lacks %s:\n%s", name, out)
		}
	}
	jdbc := clients.JDBC(t, fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres", addr, db), "functions flywheel\n")
	for _, name := range []string{"kmeans", "recommend", "holt_forecast"} {
		if !strings.Contains(jdbc, name+"\n") {
			t.Errorf("getFunctions lacks %s:\n%s", name, jdbc)
		}
	}
	// Calling a stub directly on PostgreSQL says to come through Flywheel.
	direct, err := pgx.Connect(context.Background(), srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())

	// A stub of an older signature goes when Flywheel installs its stubs
	// again; a function of the user's in the schema stays.
	ctx := context.Background()
	if _, err := direct.Exec(ctx, `CREATE FUNCTION flywheel.train(name text, old_option int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'function train runs in the Flywheel proxy, not in PostgreSQL'; END $f$;
CREATE FUNCTION flywheel.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'`); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, direct, func(tx pgx.Tx) error {
		for _, stmt := range catalog.StubDDL(catalog.Builtin()) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var trains, mine int
	if err := direct.QueryRow(ctx, `SELECT count(*) FILTER (WHERE proname = 'train'), count(*) FILTER (WHERE proname = 'mine')
FROM pg_proc WHERE pronamespace = 'flywheel'::regnamespace`).Scan(&trains, &mine); err != nil {
		t.Fatal(err)
	}
	if trains != 1 || mine != 1 {
		t.Fatalf("after installing the stubs again: %d train stubs (want 1), %d of the user's functions (want 1)", trains, mine)
	}
	_, err = direct.Exec(context.Background(), "SELECT * FROM flywheel.recommend(1::bigint)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "Flywheel") || pgErr.Hint == "" {
		t.Fatalf("direct stub call: %v", err)
	}
}

// pgJDBC past prepareThreshold: a named server-side statement, bound again
// and again with binary parameters.
func TestJDBCPreparedRecommend(t *testing.T) {
	_, addr, db := seeded(t)
	out := clients.JDBC(t, fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres&prepareThreshold=3", addr, db),
		"prepare 6 SELECT item, score FROM recommend(?, 2, neighbors => 2, ratings => (SELECT user_id, product_id, rating FROM ratings))\n")
	want := "104\t4.5\n(1 rows)\n102\t3\n103\t3\n(2 rows)\n101\t4.5\n(1 rows)\n(0 rows)\n(0 rows)\n(0 rows)\n"
	if out != want {
		t.Fatalf("JDBC prepared recommend:\n%s\nwant:\n%s", out, want)
	}
}

// PostgreSQL's own errors in a rewritten statement reach the client, with
// the cursor position in the client's text.
func TestRewrittenStatementErrors(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	const q = "SELECT r.nope FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM ratings)) r"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheDescribe} {
		_, err := c.Exec(ctx, q, mode)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42703" || pgErr.Position != 8 {
			t.Errorf("mode %v: want 42703 at 8, got %+v", mode, err)
		}
		// A misspelt column inside a relation argument points into it.
		_, err = c.Exec(ctx, "SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, ratin FROM ratings))", mode)
		if !errors.As(err, &pgErr) || pgErr.Code != "42703" || pgErr.Position != 71 {
			t.Errorf("mode %v: want 42703 at 71, got %+v", mode, err)
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
}

// A client that disconnects during a long model computation stops it: the
// proxy notices the hang-up although it is not reading from the client.
func TestDisconnectStopsComputation(t *testing.T) {
	addr, db, computing := startProxyComputing(t)
	ctx := context.Background()
	srv.Exec(t, db, `CREATE TABLE pts AS SELECT g AS id, random() AS a, random() AS b FROM generate_series(1, 200000) g`)
	c, err := pgx.Connect(ctx, pgURL(addr, db)+"&application_name=victim")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-computing
		c.PgConn().Conn().Close()
	}()
	_, _ = c.Exec(ctx, "SELECT count(*) FROM kmeans((SELECT id, a, b FROM pts), 50, n_init => 1000, max_iter => 1000)")
	// The computation would take minutes; once stopped, the proxy's
	// goroutines settle and a new session is served at once.
	start := time.Now()
	for {
		c2, err := pgx.Connect(ctx, pgURL(addr, db))
		if err != nil {
			t.Fatal(err)
		}
		var busy int
		err = c2.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'victim'").Scan(&busy)
		c2.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the abandoned session's upstream connection is still open (%d)", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("upstream session gone %v after the client disconnected", time.Since(start))
}

// A relation argument that fails at run time (PostgreSQL skips the rest of
// the proxy's side query up to Sync) leaves the session able to call
// model functions again.
func TestSideQueryRuntimeErrorThenWorks(t *testing.T) {
	c, _, _ := seeded(t)
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheDescribe} {
		_, err := c.Exec(ctx, "SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating / 0 FROM ratings))", mode)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
			t.Fatalf("mode %v: want 22012, got %v", mode, err)
		}
		recs := collectRecs(t, c, "SELECT item, score, rank FROM recommend(1, 2, neighbors => 2, ratings => (SELECT user_id, product_id, rating FROM ratings))", mode)
		if len(recs) != 1 || recs[0].Item != 104 {
			t.Fatalf("mode %v: after a failed relation argument: %v", mode, recs)
		}
	}
}
