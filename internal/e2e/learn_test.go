package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5"
)

// TestModelLearn: flywheel.learn updates the deployed model with new rows
// as a new version, equal to training on everything where the algorithm's
// rule allows it.
func TestModelLearn(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT setseed(0.75);
CREATE TABLE tr AS SELECT g AS id, random() AS x1, random() AS x2 FROM generate_series(1, 600) g;
ALTER TABLE tr ADD COLUMN y float8; UPDATE tr SET y = 3 * x1 - 2 * x2 + 0.5 + random() * 0.1;
CREATE TABLE r AS SELECT DISTINCT ON (u, i) u, i, (1 + floor(random() * 5))::int AS v
	FROM (SELECT (random() * 150)::int AS u, (random() * 40)::int AS i FROM generate_series(1, 3000)) s;
CREATE TABLE pts AS SELECT g AS id, random() * 10 AS a, random() * 5 + (g % 3) * 4 AS b FROM generate_series(1, 900) g`); err != nil {
		t.Fatal(err)
	}

	// sgd: train on the first 400 rows, learn the other 200: the same
	// regressor as one pass over all 600.
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('split', 'sgd_regress', (SELECT x1, x2, y FROM tr WHERE id <= 400 ORDER BY id))")
	if v := scalar[int32](t, conn, "SELECT version FROM flywheel.learn('split', (SELECT x1, x2, y FROM tr WHERE id > 400 ORDER BY id))"); v != 2 {
		t.Fatalf("learn made version %d, want 2", v)
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('whole', 'sgd_regress', (SELECT x1, x2, y FROM tr ORDER BY id))")
	diff := scalar[float64](t, conn, `SELECT max(abs(a.prediction - b.prediction))
FROM sgd_regress(predict => (SELECT id, x1, x2 FROM tr), model => 'split') a
JOIN sgd_regress(predict => (SELECT id, x1, x2 FROM tr), model => 'whole') b USING (id)`)
	if diff > 1e-12 {
		t.Fatalf("learned in two parts vs one pass: predictions differ by %g", diff)
	}

	// user_cf: learning ratings equals training on the union, a new
	// rating of a rated pair replacing the old one.
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r WHERE u % 4 <> 0))")
	scalar[int32](t, conn, `SELECT version FROM flywheel.learn('cf', (SELECT u, i, v FROM r WHERE u % 4 = 0
	UNION ALL SELECT u, i, 6 - v FROM r WHERE u = 1))`)
	if _, err := conn.Exec(ctx, "UPDATE r SET v = 6 - v WHERE u = 1"); err != nil {
		t.Fatal(err)
	}
	n := scalar[int64](t, conn, `SELECT count(*) FROM (
	(SELECT u, x.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, model => 'cf') x
	 EXCEPT ALL
	 SELECT u, x.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, ratings => (SELECT u, i, v FROM r)) x)
	UNION ALL
	(SELECT u, x.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, ratings => (SELECT u, i, v FROM r)) x
	 EXCEPT ALL
	 SELECT u, x.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, model => 'cf') x)) d`)
	if n != 0 {
		t.Fatalf("learned user_cf differs from training on the union in %d rows", n)
	}

	// kmeans: new rows move their centres toward them; the clusters'
	// numbers stay.
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('km', 'kmeans', (SELECT id, a, b FROM pts), k => 3)")
	before := scalar[float64](t, conn, "SELECT distance FROM kmeans((SELECT 0 AS id, 30.0 AS a, 30.0 AS b), model => 'km')")
	scalar[int32](t, conn, "SELECT version FROM flywheel.learn('km', (SELECT g AS id, 30.0 AS a, 30.0 AS b FROM generate_series(1, 300) g))")
	after := scalar[float64](t, conn, "SELECT distance FROM kmeans((SELECT 0 AS id, 30.0 AS a, 30.0 AS b), model => 'km')")
	if !(after < before) {
		t.Fatalf("a centre did not move toward 300 new rows at (30, 30): distance %g before, %g after", before, after)
	}
	if v := scalar[int64](t, conn, "SELECT rows FROM flywheel.model_versions WHERE model = 'km' AND version = 2"); v != 300 {
		t.Fatalf("learned version's rows %d, want 300", v)
	}

	// holt_forecast: each series' state advances through its new months
	// with the fitted parameters; forecasts continue after them.
	if _, err := conn.Exec(ctx, `CREATE TABLE sales AS
SELECT s AS store, (date '2020-01-31' + make_interval(months => m))::date AS month,
       100 + 10 * length(s) + 2 * m + 5 * sin(m) AS units
FROM unnest(ARRAY['east', 'west']) s, generate_series(0, 29) m`); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, `SELECT version FROM flywheel.train('hw', 'holt_forecast', (SELECT store, month, units FROM sales WHERE month < '2022-01-01'), trend => 'add')`)
	alpha := scalar[float64](t, conn, "SELECT alpha FROM holt_fit(model => 'hw') WHERE store = 'west'")
	sse := scalar[float64](t, conn, "SELECT sse FROM holt_fit(model => 'hw') WHERE store = 'west'")
	if v := scalar[int32](t, conn, "SELECT version FROM flywheel.learn('hw', (SELECT store, month, units FROM sales WHERE month >= '2022-01-01' AND store = 'west'))"); v != 2 {
		t.Fatalf("holt learn made version %d, want 2", v)
	}
	if a := scalar[float64](t, conn, "SELECT alpha FROM holt_fit(model => 'hw') WHERE store = 'west'"); a != alpha {
		t.Fatalf("learn changed alpha from %v to %v", alpha, a)
	}
	if s := scalar[float64](t, conn, "SELECT sse FROM holt_fit(model => 'hw') WHERE store = 'west'"); !(s > sse) {
		t.Fatalf("learn did not add the new months' errors: sse %v, before %v", s, sse)
	}
	if got := scalar[string](t, conn, "SELECT string_agg(store || ' ' || month, ', ' ORDER BY store) FROM holt_forecast(1, model => 'hw')"); got != "east 2022-01-31, west 2022-07-31" {
		t.Fatalf("forecasts after learning west's months: %s", got)
	}
	for sql, want := range map[string]string{
		// a gap: the model's next west month is 2022-07-31
		"SELECT * FROM flywheel.learn('hw', (SELECT 'west', date '2022-08-31', 1.0))": "22023",
		// a repeat of a learned month
		"SELECT * FROM flywheel.learn('hw', (SELECT 'west', date '2022-06-30', 1.0))":  "22023",
		"SELECT * FROM flywheel.learn('hw', (SELECT 'north', date '2022-01-31', 1.0))": "22023",
		"SELECT * FROM flywheel.learn('hw', (SELECT store, units FROM sales))":         "42804",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}

	// Bad input.
	for sql, want := range map[string]string{
		"SELECT * FROM flywheel.learn('split', (SELECT x1, y FROM tr))":                 "42804",
		"SELECT * FROM flywheel.learn('nope', (SELECT x1, x2, y FROM tr))":              "42704",
		"SELECT * FROM flywheel.learn('split', (SELECT x1, x2, y FROM tr WHERE false))": "22023",
		"SELECT * FROM flywheel.learn('km', (SELECT id, a, 'x'::text FROM pts))":        "42804",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('mf', 'recommend', (SELECT u, i, v FROM r), method => 'nmf', k => 3)")
	if _, err := conn.Exec(ctx, "SELECT * FROM flywheel.learn('mf', (SELECT u, i, v FROM r))"); code(err) != "0A000" {
		t.Errorf("learn of an nmf recommender: %v, want 0A000", err)
	}
}

// TestModelLearnDelta: a user_cf learn of few ratings is stored as a
// delta on the version it learned from; every version, deltas included,
// serves what training on its ratings would, through this Flywheel (which
// kept the learned models) and another one (which builds them from the
// chain); after maxDeltas deltas a learn stores the whole state again;
// rollback and deploy reach any version; drop removes them all.
func TestModelLearnDelta(t *testing.T) {
	db := srv.NewDatabase(t)
	a, b := serveProxy(t, db, planner.Options{}, catalog.Builtin()), serveProxy(t, db, planner.Options{}, catalog.Builtin())
	ca, cb := connect(t, a, db), connect(t, b, db)
	ctx := context.Background()
	if _, err := ca.Exec(ctx, `SELECT setseed(0.25);
CREATE TABLE r AS SELECT DISTINCT ON (u, i) u, i, (1 + floor(random() * 5))::int AS v, 0 AS batch
	FROM (SELECT (random() * 300)::int AS u, (random() * 40)::int AS i FROM generate_series(1, 6000)) s;
-- Batches 1-10: a few ratings each, new users, new items and re-rated pairs.
INSERT INTO r SELECT 1000 + g, g % 45, 1 + g % 5, 1 + g / 10 FROM generate_series(0, 99) g;
CREATE TABLE rerate AS SELECT u, i, 6 - v AS v, 3 AS batch FROM r WHERE batch = 0 AND u = 7`); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, ca, "SELECT version FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r WHERE batch = 0))")
	// union is version's ratings: the base, the batches learned up to it,
	// and the re-rating learned with batch 3.
	union := func(upTo int) string {
		return fmt.Sprintf(`SELECT DISTINCT ON (u, i) u, i, v FROM (
	SELECT u, i, v, batch, 0 AS o FROM r WHERE batch <= %d UNION ALL SELECT u, i, v, batch, 1 FROM rerate WHERE batch <= %d) s
ORDER BY u, i, o DESC`, upTo, upTo)
	}
	check := func(c *pgx.Conn, version, upTo int) {
		t.Helper()
		n := scalar[int64](t, c, fmt.Sprintf(`WITH us AS (SELECT DISTINCT u FROM r WHERE batch <= %[1]d)
SELECT count(*) FROM (
	(SELECT u, x.* FROM us CROSS JOIN LATERAL recommend(us.u, 5, model => 'cf') x
	 EXCEPT ALL SELECT u, x.* FROM us CROSS JOIN LATERAL recommend(us.u, 5, ratings => (%[2]s)) x)
	UNION ALL
	(SELECT u, x.* FROM us CROSS JOIN LATERAL recommend(us.u, 5, ratings => (%[2]s)) x
	 EXCEPT ALL SELECT u, x.* FROM us CROSS JOIN LATERAL recommend(us.u, 5, model => 'cf') x)) d`, upTo, union(upTo)))
		if n != 0 {
			t.Fatalf("version %d differs from training on its ratings in %d rows", version, n)
		}
	}
	waitVersion := func(c *pgx.Conn, version int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for scalar[int32](t, c, "SELECT deployed_version FROM flywheel.models WHERE name = 'cf'") != int32(version) {
			if time.Now().After(deadline) {
				t.Fatalf("version %d not deployed after 10 s", version)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for batch := 1; batch <= 10; batch++ {
		q := fmt.Sprintf("SELECT version FROM flywheel.learn('cf', (SELECT u, i, v FROM r WHERE batch = %d", batch)
		if batch == 3 {
			q += " UNION ALL SELECT u, i, v FROM rerate"
		}
		if v := scalar[int32](t, ca, q+"))"); v != int32(batch+1) {
			t.Fatalf("learn made version %d, want %d", v, batch+1)
		}
		check(ca, batch+1, batch)
		waitVersion(cb, batch+1)
		// The other Flywheel's cache drops the old version on the NOTIFY;
		// it may serve it for a moment first.
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := scalar[int64](t, cb, fmt.Sprintf("SELECT count(*) FROM (SELECT DISTINCT u FROM r WHERE batch = %d) us CROSS JOIN LATERAL recommend(us.u, 5, model => 'cf') x", batch))
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		check(cb, batch+1, batch)
	}
	// Versions 2-9 are deltas on the one before; the 9th delta in a row
	// is stored whole, and the next is a delta on it.
	var bases []string
	rows, err := ca.Query(ctx, "SELECT version, coalesce(base_version::text, '-'), state_bytes FROM flywheel.model_versions WHERE model = 'cf' ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var wholeBytes int32
	for rows.Next() {
		var v, size int32
		var base string
		if err := rows.Scan(&v, &base, &size); err != nil {
			t.Fatal(err)
		}
		bases = append(bases, base)
		if v == 1 {
			wholeBytes = size
		} else if base != "-" && size*10 > wholeBytes {
			t.Errorf("delta version %d takes %d bytes, the whole state %d", v, size, wholeBytes)
		}
	}
	if want := "[- 1 2 3 4 5 6 7 8 - 10]"; fmt.Sprint(bases) != want {
		t.Fatalf("base versions %v, want %s", bases, want)
	}
	// A delta's base cannot go while the delta needs it.
	if _, err := ca.Exec(ctx, "DELETE FROM flywheel.model_version WHERE model = 'cf' AND version = 4"); err == nil {
		t.Fatal("deleted the base of a delta")
	}
	// Deploy a delta in the middle of a chain; a fresh Flywheel builds it.
	scalar[int32](t, ca, "SELECT version FROM flywheel.deploy('cf', 6)")
	c := connect(t, serveProxy(t, db, planner.Options{}, catalog.Builtin()), db)
	check(c, 6, 5)
	scalar[int32](t, ca, "SELECT version FROM flywheel.rollback('cf')")
	waitVersion(c, 11)
	check(c, 11, 10)
	// Learning from a version another Flywheel built from the chain.
	if _, err := cb.Exec(ctx, "INSERT INTO r VALUES (2000, 1, 5, 11), (2000, 2, 1, 11)"); err != nil {
		t.Fatal(err)
	}
	waitVersion(cb, 11)
	if v := scalar[int32](t, cb, "SELECT version FROM flywheel.learn('cf', (SELECT u, i, v FROM r WHERE batch = 11))"); v != 12 {
		t.Fatalf("learn made version %d, want 12", v)
	}
	check(ca, 12, 11)
	scalar[int64](t, ca, "SELECT count(*) FROM flywheel.drop_model('cf')")
	if n := scalar[int64](t, ca, "SELECT count(*) FROM flywheel.model_version WHERE model = 'cf'"); n != 0 {
		t.Fatalf("%d versions left after drop_model", n)
	}
}
