package planner

import (
	"strings"
	"testing"
)

const ratingsSQL = `
CREATE TABLE ratings (user_id int, product_id int, rating numeric);
INSERT INTO ratings VALUES (1,101,5),(1,102,4),(1,103,3),(2,101,4),(2,104,5),(3,102,2),(3,103,3),(3,104,4);
CREATE TABLE dim_customer (customer_id int PRIMARY KEY, customer_name text);
INSERT INTO dim_customer VALUES (1,'Alice'),(2,'Bob'),(3,'Carol'),(4,'Dan');
CREATE TABLE dim_product (product_id int PRIMARY KEY, product_name text);
INSERT INTO dim_product VALUES (101,'Laptop'),(102,'Phone'),(103,'Tablet'),(104,'Monitor');
`

func TestMentions(t *testing.T) {
	p := New(testCatalog(), Options{})
	for sql, want := range map[string]bool{
		"SELECT 1":                           false,
		"select * from REC(1)":               true,
		"SELECT * FROM Echo_Rows((TABLE t))": true,
		"SELECT spi":                         false,
		"spin":                               true,
		"SELECT 'séries'":                    false,
		"":                                   false,
	} {
		if got := p.Mentions([]byte(sql)); got != want {
			t.Errorf("Mentions(%q) = %v, want %v", sql, got, want)
		}
	}
	sql := []byte("SELECT customer_id, sum(sales_amount) FROM fact_sales JOIN dim_customer USING (customer_id) GROUP BY 1")
	if n := testing.AllocsPerRun(100, func() { p.Mentions(sql) }); n != 0 {
		t.Errorf("Mentions allocates %v times per run", n)
	}
}

func TestSplit(t *testing.T) {
	p := New(testCatalog(), Options{})
	sql := "SELECT 'é';  SELECT * FROM series(2) ;\nSELECT 'series' ; SELECT * FROM flywheel.rec(1, ratings => (TABLE r))"
	parts, err := p.Split(sql)
	if err != nil {
		t.Fatal(err)
	}
	want := []Part{
		{SQL: "SELECT 'é'", Offset: 0},
		{SQL: "  SELECT * FROM series(2) ", Offset: 11, Calls: true},
		{SQL: "\nSELECT 'series' ", Offset: 38},
		{SQL: " SELECT * FROM flywheel.rec(1, ratings => (TABLE r))", Offset: 56, Calls: true},
	}
	if len(parts) != len(want) {
		t.Fatalf("got %d parts %+v, want %d", len(parts), parts, len(want))
	}
	runes := []rune(sql)
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d = %+v, want %+v", i, parts[i], want[i])
		}
		if got := string(runes[parts[i].Offset : parts[i].Offset+len([]rune(parts[i].SQL))]); got != parts[i].SQL {
			t.Errorf("part %d: offset %d points at %q", i, parts[i].Offset, got)
		}
	}
	// Block marks what an implicit transaction cannot wrap.
	blocks := map[string]bool{
		"BEGIN": true, "COMMIT": true, "ROLLBACK TO sp": true, "SAVEPOINT sp": true, "VACUUM t": true,
		"CREATE DATABASE d": true, "CREATE INDEX CONCURRENTLY i ON t (x)": true, "DROP INDEX CONCURRENTLY i": true,
		"DISCARD ALL": true, "REINDEX TABLE t": true,
		"CREATE INDEX i ON t (x)": false, "DROP INDEX i": false, "SELECT 1": false, "SET x.y = 1": false,
		"INSERT INTO t VALUES (1)": false, "LISTEN c": false,
	}
	for sql, want := range blocks {
		parts, err := p.Split(sql + "; SELECT 2")
		if err != nil || len(parts) != 2 || parts[0].Block != want || parts[1].Block {
			t.Errorf("Split(%q; SELECT 2) = %+v, %v; want Block %v for the first part", sql, parts, err, want)
		}
	}
	bad := "SELECT * FROM series(1; SELECT 2"
	parts, err = p.Split(bad)
	if err != nil || len(parts) != 1 || parts[0] != (Part{SQL: bad}) {
		t.Errorf("Split(%q) = %+v, %v; want the whole string, no calls", bad, parts, err)
	}
}

func TestDollarQuote(t *testing.T) {
	for _, v := range []string{"", "{1,2}", `{"it's","a\\b"}`, "$fw$", "x$fw", "$fw0$ and $fw$", "$fw$fw$"} {
		q := dollarQuote([]byte(v))
		tag := q[:strings.Index(q[1:], "$")+2]
		body := q[len(tag):]
		if end := strings.Index(body, tag); end != len(v) || body[:end] != v || !strings.HasSuffix(q, tag) {
			t.Errorf("dollarQuote(%q) = %q: the literal does not end where the value does", v, q)
		}
	}
}
