package planner

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
)

// The LATERAL example with the real recommend: decorrelated rows
// equal one call per customer.
func TestBuiltinLateralRecommend(t *testing.T) {
	s := newSession(t, Options{}, `
CREATE TABLE ratings (user_id int, product_id int, rating int);
INSERT INTO ratings VALUES (1,101,5),(1,102,4),(1,103,3),(2,101,4),(2,104,5),(3,102,2),(3,103,3),(3,104,4);
CREATE TABLE dim_customer (customer_id int PRIMARY KEY, customer_name text);
INSERT INTO dim_customer VALUES (1,'Alice'),(2,'Bob'),(3,'Carol'),(4,'Dan');`)
	s.p = New(catalog.Builtin(), Options{})
	got := s.mustRun(`SELECT c.customer_name, r.item, r.score FROM dim_customer c
		CROSS JOIN LATERAL recommend(c.customer_id, 3, ratings => (SELECT user_id, product_id, rating FROM ratings)) r
		ORDER BY c.customer_name, r.rank`)
	var want [][]string
	for _, c := range [][2]string{{"1", "Alice"}, {"2", "Bob"}, {"3", "Carol"}, {"4", "Dan"}} {
		r := s.mustRun(fmt.Sprintf(`SELECT '%s' AS customer_name, item, score FROM recommend(%s, 3,
			ratings => (SELECT user_id, product_id, rating FROM ratings)) ORDER BY rank`, c[1], c[0]))
		want = append(want, r.rows...)
	}
	if !reflect.DeepEqual(got.rows, want) {
		t.Errorf("lateral:\n%s\nper customer:\n%v", got, want)
	}
	if len(got.rows) == 0 || got.rows[0][0] != "Alice" || got.rows[0][1] != "104" {
		t.Errorf("Alice's first recommendation: %v", got.rows)
	}
}

// Prepared once with pgx-style parameters, bound for every user, the real
// recommend matches the call with constants.
func TestBuiltinPreparedRecommend(t *testing.T) {
	s := newSession(t, Options{}, `
CREATE TABLE ratings AS SELECT u AS user_id, i AS item_id, ((u * 7 + i * 3) % 5 + 1)::float8 AS rating
  FROM generate_series(1, 100) u, generate_series(1, 30) i WHERE (u * 7 + i * 11) % 5 <> 0;`)
	s.p = New(catalog.Builtin(), Options{})
	ctx := context.Background()
	st, err := s.p.Prepare(ctx, s.conn, `SELECT item, score, rank FROM recommend($1, $2, ratings => (SELECT user_id, item_id, rating FROM ratings))`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for u := 1; u <= 100; u++ {
		params := [][]byte{[]byte(fmt.Sprint(u)), []byte("5")}
		extra, err := st.Bind(ctx, s.conn, params, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.direct(st.SQL, st.ParamOIDs, append(params, extra...), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := s.mustRun(fmt.Sprintf(`SELECT item, score, rank FROM recommend(%d, 5, ratings => (SELECT user_id, item_id, rating FROM ratings))`, u))
		if got.String() != want.String() || len(got.rows) == 0 {
			t.Fatalf("user %d:\n%s\nwant\n%s", u, got, want)
		}
	}
}

func TestBuiltinExplainKMeans(t *testing.T) {
	s := newSession(t, Options{}, `
CREATE TABLE user_data (user_id int, purchase_frequency int, avg_spend numeric, last_purchase_days_ago int);
INSERT INTO user_data VALUES (1,5,500,10),(2,2,100,40),(3,10,1200,5),(4,1,50,90),(5,4,300,20);`)
	s.p = New(catalog.Builtin(), Options{})
	r := s.mustRun(`EXPLAIN SELECT * FROM kmeans((SELECT user_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM user_data), 3) JOIN user_data USING (user_id)`)
	if !strings.HasPrefix(r.rows[0][0], "Flywheel Function Scan: kmeans  (input rows=5, output rows=5, time=") {
		t.Errorf("EXPLAIN:\n%s", r)
	}
	r = s.mustRun(`SELECT user_id, cluster FROM kmeans((SELECT user_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM user_data), 3) JOIN user_data USING (user_id) ORDER BY user_id`)
	if got := r.String(); got != "user_id | cluster\n1 | 0\n2 | 1\n3 | 2\n4 | 1\n5 | 0" {
		t.Errorf("kmeans:\n%s", got)
	}
}
