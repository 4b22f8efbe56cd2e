package e2e

import (
	"context"
	"fmt"
	"testing"
)

// TestModelKindsEqualInline checks on larger random inputs that
// holt_forecast, holt_fit, similar_items and nmf called with a trained
// model give exactly what the one-shot calls give on the training input,
// for single and LATERAL calls.
func TestModelKindsEqualInline(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT setseed(0.25);
CREATE TABLE sales AS
	SELECT 'store ' || s AS store, (date '2021-01-01' + make_interval(months => m))::date AS month,
	       (100 + 5 * s + m * (1 + s % 4) + 20 * sin(m * pi() / 6) + 10 * random())::numeric(10, 2) AS amount
	FROM generate_series(1, 16) s, generate_series(0, 35) m;
CREATE TABLE hourly AS
	SELECT timestamptz '2024-03-01 00:00:00+00' + make_interval(hours => h) AS at, 50 + h % 24 + random() AS load
	FROM generate_series(0, 95) h;
CREATE TABLE docs AS
	SELECT g AS id, (SELECT string_agg((ARRAY['red','green','blue','chair','table','lamp','wooden','steel','soft','modern','classic','small','large','outdoor','kitchen','office'])[1 + floor(random() * 16)::int], ' ')
	                 FROM generate_series(1, 3 + g % 5) w WHERE g > 0) AS body
	FROM generate_series(1, 300) g;
CREATE TABLE m AS SELECT DISTINCT ON (r, c) r, c, (1 + floor(random() * 5))::int AS v
	FROM (SELECT (random() * 60)::int AS r, 'c' || (random() * 40)::int AS c FROM generate_series(1, 900)) s`); err != nil {
		t.Fatal(err)
	}
	for _, train := range []string{
		"SELECT * FROM flywheel.train('hw', 'holt_forecast', (SELECT store, month, amount FROM sales), seasonal => 'add', seasonal_periods => 12)",
		"SELECT * FROM flywheel.train('hm', 'holt_forecast', (SELECT store, month, amount FROM sales), trend => 'add', damped => true, seasonal => 'mul', seasonal_periods => 12)",
		"SELECT * FROM flywheel.train('load', 'holt_forecast', (SELECT at, load FROM hourly), trend => 'none', seasonal => 'add', seasonal_periods => 24)",
		"SELECT * FROM flywheel.train('docs', 'similar_items', (SELECT id, body FROM docs))",
		"SELECT * FROM flywheel.train('mf', 'nmf', (SELECT r, c, v FROM m), k => 4, max_iter => 100)",
	} {
		if _, err := conn.Exec(ctx, train); err != nil {
			t.Fatalf("%s: %v", train, err)
		}
	}
	const hw = "(SELECT store, month, amount FROM sales), 6, seasonal => 'add', seasonal_periods => 12"
	const hm = "(SELECT store, month, amount FROM sales), 6, trend => 'add', damped => true, seasonal => 'mul', seasonal_periods => 12, level => 0.8"
	for _, pair := range [][2]string{
		{"SELECT * FROM holt_forecast(model => 'hw', horizon => 6)", "SELECT * FROM holt_forecast(" + hw + ")"},
		{"SELECT * FROM holt_forecast(6, model => 'hm', level => 0.8)", "SELECT * FROM holt_forecast(" + hm + ")"},
		{"SELECT f.* FROM (SELECT DISTINCT store FROM sales) s CROSS JOIN LATERAL holt_forecast(6, model => 'hw', series => s.store) f",
			"SELECT * FROM holt_forecast(" + hw + ")"},
		{"SELECT * FROM holt_forecast(6, model => 'hw', series => 'store 7')",
			"SELECT * FROM holt_forecast(" + hw + ") WHERE store = 'store 7'"},
		{"SELECT * FROM holt_fit(model => 'hm')",
			"SELECT * FROM holt_fit((SELECT store, month, amount FROM sales), trend => 'add', damped => true, seasonal => 'mul', seasonal_periods => 12)"},
		{"SELECT * FROM holt_forecast(30, model => 'load')",
			"SELECT * FROM holt_forecast((SELECT at, load FROM hourly), 30, trend => 'none', seasonal => 'add', seasonal_periods => 24)"},
		{"SELECT * FROM similar_items(NULL, 7, model => 'docs')",
			"SELECT * FROM similar_items((SELECT id, body FROM docs), NULL, 7)"},
		{"SELECT s.* FROM (SELECT id FROM docs WHERE id % 7 = 0) d CROSS JOIN LATERAL similar_items(d.id, n => 3, model => 'docs') s",
			"SELECT s.* FROM (SELECT id FROM docs WHERE id % 7 = 0) d CROSS JOIN LATERAL similar_items((SELECT id, body FROM docs), d.id, n => 3) s"},
		{"SELECT * FROM nmf(model => 'mf')", "SELECT * FROM nmf((SELECT r, c, v FROM m), 4, max_iter => 100)"},
		{"SELECT * FROM nmf(model => 'mf', only_missing => true)", "SELECT * FROM nmf((SELECT r, c, v FROM m), 4, max_iter => 100, only_missing => true)"},
	} {
		q := fmt.Sprintf("SELECT (SELECT count(*) FROM (%[1]s) a), (SELECT count(*) FROM ((%[1]s) EXCEPT ALL (%[2]s)) d) + (SELECT count(*) FROM ((%[2]s) EXCEPT ALL (%[1]s)) d)", pair[0], pair[1])
		var rows, diff int64
		if err := conn.QueryRow(ctx, q).Scan(&rows, &diff); err != nil {
			t.Fatalf("%s: %v", pair[0], err)
		}
		if rows == 0 || diff != 0 {
			t.Errorf("%s: %d rows, %d differ from the one-shot call's", pair[0], rows, diff)
		}
	}
	// The columns are the one-shot call's, names and types.
	for _, pair := range [][2]string{
		{"holt_forecast(6, model => 'hw')", "holt_forecast(" + hw + ")"},
		{"similar_items(1, model => 'docs')", "similar_items((SELECT id, body FROM docs), 1)"},
		{"nmf(model => 'mf')", "nmf((SELECT r, c, v FROM m), 4, max_iter => 100)"},
	} {
		var a, b []string
		for i, call := range pair {
			rows, err := conn.Query(ctx, "SELECT * FROM "+call+" LIMIT 0")
			if err != nil {
				t.Fatalf("%s: %v", call, err)
			}
			for _, f := range rows.FieldDescriptions() {
				d := fmt.Sprintf("%s:%d", f.Name, f.DataTypeOID)
				if i == 0 {
					a = append(a, d)
				} else {
					b = append(b, d)
				}
			}
			rows.Close()
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s has columns %v, the one-shot call %v", pair[0], a, b)
		}
	}
}

// TestHoltHoldoutAndEvaluate: holt_forecast models hold out each series'
// last observations and are measured on observations after their end,
// with the same numbers as the forecasts compared in SQL.
func TestHoltHoldoutAndEvaluate(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE sales AS
SELECT s AS store, (date '2020-01-31' + make_interval(months => m))::date AS month,
       100 + 10 * length(s) + 2 * m + 5 * sin(m) AS units
FROM unnest(ARRAY['east', 'west']) s, generate_series(0, 29) m`); err != nil {
		t.Fatal(err)
	}
	got := scalar[string](t, conn, `SELECT rows || ' ' || (metrics ->> 'holdout_rows') || ' ' || (metrics ? 'mae') || ' ' || (metrics ? 'interval_coverage_95')
FROM flywheel.train('hw', 'holt_forecast', (SELECT store, month, units FROM sales), trend => 'add', holdout => 0.2)`)
	if got != "48 12 true true" {
		t.Fatalf("train with holdout: rows, holdout_rows, mae, coverage: %q", got)
	}
	// The held-out rows are the last 6 months of each store: evaluate on
	// them gives the stored numbers, and mae is the forecasts' in SQL.
	const held = "(SELECT store, month, units FROM sales WHERE month >= '2022-01-01')"
	diff := scalar[float64](t, conn, `SELECT abs(e.value - (v.metrics ->> 'mae')::float8)
FROM flywheel.evaluate('hw', `+held+`) e, flywheel.model_versions v WHERE e.metric = 'mae' AND v.model = 'hw'`)
	if diff > 1e-9 {
		t.Fatalf("evaluate's mae differs from the holdout's by %g", diff)
	}
	diff = scalar[float64](t, conn, `SELECT abs((SELECT value FROM flywheel.evaluate('hw', `+held+`) WHERE metric = 'mae')
	- (SELECT avg(abs(s.units - f.forecast)) FROM holt_forecast(6, model => 'hw') f JOIN sales s USING (store, month)))`)
	if diff > 1e-9 {
		t.Fatalf("evaluate's mae differs from the forecasts' in SQL by %g", diff)
	}
	for sql, want := range map[string]string{
		"SELECT * FROM flywheel.evaluate('hw', (SELECT 'east', date '2022-01-15', 1.0))":  "22023",
		"SELECT * FROM flywheel.evaluate('hw', (SELECT 'east', date '2021-12-31', 1.0))":  "22023",
		"SELECT * FROM flywheel.evaluate('hw', (SELECT 'north', date '2022-01-31', 1.0))": "22023",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
}
