package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5"
)

// BenchmarkRecommendModel measures recommend(user, 10, model => ...) at
// the scale: 50,000 users, 200 items, about 871,000 ratings, for
// random users through the proxy (pgx prepared and simple), against the
// one-shot call over the same ratings and a plain indexed SELECT. It also
// reports the training time, a LATERAL call for 1,000 users, and the first
// call through a fresh Flywheel (the model loaded from the database).
//
//	go test ./internal/e2e -run '^$' -bench RecommendModel -benchtime 2000x
func BenchmarkRecommendModel(b *testing.B) {
	ctx := context.Background()
	c, db, logf := benchConn(b, "CREATE INDEX ON fact_ratings (customer_id); ANALYZE fact_ratings")
	var ratings int64
	c.QueryRow(ctx, "SELECT count(*) FROM fact_ratings").Scan(&ratings)
	logf("%d ratings", ratings)
	for _, method := range []string{"user_cf", "nmf"} {
		var ms float64
		start := time.Now()
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT train_ms FROM flywheel.train('%s', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings), method => '%s')", method, method)).Scan(&ms); err != nil {
			b.Fatal(err)
		}
		logf("train %s: %.0f ms fitting, %v end to end", method, ms, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	rows, _ := c.Query(ctx, "SELECT * FROM recommend(10, 10, ratings => (SELECT customer_id, product_id, rating FROM fact_ratings))")
	rows.Close()
	logf("one-shot recommend(10, 10, ratings => ...): %v", time.Since(start).Round(time.Millisecond))

	measure := func(name, sql string, mode pgx.QueryExecMode) {
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		for i := 0; i < max(b.N, 200); i++ {
			u := 1 + rng.IntN(50000)
			start := time.Now()
			rows, err := c.Query(ctx, sql, mode, u)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
			lat = append(lat, time.Since(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		logf("%-40s p50 %6.0f µs  p99 %6.0f µs", name, float64(lat[len(lat)/2].Microseconds()), float64(lat[len(lat)*99/100].Microseconds()))
	}
	b.ResetTimer()
	for _, m := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"prepared", pgx.QueryExecModeCacheStatement}, {"simple", pgx.QueryExecModeSimpleProtocol}} {
		measure("plain SELECT ... WHERE customer_id ("+m.name+")", "SELECT product_id, rating FROM fact_ratings WHERE customer_id = $1::int LIMIT 10", m.mode)
		measure("recommend model user_cf ("+m.name+")", "SELECT item, score, rank FROM recommend($1::int, 10, model => 'user_cf')", m.mode)
		measure("recommend model nmf ("+m.name+")", "SELECT item, score, rank FROM recommend($1::int, 10, model => 'nmf')", m.mode)
		// Logging decisions: one INSERT of the served rows per statement.
		measure("recommend model nmf, log => true ("+m.name+")", "SELECT item, score, rank FROM recommend($1::int, 10, model => 'nmf', log => true)", m.mode)
	}
	b.StopTimer()
	for _, model := range []string{"user_cf", "nmf"} {
		var best time.Duration
		for i := 0; i < 5; i++ {
			start := time.Now()
			var n int64
			if err := c.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM generate_series(1, 1000) u CROSS JOIN LATERAL recommend(u, 10, model => '%s') r", model)).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); i == 0 || d < best {
				best = d
			}
		}
		logf("LATERAL recommend for 1,000 users, %s: best of 5 %v", model, best.Round(100*time.Microsecond))
	}
	// learn: 1,000 new ratings into the user_cf model, and a holt model's
	// series advanced, as new versions.
	if _, err := c.Exec(ctx, `CREATE TABLE new_ratings AS SELECT 50000 + g AS customer_id, 1 + g % 200 AS product_id, 1 + g % 5 AS rating FROM generate_series(1, 1000) g`); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		var ms float64
		if err := c.QueryRow(ctx, "SELECT train_ms FROM flywheel.learn('user_cf', (SELECT customer_id, product_id, rating FROM new_ratings))").Scan(&ms); err != nil {
			b.Fatal(err)
		}
		logf("learn 1,000 ratings into user_cf: %.0f ms learning, %v end to end", ms, time.Since(start).Round(time.Millisecond))
	}
	// A fresh Flywheel: the first call loads and decodes the model.
	fresh := serveProxy(b, db, planner.Options{}, catalog.Builtin())
	c2, err := pgx.Connect(ctx, pgURL(fresh, db))
	if err != nil {
		b.Fatal(err)
	}
	defer c2.Close(ctx)
	for _, model := range []string{"user_cf", "nmf"} {
		start := time.Now()
		rows, err := c2.Query(ctx, fmt.Sprintf("SELECT * FROM recommend(10, 10, model => '%s')", model))
		if err != nil {
			b.Fatal(err)
		}
		rows.Close()
		logf("first call through a fresh Flywheel (load from the database), %s: %v", model, time.Since(start).Round(time.Millisecond))
	}
}

// benchRatings makes the benchmarks' fact_ratings: 50,000 users, 200
// items, about 862,000 ratings (the demo's scale 50), deterministic.
const benchRatings = `SELECT setseed(0.5);
CREATE TABLE fact_ratings AS
	SELECT DISTINCT ON (customer_id, product_id) customer_id, product_id, (1 + floor(random() * 5))::int AS rating
	FROM (SELECT 1 + (g % 50000) AS customer_id, 1 + floor(random() * 200)::int AS product_id FROM generate_series(1, 900000) g) s`

// benchConn starts a proxy on a database of its own, loads benchRatings
// and then extra (more SQL, or ""), and returns a connection through the
// proxy, closed with the benchmark, and a logger that writes straight to
// stderr (a benchmark's own log is cut short).
func benchConn(b *testing.B, extra string) (c *pgx.Conn, db string, logf func(format string, a ...any)) {
	ctx := context.Background()
	db = srv.NewDatabase(b)
	addr := serveProxy(b, db, planner.Options{}, catalog.Builtin())
	c, err := pgx.Connect(ctx, pgURL(addr, db))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Exec(ctx, benchRatings+"; "+extra); err != nil {
		b.Fatal(err)
	}
	return c, db, func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
}
