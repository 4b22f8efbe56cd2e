package models

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDecisionListsMigration: decisions logged one row per item before
// migration 8 read the same through the view after it, regrouped into
// one list per call; and DELETE on the view removes items, then lists.
func TestDecisionListsMigration(t *testing.T) {
	ctx := context.Background()
	db := srv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The store as migration 7 left it, with two calls' lists logged by
	// item (the second one's rows inserted out of rank order).
	if _, err := conn.Exec(ctx, "CREATE SCHEMA flywheel; CREATE TABLE flywheel.store_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 7; v++ {
		if _, err := conn.Exec(ctx, migrations[v-1]); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO flywheel.store_migrations (version) VALUES ($1)", v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO flywheel.decisions (model, version, user_key, item, rank, score, served_at, application_name) VALUES
	('recs', 1, '7', 'a "quoted" item', 1, 0.9, '2026-01-01', 'app'),
	('recs', 1, '7', 'b', 2, 0.5, '2026-01-01', 'app'),
	('recs', 2, '8', 'z', 2, 0.25, '2026-01-02', NULL),
	('recs', 2, '8', 'y', 1, 0.75, '2026-01-02', NULL)`); err != nil {
		t.Fatal(err)
	}
	const rows = "SELECT string_agg(format('%s/%s/%s/%s/%s/%s/%s', version, user_key, item, rank, score, served_at::date, coalesce(application_name, '-')), ' ' ORDER BY version, rank) FROM flywheel.decisions"
	before := scalar[string](t, conn, rows)

	pool, err := pgxpool.New(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if after := scalar[string](t, conn, rows); after != before {
		t.Fatalf("after the migration:\n%s\nwant\n%s", after, before)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.decision_lists"); n != 2 {
		t.Fatalf("%d lists, want one per call (2)", n)
	}

	// Deleting an item empties its place; the list goes with its last.
	for _, step := range []struct {
		sql   string
		rows  string
		lists int64
	}{
		{"DELETE FROM flywheel.decisions WHERE item = 'b'", "1/7/a \"quoted\" item/1/0.9/2026-01-01/app 2/8/y/1/0.75/2026-01-02/- 2/8/z/2/0.25/2026-01-02/-", 2},
		{"DELETE FROM flywheel.decisions WHERE version = 2 AND rank = 1", "1/7/a \"quoted\" item/1/0.9/2026-01-01/app 2/8/z/2/0.25/2026-01-02/-", 2},
		{"DELETE FROM flywheel.decisions WHERE version = 2", "1/7/a \"quoted\" item/1/0.9/2026-01-01/app", 1},
		{"DELETE FROM flywheel.decisions", "", 0},
	} {
		if _, err := conn.Exec(ctx, step.sql); err != nil {
			t.Fatalf("%s: %v", step.sql, err)
		}
		got := scalar[*string](t, conn, rows)
		if s := deref(got); s != step.rows {
			t.Fatalf("after %s:\n%s\nwant\n%s", step.sql, s, step.rows)
		}
		if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.decision_lists"); n != step.lists {
			t.Fatalf("after %s: %d lists, want %d", step.sql, n, step.lists)
		}
	}
}

func scalar[T any](t *testing.T, conn *pgx.Conn, sql string) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql).Scan(&v); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
	return v
}
