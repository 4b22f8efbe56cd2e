package planner

import (
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

func TestSmoke(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	r := s.mustRun(`SELECT * FROM rec(1, 10, ratings => (SELECT user_id, product_id, rating FROM ratings)) r`)
	t.Log(r)
	r = s.mustRun(`SELECT * FROM echo_rows((SELECT customer_name, customer_id FROM dim_customer), n => 2)`)
	t.Log(r)
	r = s.mustRun(`SELECT * FROM series(3, -1.5, label => 'a''b', flag => 'yes')`)
	t.Log(r)
	r = s.mustRun(`SELECT c.customer_name, r.item, r.score FROM dim_customer c CROSS JOIN LATERAL rec(c.customer_id, 3, ratings => (SELECT user_id, product_id, rating FROM ratings)) r ORDER BY 1, r.rank`)
	t.Log(r)
	r = s.mustRun(`EXPLAIN SELECT * FROM rec(1, 10, ratings => (SELECT user_id, product_id, rating FROM ratings)) r`)
	t.Log(r)
}
