package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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

// modelStep is one statement of the lifecycle script and what it must
// give: a result table as the golden files write it, or "ERROR <sqlstate>".
type modelStep struct{ sql, want string }

const modelSetup = `CREATE TABLE ratings (user_id int, product_id int, rating int);
INSERT INTO ratings VALUES (1,101,5), (1,102,4), (1,103,3), (2,101,4), (2,104,5), (3,102,2), (3,103,3), (3,104,4)`

// modelLifecycle trains versions, deploys, rolls back and drops, in one
// session; every client runs it on a database of its own.
var modelLifecycle = []modelStep{
	{`SELECT model, version, kind, rows, deployed FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings))`,
		"model|version|kind|rows|deployed\nrecs|1|recommend|8|t"},
	{`SELECT version, deployed FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings WHERE user_id <> 2))`,
		"version|deployed\n2|t"},
	{`SELECT version, deployed FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings), method => 'nmf', k => 2, promote => 'never')`,
		"version|deployed\n3|f"},
	{`SELECT version, status, rows, options FROM flywheel.model_versions WHERE model = 'recs' ORDER BY version`,
		"version|status|rows|options\n1|challenger|8|{\"k\": 10, \"method\": \"user_cf\"}\n2|deployed|6|{\"k\": 10, \"method\": \"user_cf\"}\n3|challenger|8|{\"k\": 2, \"method\": \"nmf\"}"},
	// Version 2 never saw user 2.
	{`SELECT count(*) FROM recommend(2, 5, model => 'recs')`, "count\n0"},
	{`SELECT version FROM flywheel.deploy('recs', 3)`, "version\n3"},
	{`SELECT item, rank FROM recommend(1, 1, model => 'recs')`, "item|rank\n104|1"},
	{`SELECT version FROM flywheel.rollback('recs')`, "version\n2"},
	{`SELECT version FROM flywheel.rollback('recs')`, "version\n1"},
	{`SELECT version FROM flywheel.rollback('recs')`, "ERROR 22023"},
	{`SELECT item, score FROM recommend(1, 2, neighbors => 2, model => 'recs')`, "item|score\n104|4.5"},
	{`SELECT name, kind, deployed_version, versions FROM flywheel.models`, "name|kind|deployed_version|versions\nrecs|recommend|1|3"},
	{`SELECT * FROM flywheel.deploy('recs', 7)`, "ERROR 22023"},
	{`SELECT * FROM flywheel.deploy('rec', 1)`, "ERROR 42704"},
	{`SELECT * FROM recommend(1, 2, model => 'recs', method => 'nmf')`, "ERROR 22023"},
	{`SELECT * FROM kmeans((SELECT user_id, rating FROM ratings), model => 'recs')`, "ERROR 42809"},
	{`SELECT * FROM flywheel.train('recs', 'kmeans', (SELECT user_id, rating FROM ratings), k => 2)`, "ERROR 42809"},
	// A failed training leaves a failed version with the error.
	{`SELECT * FROM flywheel.train('segs', 'kmeans', (SELECT user_id, rating FROM ratings), k => 50)`, "ERROR 22023"},
	{`SELECT version, status, error IS NOT NULL AS has_error FROM flywheel.model_versions WHERE model = 'segs'`, "version|status|has_error\n1|failed|t"},
	{`SELECT * FROM flywheel.deploy('segs', 1)`, "ERROR 22023"},
	{`SELECT model, kind, deployed_version FROM flywheel.drop_model('recs')`, "model|kind|deployed_version\nrecs|recommend|1"},
	{`SELECT * FROM recommend(1, 2, model => 'recs')`, "ERROR 42704"},
	{`SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs'`, "count\n0"},
}

func TestModelLifecyclePgx(t *testing.T) {
	addr, db := startProxy(t)
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, modelSetup).ReadAll(); err != nil {
		t.Fatal(err)
	}
	for i, s := range modelLifecycle {
		// Alternate the protocols: the store must not care.
		var got string
		if i%2 == 0 {
			got = simpleResult(ctx, conn, s.sql)
		} else {
			got = preparedResult(ctx, conn, s.sql)
		}
		checkStep(t, "pgx", s, got)
	}
}

func TestModelLifecyclePSQL(t *testing.T) {
	addr, db := startProxy(t)
	var script strings.Builder
	script.WriteString(modelSetup + ";\n\\echo ====\n")
	for _, s := range modelLifecycle {
		script.WriteString(s.sql + ";\n\\echo ====\n")
	}
	out, _ := clients.PSQL(t, pgURL(addr, db), script.String(), "-v", "VERBOSITY=verbose", "-P", "footer=off", "-q")
	parts := strings.Split(out, "====\n")
	if len(parts) != len(modelLifecycle)+2 {
		t.Fatalf("psql gave %d outputs for %d statements:\n%s", len(parts)-2, len(modelLifecycle), out)
	}
	for i, s := range modelLifecycle {
		got := strings.TrimSuffix(parts[i+1], "\n")
		if m := psqlError.FindStringSubmatch(got); m != nil {
			got = "ERROR " + m[1]
		}
		checkStep(t, "psql", s, got)
	}
}

func TestModelLifecycleJDBC(t *testing.T) {
	addr, db := startProxy(t)
	var script strings.Builder
	script.WriteString("exec " + strings.ReplaceAll(modelSetup, "\n", " ") + "\n")
	for _, s := range modelLifecycle {
		script.WriteString("table " + s.sql + "\n")
	}
	out := clients.JDBC(t, fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres", addr, db), script.String())
	if strings.HasPrefix(out, "updated ") {
		out = out[strings.IndexByte(out, '\n')+1:] // the setup's
	}
	results := strings.Split(strings.TrimSuffix(out, "----\n"), "----\n")
	if len(results) != len(modelLifecycle) {
		t.Fatalf("JDBC gave %d results for %d statements:\n%s", len(results), len(modelLifecycle), out)
	}
	jdbcError := regexp.MustCompile(`^ERROR (\w+) `)
	for i, s := range modelLifecycle {
		got := strings.TrimSuffix(results[i], "\n")
		if m := jdbcError.FindStringSubmatch(got); m != nil {
			got = "ERROR " + m[1]
		}
		// pgJDBC prints booleans as true/false.
		got = strings.NewReplacer("|true", "|t", "|false", "|f").Replace(got)
		checkStep(t, "pgJDBC", s, got)
	}
}

func checkStep(t *testing.T, client string, s modelStep, got string) {
	t.Helper()
	if !strings.HasPrefix(s.want, "ERROR ") && regexp.MustCompile(`^\d{5}$`).MatchString(got) {
		got = "ERROR " + got
	}
	if s.want != got && !(strings.HasPrefix(s.want, "ERROR ") && "ERROR "+got == s.want) {
		t.Errorf("via %s:\n%s\ngot:\n%s\nwant:\n%s", client, s.sql, got, s.want)
	}
}

// connect opens a pgx connection to a proxy.
func connect(t *testing.T, addr, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func scalar[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestModelRollbackOfTransaction(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT * FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings))"); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions"); n != 1 {
		t.Fatalf("inside the transaction: %d versions, want 1", n)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions"); n != 0 {
		t.Fatalf("after ROLLBACK: %d versions, want 0", n)
	}
	_, err = conn.Exec(ctx, "SELECT * FROM recommend(1, 2, model => 'recs')")
	if code(err) != "42704" {
		t.Fatalf("predict after ROLLBACK: %v, want 42704", err)
	}
}

func code(err error) string {
	var pe *pgconn.PgError
	if err != nil && errors.As(err, &pe) {
		return pe.Code
	}
	return fmt.Sprint(err)
}

// TestModelSharedByProxies runs two Flywheels in front of one database:
// a model trained through one predicts through the other, a deploy on one
// reaches the other's cache, and concurrent trains number their versions
// one after the other.
func TestModelSharedByProxies(t *testing.T) {
	db := srv.NewDatabase(t)
	a, b := serveProxy(t, db, planner.Options{}, catalog.Builtin()), serveProxy(t, db, planner.Options{}, catalog.Builtin())
	ca, cb := connect(t, a, db), connect(t, b, db)
	ctx := context.Background()
	if _, err := ca.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	train := "SELECT version FROM flywheel.train('recs', 'recommend', (SELECT user_id, product_id, rating FROM ratings WHERE user_id <> $1))"
	if v := scalar[int32](t, ca, train, 0); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	predict := "SELECT count(*) FROM recommend(2, 5, model => 'recs')"
	if n := scalar[int64](t, cb, predict); n != 2 {
		t.Fatalf("through the other proxy: %d recommendations for user 2, want 2", n)
	}
	// Version 2 has no user 2. b has version 1 cached; the deploy's NOTIFY
	// must reach it.
	if v := scalar[int32](t, ca, train, 2); v != 2 {
		t.Fatalf("version %d, want 2", v)
	}
	deadline := time.Now().Add(10 * time.Second)
	for scalar[int64](t, cb, predict) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other proxy still predicts from version 1 after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Concurrent trains of one name through both proxies.
	var wg sync.WaitGroup
	versions := make([]int32, 6)
	errs := make([]error, 6)
	for i := range versions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := a
			if i%2 == 1 {
				addr = b
			}
			conn, err := pgx.Connect(ctx, pgURL(addr, db))
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close(ctx)
			errs[i] = conn.QueryRow(ctx, train, 0).Scan(&versions[i])
		}()
	}
	wg.Wait()
	seen := map[int32]bool{}
	for i, v := range versions {
		if errs[i] != nil {
			t.Fatalf("concurrent train %d: %v", i, errs[i])
		}
		seen[v] = true
	}
	for v := int32(3); v <= 8; v++ {
		if !seen[v] {
			t.Fatalf("concurrent trains made versions %v, want 3..8 once each", versions)
		}
	}
	if n := scalar[int64](t, ca, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND status <> 'failed'"); n != 8 {
		t.Fatalf("%d versions stored, want 8", n)
	}
}

// TestModelSurvivesRestart trains through one Flywheel, stops it, and
// predicts through a new one.
func TestModelSurvivesRestart(t *testing.T) {
	db := srv.NewDatabase(t)
	var want int64
	t.Run("first", func(t *testing.T) {
		addr := serveProxy(t, db, planner.Options{}, catalog.Builtin())
		conn := connect(t, addr, db)
		if _, err := conn.Exec(context.Background(), modelSetup); err != nil {
			t.Fatal(err)
		}
		scalar[int32](t, conn, "SELECT version FROM flywheel.train('segments', 'kmeans', (SELECT user_id, product_id, rating FROM ratings), k => 2, scale => 'standard')")
		want = scalar[int64](t, conn, "SELECT sum(cluster) FROM kmeans((SELECT user_id, product_id, rating FROM ratings), model => 'segments')")
	})
	addr := serveProxy(t, db, planner.Options{}, catalog.Builtin())
	conn := connect(t, addr, db)
	got := scalar[int64](t, conn, "SELECT sum(cluster) FROM kmeans((SELECT user_id, product_id, rating FROM ratings), model => 'segments')")
	inline := scalar[int64](t, conn, "SELECT sum(cluster) FROM kmeans((SELECT user_id, product_id, rating FROM ratings), 2, scale => 'standard')")
	if got != want || got != inline {
		t.Fatalf("after a restart the model gives %d, before %d, the one-shot call %d", got, want, inline)
	}
}

// TestModelCorruptState: a stored state that fails to decode is XX001
// naming the model and version; other models and the session go on.
func TestModelCorruptState(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"good", "bad"} {
		scalar[int32](t, conn, "SELECT version FROM flywheel.train($1, 'recommend', (SELECT user_id, product_id, rating FROM ratings))", name)
	}
	if _, err := conn.Exec(ctx, `UPDATE flywheel.model_version SET state = substr(state, 1, 20) WHERE model = 'bad';
SELECT pg_notify('flywheel_models', 'bad')`); err != nil {
		t.Fatal(err)
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = conn.Exec(ctx, "SELECT * FROM recommend(1, 2, model => 'bad')")
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // until the NOTIFY has dropped the cached copy
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "XX001" || !strings.Contains(pe.Message, `"bad" version 1`) {
		t.Fatalf("corrupt state: %v, want XX001 naming model \"bad\" version 1", err)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM recommend(1, 2, model => 'good')"); n != 1 {
		t.Fatalf("the other model gives %d rows, want 1", n)
	}
}

// TestModelEqualsInline checks on a larger random input that predicting
// from a trained model gives what the one-shot call gives, for single and
// LATERAL calls.
func TestModelEqualsInline(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT setseed(0.5);
CREATE TABLE r AS SELECT DISTINCT ON (u, i) u, i, (1 + floor(random() * 5))::int AS v
	FROM (SELECT (random() * 300)::int AS u, (random() * 80)::int AS i FROM generate_series(1, 6000)) s;
CREATE TABLE pts AS SELECT g AS id, random() * 10 AS a, random() * 5 + (g % 3) * 4 AS b FROM generate_series(1, 2000) g;
CREATE TABLE tr AS SELECT g AS id, random() AS x1, random() AS x2 FROM generate_series(1, 500) g;
ALTER TABLE tr ADD COLUMN y float8; UPDATE tr SET y = 3 * x1 - 2 * x2 + 0.5`); err != nil {
		t.Fatal(err)
	}
	for _, train := range []string{
		"SELECT * FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r), method => 'user_cf')",
		"SELECT * FROM flywheel.train('mf', 'recommend', (SELECT u, i, v FROM r), method => 'nmf', k => 4)",
		"SELECT * FROM flywheel.train('km', 'kmeans', (SELECT id, a, b FROM pts), k => 5, scale => 'minmax', seed => 3)",
		"SELECT * FROM flywheel.train('sgd', 'sgd_regress', (SELECT x1, x2, y FROM tr ORDER BY id), epochs => 3)",
	} {
		if _, err := conn.Exec(ctx, train); err != nil {
			t.Fatalf("%s: %v", train, err)
		}
	}
	for _, pair := range [][2]string{
		{"SELECT u, r.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 7, neighbors => 15, model => 'cf') r",
			"SELECT u, r.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 7, neighbors => 15, ratings => (SELECT u, i, v FROM r)) r"},
		{"SELECT u, r.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, model => 'mf') r",
			"SELECT u, r.* FROM (SELECT DISTINCT u FROM r) us CROSS JOIN LATERAL recommend(us.u, 5, method => 'nmf', k => 4, ratings => (SELECT u, i, v FROM r)) r"},
		{"SELECT * FROM kmeans((SELECT id, a, b FROM pts), model => 'km')",
			"SELECT * FROM kmeans((SELECT id, a, b FROM pts), 5, scale => 'minmax', seed => 3)"},
		{"SELECT * FROM sgd_regress(predict => (SELECT id, x1, x2 FROM tr), model => 'sgd')",
			"SELECT * FROM sgd_regress((SELECT x1, x2, y FROM tr ORDER BY id), (SELECT id, x1, x2 FROM tr), epochs => 3)"},
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
}

// TestModelHoldoutAndEvaluate: train with holdout => share stores the
// held-out metrics with the version, evaluate measures any version on a
// relation, and promote => 'if_better' deploys only a better version.
func TestModelHoldoutAndEvaluate(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT setseed(0.25);
CREATE TABLE r AS SELECT DISTINCT ON (u, i) u, i, (1 + floor(random() * 5))::int AS v
	FROM (SELECT (random() * 200)::int AS u, (random() * 60)::int AS i FROM generate_series(1, 5000)) s;
CREATE TABLE tr AS SELECT g AS id, random() AS x1, random() AS x2 FROM generate_series(1, 400) g;
ALTER TABLE tr ADD COLUMN y float8; UPDATE tr SET y = 3 * x1 - 2 * x2 + 0.5`); err != nil {
		t.Fatal(err)
	}
	var rows int64
	var ndcg, holdoutRows float64
	if err := conn.QueryRow(ctx, `SELECT rows, (metrics->>'ndcg_at_10')::float8, (metrics->>'holdout_rows')::float8
FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r), holdout => 0.2)`).Scan(&rows, &ndcg, &holdoutRows); err != nil {
		t.Fatal(err)
	}
	total := scalar[int64](t, conn, "SELECT count(*) FROM r")
	if rows+int64(holdoutRows) != total || holdoutRows < float64(total)/10 || holdoutRows > float64(total)*3/10 {
		t.Fatalf("trained on %d rows and held out %g of %d", rows, holdoutRows, total)
	}
	if ndcg <= 0 || ndcg > 1 {
		t.Fatalf("ndcg_at_10 %g", ndcg)
	}
	// The same split again: the same metrics (the split is by content).
	again := scalar[float64](t, conn, "SELECT (metrics->>'ndcg_at_10')::float8 FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r ORDER BY v, i DESC), holdout => 0.2)")
	if again != ndcg {
		t.Fatalf("retrained on reordered rows: ndcg_at_10 %g, first %g", again, ndcg)
	}
	// evaluate on the training rows themselves: everything is rated, so
	// nothing can be recommended again.
	metrics := map[string]float64{}
	rs, err := conn.Query(ctx, "SELECT metric, value FROM flywheel.evaluate('cf', (SELECT u, i, v FROM r), version => 1)")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var m string
		var v float64
		if err := rs.Scan(&m, &v); err != nil {
			t.Fatal(err)
		}
		metrics[m] = v
	}
	if rs.Err() != nil {
		t.Fatal(rs.Err())
	}
	for _, m := range []string{"precision_at_10", "recall_at_10", "ndcg_at_10", "coverage", "users"} {
		if _, ok := metrics[m]; !ok {
			t.Fatalf("evaluate gave %v, no %s", metrics, m)
		}
	}

	// sgd: the held-out rows are the last ones; a model that barely
	// learned is worse and if_better keeps it as a challenger.
	good := scalar[float64](t, conn, "SELECT (metrics->>'rmse')::float8 FROM flywheel.train('amounts', 'sgd_regress', (SELECT x1, x2, y FROM tr ORDER BY id), holdout => 0.25, epochs => 20)")
	if good <= 0 || good > 1 {
		t.Fatalf("held-out rmse %g", good)
	}
	deployed := scalar[bool](t, conn, `SELECT deployed FROM flywheel.train('amounts', 'sgd_regress',
	(SELECT x1, x2, y FROM tr ORDER BY id), holdout => 0.25, eta0 => 0.00001, promote => 'if_better')`)
	if deployed {
		t.Fatalf("a worse version was deployed with promote => 'if_better' (first rmse %g, this one %g)", good,
			scalar[float64](t, conn, "SELECT (metrics->>'rmse')::float8 FROM flywheel.model_versions WHERE model = 'amounts' AND version = 2"))
	}
	if v := scalar[int32](t, conn, "SELECT deployed_version FROM flywheel.models WHERE name = 'amounts'"); v != 1 {
		t.Fatalf("deployed version %d, want 1", v)
	}
	better := scalar[bool](t, conn, "SELECT deployed FROM flywheel.train('amounts', 'sgd_regress', (SELECT x1, x2, y FROM tr ORDER BY id), holdout => 0.25, learning_rate => 'constant', eta0 => 0.05, epochs => 100, promote => 'if_better')")
	rmse := scalar[float64](t, conn, "SELECT (metrics->>'rmse')::float8 FROM flywheel.model_versions WHERE model = 'amounts' AND version = 3")
	if !better || rmse >= good {
		t.Fatalf("version 3 (rmse %g against %g) deployed: %v", rmse, good, better)
	}
	_, err = conn.Exec(ctx, "SELECT * FROM flywheel.evaluate('amounts', (SELECT x1, y FROM tr))")
	if code(err) != "42804" {
		t.Fatalf("evaluate with the wrong columns: %v, want 42804", err)
	}
}
