package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
)

// refreshProxy serves db through a Flywheel whose store runs the refresh
// worker with fast test ticks; id names it in refreshed_by.
func refreshProxy(t *testing.T, db, id string) (string, *models.Store) {
	t.Helper()
	store, err := models.Open(context.Background(), models.Config{URL: srv.URL(db), Decode: catalog.DecodeModel,
		Refresh: models.RefreshConfig{Workers: 1, Tick: 50 * time.Millisecond, LeaseRetry: 100 * time.Millisecond,
			ChangeCheck: 100 * time.Millisecond, ID: id}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return serveProxy(t, db, planner.Options{Models: store}, catalog.Builtin()), store
}

// eventually polls cond until it holds, failing after a generous
// deadline: refreshes run in the background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const refreshTrain = `SELECT version FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings), refresh => %s)`

// TestRefreshInterval: a model with refresh => '1 second' retrains on the
// rows that landed since, and the new version serves them.
func TestRefreshInterval(t *testing.T) {
	db := srv.NewDatabase(t)
	addr, _ := refreshProxy(t, db, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	if v := scalar[int32](t, conn, fmt.Sprintf(refreshTrain, "'1 second'")); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	if p := scalar[string](t, conn, "SELECT refresh || ' ' || (next_refresh IS NOT NULL) || ' ' || (last_error IS NULL) FROM flywheel.models WHERE name = 'recs'"); p != "00:00:01 true true" {
		t.Fatalf("flywheel.models: refresh, next_refresh set, no error: %q", p)
	}
	predict := "SELECT count(*) FROM recommend(4, 5, model => 'recs')"
	if n := scalar[int64](t, conn, predict); n != 0 {
		t.Fatalf("%d recommendations for user 4 before they rated anything", n)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO ratings VALUES (4, 101, 5), (4, 102, 4)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refreshed version trained on 10 rows", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND rows = 10 AND refreshed_by = 'a'") > 0
	})
	eventually(t, "a recommendation for user 4", func() bool { return scalar[int64](t, conn, predict) > 0 })
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND status = 'failed'"); n != 0 {
		t.Fatalf("%d failed versions", n)
	}
	// A train without refresh => ends the policy.
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings))")
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.models WHERE name = 'recs' AND refresh IS NULL AND next_refresh IS NULL"); n != 1 {
		t.Fatal("a train without refresh => left the policy in place")
	}
}

// TestRefreshOnChange: on_change measures the input and retrains only
// when it grew: by row count, or by a watermark column's maximum.
func TestRefreshOnChange(t *testing.T) {
	db := srv.NewDatabase(t)
	addr, _ := refreshProxy(t, db, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup+`;
CREATE TABLE points (id int, x float8, y float8);
INSERT INTO points SELECT g, g % 7, g % 3 FROM generate_series(1, 40) g`); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, fmt.Sprintf(refreshTrain, "'on_change'"))
	scalar[int32](t, conn, `SELECT version FROM flywheel.train('segs', 'kmeans', (SELECT id, x, y FROM points), k => 2,
	refresh => 'on_change', watermark => 'id')`)
	if p := scalar[string](t, conn, "SELECT string_agg(refresh, ',' ORDER BY name) FROM flywheel.models"); p != "on_change,on_change" {
		t.Fatalf("refresh column %q", p)
	}
	// measured waits until the worker has measured name's input twice
	// since now: the second measurement began after the first ended, so
	// after anything committed before this call.
	measured := func(name string) {
		t.Helper()
		for range 2 {
			since := scalar[time.Time](t, conn, "SELECT now()")
			eventually(t, "a measurement of "+name, func() bool {
				return scalar[bool](t, conn, "SELECT next_refresh > $2::timestamptz + interval '100 milliseconds' FROM flywheel.model_refresh WHERE model = $1", name, since)
			})
		}
	}
	// Nothing changed.
	measured("recs")
	measured("segs")
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions"); n != 2 {
		t.Fatalf("%d versions with nothing changed, want 2", n)
	}
	// A changed value grows neither the row count nor the watermark.
	if _, err := conn.Exec(ctx, "UPDATE ratings SET rating = 1 WHERE user_id = 3; UPDATE points SET x = x + 1 WHERE id < 5"); err != nil {
		t.Fatal(err)
	}
	measured("recs")
	measured("segs")
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions"); n != 2 {
		t.Fatalf("%d versions after updates that grew nothing, want 2", n)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO ratings VALUES (4, 101, 5); INSERT INTO points VALUES (41, 1, 1)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both models retrained", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE version = 2 AND status = 'deployed' AND refreshed_by = 'a'") == 2
	})
	if n := scalar[int64](t, conn, "SELECT rows FROM flywheel.model_versions WHERE model = 'segs' AND version = 2"); n != 41 {
		t.Fatalf("the refreshed kmeans trained on %d rows, want 41", n)
	}
	// A lower id is no new watermark.
	if _, err := conn.Exec(ctx, "INSERT INTO points VALUES (0, 2, 2)"); err != nil {
		t.Fatal(err)
	}
	measured("segs")
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'segs'"); n != 2 {
		t.Fatalf("%d kmeans versions after a row below the watermark, want 2", n)
	}
}

// TestRefreshOneLeader runs two Flywheels with workers on one database:
// one holds the lease and runs every refresh, one version per due time;
// when it stops, the other takes over.
func TestRefreshOneLeader(t *testing.T) {
	db := srv.NewDatabase(t)
	addrA, a := refreshProxy(t, db, "a")
	addrB, b := refreshProxy(t, db, "b")
	ca, cb := connect(t, addrA, db), connect(t, addrB, db)
	ctx := context.Background()
	eventually(t, "a leader", func() bool { return a.RefreshStatus().Leading || b.RefreshStatus().Leading })
	if a.RefreshStatus().Leading && b.RefreshStatus().Leading {
		t.Fatal("both Flywheels hold the lease")
	}
	leader, other, otherConn, otherID := a, b, cb, "b"
	if b.RefreshStatus().Leading {
		leader, other, otherConn, otherID = b, a, ca, "a"
	}
	leaderID := map[*models.Store]string{a: "a", b: "b"}[leader]
	if _, err := ca.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, ca, fmt.Sprintf(refreshTrain, "'1 second'"))
	versions := func(by string) int64 {
		return scalar[int64](t, otherConn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND refreshed_by = $1", by)
	}
	eventually(t, "three refreshes", func() bool { return versions(leaderID) >= 3 })
	if n := versions(otherID); n != 0 || other.RefreshStatus().Refreshed != 0 {
		t.Fatalf("the Flywheel without the lease made %d versions", n)
	}
	noDuplicates := func() {
		t.Helper()
		if d := scalar[int64](t, otherConn, `SELECT count(*) - count(DISTINCT refresh_due) FROM flywheel.model_versions
WHERE model = 'recs' AND refresh_due IS NOT NULL`); d != 0 {
			t.Fatalf("%d versions share a due time with another", d)
		}
	}
	noDuplicates()

	leader.Close()
	eventually(t, "the other Flywheel taking over", func() bool { return other.RefreshStatus().Leading })
	eventually(t, "refreshes by the new leader", func() bool { return versions(otherID) >= 2 })
	noDuplicates()
	if n := scalar[int64](t, otherConn, "SELECT count(*) FROM recommend(1, 5, model => 'recs')"); n == 0 {
		t.Fatal("no recommendations from the refreshed model")
	}
	if n := scalar[int64](t, otherConn, "SELECT count(*) FROM flywheel.model_versions WHERE status = 'failed'"); n != 0 {
		t.Fatalf("%d failed versions", n)
	}
}

// TestRefreshFailureKeepsServing: a refresh whose input fails records a
// failed version with the error, once per distinct error; the deployed
// version keeps serving, and once the input is fixed refreshes succeed.
func TestRefreshFailureKeepsServing(t *testing.T) {
	db := srv.NewDatabase(t)
	addr, _ := refreshProxy(t, db, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, fmt.Sprintf(refreshTrain, "'1 second'"))
	predict := "SELECT count(*) FROM recommend(2, 5, model => 'recs')"
	want := scalar[int64](t, conn, predict)
	failed := func() int64 {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND status = 'failed' AND error <> ''")
	}
	ready := func() int64 {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND status <> 'failed'")
	}

	// A column type change: the model's columns would change under it.
	if _, err := conn.Exec(ctx, "ALTER TABLE ratings ALTER COLUMN rating TYPE text"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed version", func() bool { return failed() == 1 })
	if e := scalar[string](t, conn, "SELECT last_error FROM flywheel.models WHERE name = 'recs'"); e == "" {
		t.Fatal("flywheel.models shows no last_error")
	}
	if n := scalar[int64](t, conn, predict); n != want {
		t.Fatalf("after a failed refresh: %d recommendations, want %d", n, want)
	}
	// The same failure again is counted on the policy, not stored again.
	eventually(t, "three failures", func() bool {
		return scalar[int32](t, conn, "SELECT failures FROM flywheel.model_refresh WHERE model = 'recs'") >= 3
	})
	if n := failed(); n != 1 {
		t.Fatalf("%d failed versions for one repeated error, want 1", n)
	}

	// Fixed: the next refresh succeeds and clears the error.
	before := ready()
	if _, err := conn.Exec(ctx, "ALTER TABLE ratings ALTER COLUMN rating TYPE int USING rating::int"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refresh after the fix", func() bool { return ready() > before })
	eventually(t, "the error cleared", func() bool {
		return scalar[bool](t, conn, "SELECT last_error IS NULL FROM flywheel.models WHERE name = 'recs'")
	})

	// A dropped table.
	if _, err := conn.Exec(ctx, "DROP TABLE ratings"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second failed version", func() bool { return failed() == 2 })
	if e := scalar[string](t, conn, "SELECT error FROM flywheel.model_versions WHERE model = 'recs' AND status = 'failed' ORDER BY version DESC LIMIT 1"); e == "" || e == scalar[string](t, conn, "SELECT error FROM flywheel.model_versions WHERE model = 'recs' AND status = 'failed' ORDER BY version LIMIT 1") {
		t.Fatalf("the dropped table's error: %q", e)
	}
	if n := scalar[int64](t, conn, predict); n != want {
		t.Fatalf("after the table was dropped: %d recommendations, want %d", n, want)
	}
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	before = ready()
	eventually(t, "a refresh after the table is back", func() bool { return ready() > before })
}

// TestRefreshArguments: bad policies are 22023 and the like; a policy is
// part of the session's transaction.
func TestRefreshArguments(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ args, code string }{
		{"refresh => '-5 minutes'", "22023"},
		{"refresh => 'never-ish'", "22023"},
		{"refresh => '0.5 seconds'", "22023"},
		{"refresh => '2 years'", "22023"},
		{"refresh => '10 minutes', watermark => 'user_id'", "22023"},
		{"watermark => 'user_id'", "22023"},
		{"refresh => 'on_change', watermark => 'nope'", "42703"},
	} {
		_, err := conn.Exec(ctx, "SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings), "+c.args+")")
		if code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.args, err, c.code)
		}
	}
	_, err := conn.Exec(ctx, "SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings WHERE user_id <> $1), refresh => '1 hour')", 2)
	if code(err) != "0A000" {
		t.Errorf("a policy on an input with parameters: %v, want 0A000", err)
	}
	_, err = conn.Exec(ctx, `SELECT * FROM flywheel.train('recs', 'recommend',
	(SELECT user_id, cluster, distance FROM kmeans((SELECT user_id, product_id, rating FROM ratings), 2)), refresh => '1 hour')`)
	if code(err) != "0A000" {
		t.Errorf("a policy on an input that calls a model function: %v, want 0A000", err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions"); n != 0 {
		t.Fatalf("refused policies left %d versions", n)
	}
	// Inside a transaction: a bad interval fails the statement, as
	// PostgreSQL's own errors do, and ROLLBACK takes a policy along.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(refreshTrain, "'1 hour'")); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.models WHERE refresh = '01:00:00'"); n != 1 {
		t.Fatal("the policy is not visible in its transaction")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_refresh"); n != 0 {
		t.Fatal("ROLLBACK left a policy")
	}
	scalar[int32](t, conn, fmt.Sprintf(refreshTrain, "'1 hour'"))
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.models WHERE refresh = '01:00:00' AND next_refresh > now() + interval '59 minutes'"); n != 1 {
		t.Fatal("no policy due in an hour")
	}
}

// TestRefreshLearn: refresh_mode => 'learn' learns only the input's rows
// past the watermark into the deployed version, as flywheel.learn does,
// on an on_change and on an interval policy.
func TestRefreshLearn(t *testing.T) {
	db := srv.NewDatabase(t)
	addr, _ := refreshProxy(t, db, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT setseed(0.5);
CREATE TABLE pts AS SELECT g AS id, random() * 10 AS a, random() * 5 + (g % 3) * 4 AS b FROM generate_series(1, 900) g;
CREATE TABLE sales AS SELECT s AS store, (date '2020-01-31' + make_interval(months => m))::date AS month,
	100 + 10 * length(s) + 2 * m + 5 * sin(m) AS units
FROM unnest(ARRAY['east', 'west']) s, generate_series(0, 23) m`); err != nil {
		t.Fatal(err)
	}
	// kmeans on_change: the refresh learns the 300 new rows; a twin model
	// that learns them through flywheel.learn gets the same centres.
	scalar[int32](t, conn, `SELECT version FROM flywheel.train('km', 'kmeans', (SELECT id, a, b FROM pts), k => 3,
	refresh => 'on_change', watermark => 'id', refresh_mode => 'learn')`)
	scalar[int32](t, conn, "SELECT version FROM flywheel.train('twin', 'kmeans', (SELECT id, a, b FROM pts), k => 3)")
	if m := scalar[string](t, conn, "SELECT refresh || ' ' || refresh_mode FROM flywheel.models WHERE name = 'km'"); m != "on_change learn" {
		t.Fatalf("flywheel.models refresh, refresh_mode: %q", m)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO pts SELECT g, 30.0, 30.0 FROM generate_series(901, 1200) g"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a learned version of km", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'km' AND version = 2 AND status = 'deployed'") == 1
	})
	if got := scalar[string](t, conn, "SELECT rows || ' ' || (metrics ->> 'learned_rows') FROM flywheel.model_versions WHERE model = 'km' AND version = 2"); got != "300 300" {
		t.Fatalf("learned version's rows, learned_rows: %q", got)
	}
	scalar[int32](t, conn, "SELECT version FROM flywheel.learn('twin', (SELECT id, a, b FROM pts WHERE id > 900))")
	if d := scalar[float64](t, conn, `SELECT abs(a.distance - b.distance) FROM kmeans((SELECT 0 AS id, 30.0 AS a, 30.0 AS b), model => 'km') a,
	kmeans((SELECT 0 AS id, 30.0 AS a, 30.0 AS b), model => 'twin') b`); d != 0 {
		t.Fatalf("the refresh's learning and flywheel.learn's differ: distance %g apart", d)
	}

	// holt_forecast on an interval: each refresh learns the months past
	// the last one learned.
	scalar[int32](t, conn, `SELECT version FROM flywheel.train('hw', 'holt_forecast', (SELECT store, month, units FROM sales), trend => 'add',
	refresh => '1 second', watermark => 'month', refresh_mode => 'learn')`)
	if _, err := conn.Exec(ctx, "INSERT INTO sales VALUES ('west', '2022-01-31', 160), ('west', '2022-02-28', 163)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "west's forecasts past its learned months", func() bool {
		return scalar[string](t, conn, "SELECT string_agg(store || ' ' || month, ', ' ORDER BY store) FROM holt_forecast(1, model => 'hw')") == "east 2022-01-31, west 2022-03-31"
	})

	for sql, want := range map[string]string{
		"SELECT * FROM flywheel.train('x', 'kmeans', (SELECT id, a, b FROM pts), refresh => 'on_change', refresh_mode => 'learn')":                                             "22023",
		"SELECT * FROM flywheel.train('x', 'kmeans', (SELECT id, a, b FROM pts), refresh_mode => 'learn', watermark => 'id')":                                                  "22023",
		"SELECT * FROM flywheel.train('x', 'kmeans', (SELECT id, a, b FROM pts), refresh => 'on_change', watermark => 'id', refresh_mode => 'sometimes')":                      "22023",
		"SELECT * FROM flywheel.train('x', 'recommend', (SELECT id, id % 7, b FROM pts), method => 'nmf', refresh => 'on_change', watermark => 'id', refresh_mode => 'learn')": "0A000",
		"SELECT * FROM flywheel.train('x', 'kmeans', (SELECT id, a, b FROM pts), refresh => '1 minute', watermark => 'id')":                                                    "22023",
	} {
		if _, err := conn.Exec(ctx, sql); code(err) != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
}
