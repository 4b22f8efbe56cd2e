package e2e

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkDecisionLog measures what log => true adds to recommend from a
// stored nmf model (issue 12: at most 10% of p50). The two statements
// alternate call by call over the same random users, so the machine's
// drift falls on both alike.
//
//	go test ./internal/e2e -run '^$' -bench DecisionLog -benchtime 5000x
func BenchmarkDecisionLog(b *testing.B) {
	ctx := context.Background()
	c, _, logf := benchConn(b, "")
	if _, err := c.Exec(ctx, "SELECT * FROM flywheel.train('nmf', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings), method => 'nmf')"); err != nil {
		b.Fatal(err)
	}
	const plain = "SELECT item, score, rank FROM recommend($1::int, 10, model => 'nmf')"
	const logged = "SELECT item, score, rank FROM recommend($1::int, 10, model => 'nmf', log => true)"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rng := rand.New(rand.NewPCG(1, 2))
		var lat [2][]time.Duration
		b.ResetTimer()
		for i := 0; i < max(b.N, 200); i++ {
			u := 1 + rng.IntN(50000)
			for k, sql := range [2]string{plain, logged} {
				if i%2 == 1 {
					k, sql = 1-k, [2]string{plain, logged}[1-k]
				}
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
				lat[k] = append(lat[k], time.Since(start))
			}
		}
		b.StopTimer()
		p := func(l []time.Duration, q int) time.Duration {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			return l[len(l)*q/100]
		}
		p50, p50log := p(lat[0], 50), p(lat[1], 50)
		logf("%v: recommend model nmf p50 %v p99 %v; log => true p50 %v p99 %v; p50 ratio %.3f",
			mode, p50, p(lat[0], 99), p50log, p(lat[1], 99), float64(p50log)/float64(p50))
	}
	var n int64
	c.QueryRow(ctx, "SELECT count(*) FROM flywheel.decisions").Scan(&n)
	logf("%d decisions logged", n)
}
