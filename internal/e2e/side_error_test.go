package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSideQueryErrorReachesClient: when a query a function runs on the
// session's connection fails (here flywheel.outcomes reading
// flywheel.decisions as a role without the privilege), the client gets
// PostgreSQL's own error, in every protocol, and the session goes on:
// once such an error was dropped (no rows, no error) or the extended
// protocol hung.
func TestSideQueryErrorReachesClient(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE r AS SELECT u, i, 1 AS v FROM generate_series(1, 20) u, generate_series(1, 20) i;
CREATE TABLE clicks (customer int, product int, at timestamptz);
CREATE ROLE side_reader; GRANT SELECT ON clicks TO side_reader; GRANT USAGE ON SCHEMA flywheel TO side_reader`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := connect(t, addr, db)
		c.Exec(context.Background(), "DROP OWNED BY side_reader; DROP ROLE side_reader")
	})
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r))")
	if _, err := conn.Exec(ctx, "SET ROLE side_reader"); err != nil {
		t.Fatal(err)
	}
	const outcomes = "SELECT * FROM flywheel.outcomes('recs', events => (SELECT customer, product, at FROM clicks))"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := conn.Exec(cctx, outcomes, mode)
		cancel()
		if code(err) != "42501" {
			t.Fatalf("%v: %v, want PostgreSQL's 42501", mode, err)
		}
		if n := scalar[int32](t, conn, "SELECT 1"); n != 1 {
			t.Fatalf("%v: the session does not go on", mode)
		}
	}
	// In a transaction: aborted as PostgreSQL would leave it, then usable.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, outcomes); code(err) != "42501" {
		t.Fatalf("in a transaction: %v, want 42501", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); code(err) != "25P02" {
		t.Fatalf("after the error: %v, want 25P02", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := psqlResult(t, pgURL(addr, db), "SET ROLE side_reader;\n"+outcomes+";"); got != "42501" {
		t.Fatalf("psql: %q, want 42501", got)
	}
}
