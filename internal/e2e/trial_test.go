package e2e

import (
	"context"
	"fmt"
	"testing"
)

// TestOnlineTrial: promote => 'if_better_online' serves a new version to a
// share of the users beside the deployed one, and the refresh worker
// deploys it only if its decisions' hit rate beat the deployed one's.
func TestOnlineTrial(t *testing.T) {
	db := srv.NewDatabase(t)
	addr, _ := refreshProxy(t, db, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE r AS
SELECT u, i, 1 + (u * 7 + i * 3) % 5 AS v FROM generate_series(1, 200) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0;
CREATE TABLE clicks (customer int, product int, at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r))")
	const challenger = `SELECT deployed FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r WHERE u %% %d <> 0),
	promote => 'if_better_online', traffic => 0.3, events => (SELECT customer, product, at FROM clicks), within => '%s')`
	if deployed := scalar[bool](t, conn, fmt.Sprintf(challenger, 7, "2 seconds")); deployed {
		t.Fatal("an online challenger was deployed at once")
	}
	if s := scalar[string](t, conn, "SELECT deployed_version || ' ' || trial_version || ' ' || trial_traffic FROM flywheel.models WHERE name = 'recs'"); s != "1 2 0.3" {
		t.Fatalf("flywheel.models deployed, trial version, traffic: %q", s)
	}
	if s := scalar[string](t, conn, "SELECT status FROM flywheel.model_versions WHERE model = 'recs' AND version = 2"); s != "trial" {
		t.Fatalf("version 2's status %q, want trial", s)
	}

	// Both versions serve, each user always from the same one.
	serve := `SELECT count(*) FROM generate_series(1, 200) u CROSS JOIN LATERAL recommend(u, 3, model => 'recs', log => true) x`
	scalar[int64](t, conn, serve)
	scalar[int64](t, conn, serve)
	if n := scalar[int64](t, conn, "SELECT count(*) FROM (SELECT user_key FROM flywheel.decisions GROUP BY user_key HAVING count(DISTINCT version) > 1) d"); n != 0 {
		t.Fatalf("%d users were served by both versions", n)
	}
	share := scalar[float64](t, conn, "SELECT count(DISTINCT user_key) FILTER (WHERE version = 2)::float8 / count(DISTINCT user_key) FROM flywheel.decisions")
	if share < 0.15 || share > 0.45 {
		t.Fatalf("the challenger served %.2f of the users, want about 0.3", share)
	}

	// The challenger's first recommendations get clicked, the champion's
	// do not: after the window, version 2 is deployed.
	if _, err := conn.Exec(ctx, `INSERT INTO clicks SELECT user_key::int, item::int, served_at + interval '1 second'
FROM flywheel.decisions WHERE version = 2 AND rank = 1`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the challenger promoted", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.models WHERE name = 'recs' AND deployed_version = 2 AND trial_version IS NULL") == 1
	})
	if s := scalar[string](t, conn, "SELECT result FROM flywheel.trials WHERE model = 'recs'"); s[:8] != "promoted" {
		t.Fatalf("trial result %q", s)
	}
	if n := scalar[int64](t, conn, `SELECT count(*) FROM flywheel.trials WHERE model = 'recs' AND champion = 1 AND challenger = 2
	AND challenger_hit_rate > 0 AND champion_hit_rate = 0 AND champion_decisions > challenger_decisions`); n != 1 {
		t.Fatal("flywheel.trials does not show the scores that decided")
	}

	// A challenger whose decisions fare worse is kept as a version only.
	scalar[bool](t, conn, fmt.Sprintf(challenger, 5, "2 seconds"))
	scalar[int64](t, conn, serve)
	if _, err := conn.Exec(ctx, `INSERT INTO clicks SELECT user_key::int, item::int, served_at + interval '1 second'
FROM flywheel.decisions WHERE version = 2 AND served_at >= (SELECT started_at FROM flywheel.trials WHERE model = 'recs')`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the trial of version 3 decided", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.trials WHERE model = 'recs' AND challenger = 3 AND decided_at IS NOT NULL") == 1
	})
	if s := scalar[string](t, conn, "SELECT deployed_version || ' ' || v.status || ' ' || left(result, 4) FROM flywheel.models m, flywheel.model_versions v, flywheel.trials tr WHERE m.name = 'recs' AND v.model = 'recs' AND v.version = 3 AND tr.model = 'recs'"); s != "2 challenger kept" {
		t.Fatalf("after a losing trial: %q", s)
	}

	// rollback during a trial ends it: the deployed version serves all.
	scalar[bool](t, conn, fmt.Sprintf(challenger, 3, "1 hour"))
	if v := scalar[int32](t, conn, "SELECT version FROM flywheel.rollback('recs')"); v != 2 {
		t.Fatalf("rollback during a trial deployed version %d, want 2 kept", v)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM flywheel.decisions"); err != nil {
		t.Fatal(err)
	}
	scalar[int64](t, conn, serve)
	if s := scalar[string](t, conn, "SELECT string_agg(DISTINCT version::text, ',') || ' ' || (SELECT result FROM flywheel.trials) FROM flywheel.decisions"); s != "2 ended: rolled back" {
		t.Fatalf("after rolling back a trial: %q", s)
	}

	for sql, want := range map[string]string{
		"SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), promote => 'if_better_online', traffic => 0.9, events => (SELECT customer, product, at FROM clicks))":   "22023",
		"SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), traffic => 0.1)":                                                                                        "22023",
		"SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), promote => 'if_better_online')":                                                                         "22023",
		"SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), promote => 'if_better_online', events => (SELECT customer, product FROM clicks))":                       "42804",
		"SELECT * FROM flywheel.train('km', 'kmeans', (SELECT u, i, v FROM r), promote => 'if_better_online', events => (SELECT customer, product, at FROM clicks))":                        "0A000",
		"SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), promote => 'if_better_online', events => (SELECT customer, product, at FROM clicks), within => 'soon')": "22007",
		"SELECT * FROM flywheel.outcomes('recs', events => (SELECT customer, product, at FROM clicks), within => 'soon')":                                                                   "22007",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
}
