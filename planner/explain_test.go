package planner

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestExplain(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	r := s.mustRun(`EXPLAIN (COSTS OFF) SELECT p.product_name FROM rec(1, 10, ratings => (TABLE ratings)) r JOIN dim_product p ON p.product_id = r.item`)
	if len(r.cols) != 1 || r.cols[0] != "QUERY PLAN" || len(r.rows) < 3 {
		t.Fatalf("EXPLAIN gave %s", r)
	}
	step := regexp.MustCompile(`^Flywheel Function Scan: rec  \(input rows=8, output rows=1, time=\d+\.\d{3} ms\)$`)
	if !step.MatchString(r.rows[0][0]) {
		t.Errorf("first line %q", r.rows[0][0])
	}
	plan := r.String()
	if !strings.Contains(plan, "Function Scan on") || !strings.Contains(plan, "dim_product") {
		t.Errorf("no PostgreSQL plan in\n%s", plan)
	}

	// ANALYZE runs it; a parameter typed by PostgreSQL inside EXPLAIN.
	var ps [][]byte
	ps = append(ps, []byte("0"))
	res, err := s.run(`EXPLAIN ANALYZE SELECT * FROM series(3) s, dim_customer c WHERE c.customer_id = s.i + 1 AND s.i > $1`, nil, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan = res.String()
	if !regexp.MustCompile(`(?m)^Flywheel Function Scan: series  \(input rows=0, output rows=3, time=`).MatchString(plan) ||
		!strings.Contains(plan, "actual time=") || !strings.Contains(plan, "Execution Time") {
		t.Errorf("EXPLAIN ANALYZE gave\n%s", plan)
	}

	// A lateral call counts its runs.
	r = s.mustRun(`EXPLAIN SELECT * FROM dim_customer c, rec(c.customer_id, 1, ratings => (TABLE ratings)) r`)
	if !regexp.MustCompile(`^Flywheel Function Scan: rec  \(input rows=8, output rows=4, calls=4, time=`).MatchString(r.rows[0][0]) {
		t.Errorf("lateral EXPLAIN gave\n%s", r)
	}

	// Other formats stay parseable: PostgreSQL's document alone.
	r = s.mustRun(`EXPLAIN (FORMAT JSON) SELECT * FROM series(1)`)
	if len(r.rows) != 1 || !strings.HasPrefix(strings.TrimSpace(r.rows[0][0]), "[") {
		t.Errorf("EXPLAIN (FORMAT JSON) gave\n%s", r)
	}
}

func TestInputCaps(t *testing.T) {
	s := newSession(t, Options{MaxInputRows: 5}, ratingsSQL)
	_, err := s.run(`SELECT * FROM rec(1, ratings => (TABLE ratings))`, nil, nil, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "53200" || !strings.Contains(pe.Hint, "--max-input-rows") {
		t.Errorf("over the row cap: %v (%+v)", err, pe)
	}
	// The session is still usable.
	if r := s.mustRun(`SELECT * FROM rec(1, ratings => (SELECT * FROM ratings LIMIT 5))`); len(r.cols) != 3 {
		t.Errorf("after the cap: %s", r)
	}

	s = newSession(t, Options{MaxInputBytes: 100}, ratingsSQL)
	_, err = s.run(`SELECT * FROM rec(1, ratings => (TABLE ratings))`, nil, nil, nil)
	if !errors.As(err, &pe) || pe.Code != "53200" || !strings.Contains(pe.Hint, "--max-input-bytes") {
		t.Errorf("over the byte cap: %v", err)
	}
}

func TestCancel(t *testing.T) {
	s := newSession(t, Options{}, "")
	st, err := s.p.Prepare(s.ctx, s.conn, `SELECT * FROM spin()`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err = st.Bind(ctx, s.conn, nil, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "57014" || pe.Message != "canceling statement due to user request" {
		t.Errorf("cancelled Bind: %v", err)
	}
	if r := s.mustRun(`SELECT * FROM series(1)`); len(r.rows) != 1 {
		t.Errorf("after cancel: %s", r)
	}
}

// FORMAT without a value once indexed an empty list and took the whole
// proxy down; it must be PostgreSQL's error, and the session must go on.
func TestExplainFormatWithoutValue(t *testing.T) {
	s := newSession(t, Options{}, "")
	for _, sql := range []string{
		`EXPLAIN (FORMAT) SELECT * FROM series(1)`,
		`EXPLAIN (FORMAT 1) SELECT * FROM series(1)`,
	} {
		_, err := s.run(sql, nil, nil, nil)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || (pg.Code != "42601" && pg.Code != "22023") {
			t.Errorf("%s: %v, want PostgreSQL's error about FORMAT", sql, err)
		}
	}
	if r := s.mustRun(`SELECT * FROM series(1)`); len(r.rows) != 1 {
		t.Errorf("after the error: %s", r)
	}
}

// A call inside a relation argument shows as a step of its own, first.
func TestExplainNested(t *testing.T) {
	s := newSession(t, Options{}, "")
	r := s.mustRun(`EXPLAIN SELECT * FROM echo_rows((SELECT i FROM series(4)))`)
	if len(r.rows) < 3 ||
		!strings.HasPrefix(r.rows[0][0], "Flywheel Function Scan: series  (input rows=0, output rows=4,") ||
		!strings.HasPrefix(r.rows[1][0], "Flywheel Function Scan: echo_rows  (input rows=4, output rows=4,") {
		t.Errorf("EXPLAIN gave\n%s", r)
	}
}
