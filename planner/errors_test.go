package planner

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL's errors keep pointing at the client's own text.
func TestErrorPositions(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	pgPos := func(err error) int {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("not PostgreSQL's error: %v", err)
		}
		return int(pe.Position)
	}
	// In a relation argument, at Prepare.
	sql := `SELECT * FROM rec(1, ratings => (SELECT user_id, nope, 3 FROM ratings))`
	_, err := s.p.Prepare(s.ctx, s.conn, sql, nil)
	var se *SideQueryError
	if !errors.As(err, &se) {
		t.Fatalf("%s: %v, want a *SideQueryError", sql, err)
	}
	if got, want := se.Position(pgPos(err)), strings.Index(sql, "nope")+1; got != want {
		t.Errorf("relation argument error at %d, want %d", got, want)
	}

	// In the rest of the statement, found by the describe of the
	// rewritten text (the client's parameters need types).
	sql = `SELECT * FROM series($1) s, rec(é.x, ratings => (TABLE ratings)) r WHERE s.nope = $2`
	_, err = s.p.Prepare(s.ctx, s.conn, sql, nil)
	if err == nil {
		t.Fatal("no error")
	}
	// é.x: the lateral side query's error has no position in the client's text.
	if errors.As(err, &se) && se.Position(pgPos(err)) != 0 {
		t.Errorf("lateral side query error mapped to %d", se.Position(pgPos(err)))
	}
	sql = `SELECT * FROM series($1) s, rec(1, ratings => (TABLE ratings)) r WHERE s.nope = $2 -- é`
	_, err = s.p.Prepare(s.ctx, s.conn, sql, nil)
	if !errors.As(err, &se) {
		t.Fatalf("%s: %v, want a *SideQueryError", sql, err)
	}
	if got, want := se.Position(pgPos(err)), strings.Index(sql, "s.nope")+1; got != want {
		t.Errorf("error after the calls at %d, want %d", got, want)
	}

	// Errors PostgreSQL reports for the rewritten statement itself map
	// back with ClientPosition: before, after and inside a call.
	for _, c := range []struct{ sql, at string }{
		{`SELECT nope, 'é' FROM rec(1, ratings => (TABLE ratings)) r`, "nope"},
		{`SELECT 'é' FROM rec(1, ratings => (TABLE ratings)) r, series(2) WHERE r.nope > 0`, "r.nope"},
	} {
		st, err := s.p.Prepare(s.ctx, s.conn, c.sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.conn.pg.Prepare(s.ctx, "", st.SQL, st.ParamOIDs)
		got := st.ClientPosition(pgPos(err))
		if want := strings.Index(c.sql, c.at); got != len([]rune(c.sql[:want]))+1 {
			t.Errorf("%s: position %d, want %d", c.sql, got, len([]rune(c.sql[:want]))+1)
		}
	}
}

func TestMapPosition(t *testing.T) {
	orig := "é f(x) AS a, g(y) z"
	// f(x) AS a -> LONGER, g(y) -> G
	re := "é LONGER, G z"
	sp := []splice{{origStart: 3, origEnd: 12, newStart: 3, newEnd: 9}, {origStart: 14, origEnd: 18, newStart: 11, newEnd: 12}}
	for _, c := range []struct{ pos, want int }{
		{1, 1}, {2, 2}, {3, 3}, {5, 3}, {8, 3}, {9, 12}, {10, 13}, {11, 14}, {12, 18}, {13, 19}, {14, 20}, {15, 0}, {0, 0},
	} {
		if got := mapPosition(orig, re, sp, c.pos); got != c.want {
			t.Errorf("mapPosition(%d) = %d, want %d", c.pos, got, c.want)
		}
	}
}

// A panic in a model function (or the planner) is an XX000 error for that
// statement; before, it ended the whole proxy process.
func TestPanicIsAnError(t *testing.T) {
	s := newSession(t, Options{}, "")
	s.p = New(catalog.New(panicky("panic_in_columns", true), panicky("panic_in_run", false)), Options{})
	for _, sql := range []string{`SELECT * FROM panic_in_columns()`, `SELECT * FROM panic_in_run()`} {
		_, err := s.run(sql, nil, nil, nil)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != "XX000" || !strings.Contains(pe.Message, "boom") {
			t.Errorf("%s: %v, want XX000 naming the panic", sql, err)
		}
	}
	if r := s.mustRun(`SELECT 1 AS one`); len(r.rows) != 1 {
		t.Errorf("after the panics: %s", r)
	}
}

// panicky declares a function that panics in Columns (so at Prepare) or
// in Run (at Bind).
func panicky(name string, inColumns bool) *catalog.Func {
	return &catalog.Func{
		Name: name,
		Columns: func([][]catalog.InputColumn) ([]catalog.OutputColumn, error) {
			if inColumns {
				panic("boom in Columns")
			}
			return []catalog.OutputColumn{{Name: "x", Type: 23}}, nil
		},
		Run: func(ctx context.Context, c *catalog.Call) (*catalog.Result, error) {
			panic("boom in Run")
		},
	}
}
