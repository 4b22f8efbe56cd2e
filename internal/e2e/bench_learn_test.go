package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5"
)

// BenchmarkLearnUserCF measures flywheel.learn of 1,000 new ratings into
// the user_cf model at the demo's scale 50 (issue 12's target: under
// 50 ms), end to end through the proxy with pgx: each iteration learns
// 1,000 ratings of 1,000 new users as the next version. It reports the
// median and worst of the learning time (train_ms) and the round trip,
// then the first call through a fresh Flywheel, which loads the last
// version from the database.
//
//	go test ./internal/e2e -run '^$' -bench LearnUserCF -benchtime 20x
func BenchmarkLearnUserCF(b *testing.B) {
	ctx := context.Background()
	c, db, logf := benchConn(b, "")
	if _, err := c.Exec(ctx, "SELECT version FROM flywheel.train('cf', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings))"); err != nil {
		b.Fatal(err)
	}
	// Each batch is 1,000 ratings of users the model has not seen, over
	// all the items, so every learn adds keys as well as ratings.
	if _, err := c.Exec(ctx, `CREATE TABLE new_ratings AS SELECT g / 1000 AS batch, 100000 + g AS customer_id, 1 + (g * 7) % 200 AS product_id, 1 + g % 5 AS rating
FROM generate_series(0, 999999) g;
CREATE INDEX ON new_ratings (batch); ANALYZE new_ratings`); err != nil {
		b.Fatal(err)
	}
	learnMS := make([]float64, 0, b.N)
	total := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var ms float64
		if err := c.QueryRow(ctx, "SELECT train_ms FROM flywheel.learn('cf', (SELECT customer_id, product_id, rating FROM new_ratings WHERE batch = $1))", i%1000).Scan(&ms); err != nil {
			b.Fatal(err)
		}
		total = append(total, time.Since(start))
		learnMS = append(learnMS, ms)
	}
	b.StopTimer()
	sort.Float64s(learnMS)
	sort.Slice(total, func(i, j int) bool { return total[i] < total[j] })
	logf("learn 1,000 ratings into user_cf, %d runs: learning median %.1f ms (max %.1f), end to end median %v (max %v)",
		b.N, learnMS[len(learnMS)/2], learnMS[len(learnMS)-1],
		total[len(total)/2].Round(100*time.Microsecond), total[len(total)-1].Round(100*time.Microsecond))
	var bytes int64
	c.QueryRow(ctx, "SELECT sum(state_bytes) FROM flywheel.model_versions WHERE model = 'cf'").Scan(&bytes)
	logf("stored state of all %d versions: %.1f MiB", b.N+1, float64(bytes)/(1<<20))
	fresh := serveProxy(b, db, planner.Options{}, catalog.Builtin())
	c2, err := pgx.Connect(ctx, pgURL(fresh, db))
	if err != nil {
		b.Fatal(err)
	}
	defer c2.Close(ctx)
	start := time.Now()
	rows, err := c2.Query(ctx, "SELECT * FROM recommend(10, 10, model => 'cf')")
	if err != nil {
		b.Fatal(err)
	}
	rows.Close()
	logf("first call through a fresh Flywheel (load from the database): %v", time.Since(start).Round(time.Millisecond))
}
