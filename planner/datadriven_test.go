package planner

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/internal/datadriven"
)

var rewriteGolden = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// runDataDriven runs every case of a file through do, comparing (or with
// -rewrite, replacing) the expected output.
func runDataDriven(t *testing.T, path string, do func(t *testing.T, c datadriven.Case) string) {
	f, err := datadriven.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(f.Cases))
	for i, c := range f.Cases {
		got[i] = strings.TrimRight(do(t, c), "\n")
		if !*rewriteGolden && got[i] != c.Expected {
			t.Errorf("%s:%d: %s\n%s\ngot:\n%s\nwant:\n%s", path, c.Line, c.Cmd, c.Input, got[i], c.Expected)
		}
	}
	if *rewriteGolden {
		if err := os.WriteFile(path, f.Rewrite(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDataDriven runs testdata/*.txt against a fresh database each:
//
//	exec       run SQL directly (setup)
//	rewrite    show the rewritten text and its parameter types
//	query      run through the planner, show the rows
//	error      run through the planner, show the error
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s := newSession(t, Options{}, "")
			runDataDriven(t, f, func(t *testing.T, c datadriven.Case) string {
				switch c.Cmd {
				case "exec":
					if _, err := s.conn.pg.Exec(s.ctx, c.Input).ReadAll(); err != nil {
						return "ERROR: " + err.Error()
					}
					return ""
				case "rewrite":
					st, err := s.p.Prepare(s.ctx, s.conn, c.Input, nil)
					if errors.Is(err, ErrNoCalls) {
						return "(unchanged)"
					}
					if err != nil {
						return formatErr(err)
					}
					out := fmt.Sprintf("%s\nparams: %v | %v", st.SQL, st.ParamOIDs[:st.ClientParams], st.ParamOIDs[st.ClientParams:])
					if e, ok := st.v.(*explainPlan); ok {
						out += fmt.Sprintf("\nexplain: %s\nexplain params: %v", e.sql, e.oids)
					}
					return out
				case "query", "error":
					var params [][]byte
					for _, a := range c.Args {
						if v, ok := strings.CutPrefix(a, "param="); ok {
							params = append(params, []byte(v))
						}
					}
					r, err := s.run(c.Input, nil, params, nil)
					switch {
					case err != nil && c.Cmd == "query":
						t.Errorf("%s:%d: query failed: %s", f, c.Line, formatErr(err))
					case err == nil && c.Cmd == "error":
						t.Errorf("%s:%d: error case succeeded:\n%s", f, c.Line, r)
					}
					if err != nil {
						return formatErr(err)
					}
					return r.String()
				}
				t.Fatalf("%d: unknown command %q", c.Line, c.Cmd)
				return ""
			})
		})
	}
}

// formatErr shows an error with its SQLSTATE, position and hint.
func formatErr(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		s := fmt.Sprintf("ERROR %s: %s", pe.Code, pe.Message)
		if pe.Position > 0 {
			s += fmt.Sprintf(" (position %d)", pe.Position)
		}
		if pe.Hint != "" {
			s += "\nHINT: " + pe.Hint
		}
		return s
	}
	var ss sqlStater
	if errors.As(err, &ss) {
		return fmt.Sprintf("ERROR %s (from PostgreSQL): %v", ss.SQLState(), err)
	}
	return "ERROR (untyped): " + err.Error()
}
