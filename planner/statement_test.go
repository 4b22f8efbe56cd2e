package planner

import (
	"errors"
	"strings"
	"testing"
)

// TestStatementKinds: each kind of statement Prepare and PrepareExecute
// make says so, and the statements they do not rewrite come back as the
// sentinel errors the wire package relays on.
func TestStatementKinds(t *testing.T) {
	s := newSession(t, Options{}, "")
	for _, c := range []struct {
		sql  string
		want Kind
	}{
		{`SELECT * FROM series(2)`, Rewritten},
		{`EXPLAIN SELECT * FROM series(2)`, Explained},
		{`COPY (SELECT * FROM series(2)) TO STDOUT`, CopyOut},
		{`PREPARE kinds(int8) AS SELECT * FROM series($1)`, SQLPrepare},
	} {
		st, err := s.p.Prepare(s.ctx, s.conn, c.sql, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if st.Kind() != c.want {
			t.Errorf("%s: kind %v, want %v", c.sql, st.Kind(), c.want)
		}
		if got := st.Kind().Inline(); got != (c.want == CopyOut) {
			t.Errorf("%s: Inline %v", c.sql, got)
		}
		if got := st.Prepared() != nil; got != (c.want == SQLPrepare) {
			t.Errorf("%s: Prepared set %v", c.sql, got)
		}
	}
	for _, sql := range []string{`SELECT 1`, `SELECT * FROM series(`, `SELECT 'series'`} {
		if _, err := s.p.Prepare(s.ctx, s.conn, sql, nil); !errors.Is(err, ErrNoCalls) {
			t.Errorf("%s: %v, want ErrNoCalls", sql, err)
		}
	}

	prep, err := s.p.Prepare(s.ctx, s.conn, `PREPARE kinds(int8) AS SELECT * FROM series($1)`, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.exec(prep.SQL)
	ex, err := s.p.PrepareExecute(s.ctx, s.conn, `EXECUTE kinds(2)`, nil, prep.Prepared())
	if err != nil {
		t.Fatal(err)
	}
	if ex.Kind() != SQLExecute || !ex.Kind().Inline() {
		t.Fatalf("EXECUTE: kind %v", ex.Kind())
	}
	extra, err := ex.Bind(s.ctx, s.conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sql := ex.Inline(extra); !strings.HasPrefix(sql, "EXECUTE kinds(") {
		t.Errorf("EXECUTE runs %q", sql)
	}
	s.exec(`DEALLOCATE kinds`)
	if _, err := s.p.PrepareExecute(s.ctx, s.conn, `EXECUTE kinds(2)`, nil, prep.Prepared()); !errors.Is(err, ErrReplaced) {
		t.Errorf("EXECUTE after DEALLOCATE: %v, want ErrReplaced", err)
	}
}

// TestInlineOfParameterisedKind: Inline is for the kinds that take no
// parameters; for the others it is a caller's bug, which panics.
func TestInlineOfParameterisedKind(t *testing.T) {
	s := newSession(t, Options{}, "")
	st, err := s.p.Prepare(s.ctx, s.conn, `SELECT * FROM series(2)`, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Inline of a Rewritten statement did not panic")
		}
	}()
	st.Inline(nil)
}
