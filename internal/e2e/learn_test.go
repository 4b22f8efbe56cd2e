package e2e

import (
	"context"
	"testing"
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
