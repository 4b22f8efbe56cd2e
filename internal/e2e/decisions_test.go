package e2e

import (
	"context"
	"testing"
)

// TestDecisionsAndOutcomes: recommend(..., log => true) logs what it
// served in one INSERT per statement, and flywheel.outcomes scores the
// decisions against events as the equivalent SQL does.
func TestDecisionsAndOutcomes(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings))")
	served := scalar[int64](t, conn, `SELECT count(*) FROM (SELECT u FROM generate_series(1, 4) u) us
	CROSS JOIN LATERAL recommend(us.u, 2, model => 'recs', log => true) r`)
	logged := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.decisions WHERE model = 'recs' AND version = 1")
	stamps := scalar[int64](t, conn, "SELECT count(DISTINCT served_at) FROM flywheel.decisions")
	if served == 0 || logged != served || stamps != 1 {
		t.Fatalf("served %d rows, logged %d with %d distinct served_at; want all logged by one INSERT", served, logged, stamps)
	}
	if app := scalar[string](t, conn, "SELECT DISTINCT coalesce(application_name, '') FROM flywheel.decisions"); app != "" {
		// pgx sets no application_name: the column holds the session's.
		t.Logf("application_name %q", app)
	}

	// A second version, and a rolled-back logging call that leaves nothing.
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings WHERE user_id <> 3))")
	scalar[int64](t, conn, "SELECT count(*) FROM recommend(1, 2, model => 'recs', log => true)")
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT * FROM recommend(2, 2, model => 'recs', log => true)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.decisions WHERE version = 2"); n != 1 {
		t.Fatalf("version 2: %d decisions logged, want 1 (the rolled-back call's are gone)", n)
	}

	// Events: a hit an hour after each of some decisions, one 10 days
	// after (outside the window), one before the decision.
	if _, err := conn.Exec(ctx, `CREATE TABLE events (customer int, product int, at timestamptz);
INSERT INTO events SELECT user_key::int, item::int, served_at + interval '1 hour' FROM flywheel.decisions WHERE rank = 1;
INSERT INTO events SELECT user_key::int, item::int, served_at + interval '10 days' FROM flywheel.decisions WHERE rank = 2;
INSERT INTO events SELECT user_key::int, item::int, served_at - interval '1 hour' FROM flywheel.decisions WHERE rank = 2;
INSERT INTO events VALUES (9, 103, now()), (9, 103, now()), (8, 103, now())`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT o.version, o.decisions, o.hits, o.hit_rate, o.baseline_hits,
	(SELECT count(*) FROM flywheel.decisions d WHERE d.model = 'recs' AND d.version = o.version AND EXISTS (
		SELECT 1 FROM events e WHERE e.customer::text = d.user_key AND e.product::text = d.item
		AND e.at > d.served_at AND e.at <= d.served_at + interval '7 days')) AS sql_hits,
	(SELECT count(*) FROM flywheel.decisions d WHERE d.model = 'recs' AND d.version = o.version) AS sql_decisions
FROM flywheel.outcomes('recs', events => (SELECT customer, product, at FROM events), within => '7 days') o
ORDER BY o.version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var version int32
		var decisions, hits, baseHits, sqlHits, sqlDecisions int64
		var rate float64
		if err := rows.Scan(&version, &decisions, &hits, &rate, &baseHits, &sqlHits, &sqlDecisions); err != nil {
			t.Fatal(err)
		}
		n++
		if decisions != sqlDecisions || hits != sqlHits || hits == 0 || rate != float64(hits)/float64(decisions) {
			t.Errorf("version %d: %d decisions %d hits (rate %g); SQL says %d decisions %d hits", version, decisions, hits, rate, sqlDecisions, sqlHits)
		}
		if baseHits < 0 || baseHits > decisions {
			t.Errorf("version %d: baseline hits %d of %d", version, baseHits, decisions)
		}
	}
	if rows.Err() != nil || n != 2 {
		t.Fatalf("outcomes gave %d versions (%v), want 2", n, rows.Err())
	}

	for sql, want := range map[string]string{
		"SELECT * FROM recommend(1, 2, ratings => (SELECT user_id, product_id, rating FROM ratings), log => true)":          "22023",
		"SELECT * FROM flywheel.outcomes('recs', events => (SELECT customer, product FROM events))":                         "42804",
		"SELECT * FROM flywheel.outcomes('recs', events => (SELECT customer, product, at FROM events), within => '-1 day')": "22023",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
}

// TestDecisionsKeepTextKeys: the log keeps user and item keys exactly,
// whatever characters an array literal gives a meaning to, and every
// served row's rank and score.
func TestDecisionsKeepTextKeys(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE tr (u text, i text, v float8);
INSERT INTO tr VALUES ('a"b', 'x,y', 5), ('a"b', '{z}', 3), ('c\d', 'x,y', 4), ('c\d', 'NULL', 5), ('c\d', 'q "r" \s', 2),
	('e', '{z}', 4), ('e', 'NULL', 1), ('e', ' sp ', 3), ('f', ' sp ', 5), ('f', 'q "r" \s', 4)`); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('tk', 'recommend', (TABLE tr))")
	served := scalar[string](t, conn, `SELECT string_agg(format('%s|%s|%s|%s', u.u, r.item, r.rank, r.score), E'\n' ORDER BY u.u, r.rank)
FROM (SELECT DISTINCT u FROM tr) u CROSS JOIN LATERAL recommend(u.u, 3, model => 'tk', log => true) r`)
	logged := scalar[string](t, conn, `SELECT string_agg(format('%s|%s|%s|%s', user_key, item, rank, score), E'\n' ORDER BY user_key, rank)
FROM flywheel.decisions WHERE model = 'tk'`)
	if served == "" || logged != served {
		t.Fatalf("logged:\n%s\nserved:\n%s", logged, served)
	}
}
