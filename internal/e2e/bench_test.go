package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkRecommendEndToEnd measures recommend(user, 10) over the seed's
// ratings through the proxy, as a client sees it (pgx, prepared), and
// reports the median latency.
func BenchmarkRecommendEndToEnd(b *testing.B) {
	for _, mode := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"prepared", pgx.QueryExecModeCacheStatement}, {"simple", pgx.QueryExecModeSimpleProtocol}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			c, _, _ := seeded(b)
			const q = `SELECT item, score, rank FROM recommend($1::int, 10, ratings => (SELECT user_id, product_id, rating FROM ratings))`
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				rows, err := c.Query(ctx, q, mode.mode, 1)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Err() != nil || n != 1 {
					b.Fatalf("rows %d, err %v", n, rows.Err())
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkPlainQuery is the same round trip without a model function,
// for comparison: the planner's fast path must keep it cheap.
func BenchmarkPlainQuery(b *testing.B) {
	ctx := context.Background()
	c, _, _ := seeded(b)
	for b.Loop() {
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM ratings WHERE user_id = $1", 1).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}
