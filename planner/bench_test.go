package planner

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
)

func BenchmarkMentions(b *testing.B) {
	p := New(testCatalog(), Options{})
	sql := []byte(`SELECT c.customer_name, sum(f.sales_amount) AS total FROM fact_sales f
		JOIN dim_customer c ON c.customer_id = f.customer_id JOIN dim_product p ON p.product_id = f.product_id
		WHERE f.sale_date >= '2023-01-01' AND p.category = 'Electronics' GROUP BY c.customer_name ORDER BY total DESC LIMIT 10`)
	b.ReportAllocs()
	b.SetBytes(int64(len(sql)))
	for b.Loop() {
		if p.Mentions(sql) {
			b.Fatal("mentions")
		}
	}
}

// memConn answers side queries from memory, so the benchmark measures the
// planner's own work: parse, analysis, rewrite, argument evaluation and
// array building.
type memConn struct{}

func (memConn) Describe(ctx context.Context, sql string, oids []uint32) ([]uint32, []catalog.InputColumn, error) {
	return oids, []catalog.InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 23}, {Name: "rating", Type: 1700}}, nil
}

func (memConn) Query(ctx context.Context, sql string, oids []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	if cols != nil {
		if err := cols([]catalog.InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 23}, {Name: "rating", Type: 1700}}); err != nil {
			return err
		}
	}
	for _, r := range [][3]string{{"1", "101", "5"}, {"1", "102", "4"}, {"1", "103", "3"}, {"2", "101", "4"}, {"2", "104", "5"}, {"3", "102", "2"}, {"3", "103", "3"}, {"3", "104", "4"}} {
		if err := row([][]byte{[]byte(r[0]), []byte(r[1]), []byte(r[2])}); err != nil {
			return err
		}
	}
	return nil
}

const benchSQL = `SELECT p.product_name, r.score FROM rec(1, 10, ratings => (SELECT user_id, product_id, rating FROM ratings)) r
	JOIN dim_product p ON p.product_id = r.item ORDER BY r.rank`

// benchPrepareBind reports the median of Prepare+Bind (p50-µs) besides
// the mean.
func benchPrepareBind(b *testing.B, p *Planner, conn Conn) {
	ctx := context.Background()
	var durs []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		st, err := p.Prepare(ctx, conn, benchSQL, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Bind(ctx, conn, nil, nil); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds())/1e3, "p50-µs")
}

// BenchmarkPrepareBind: planner overhead alone (side queries answered from
// memory).
func BenchmarkPrepareBind(b *testing.B) {
	benchPrepareBind(b, New(testCatalog(), Options{}), memConn{})
}

// BenchmarkPrepareBindPostgres: the same with the side queries (describe
// and read the relation argument) on a real PostgreSQL over its socket.
func BenchmarkPrepareBindPostgres(b *testing.B) {
	s := newSession(b, Options{}, ratingsSQL)
	benchPrepareBind(b, s.p, s.conn)
}
