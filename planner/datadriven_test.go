package planner

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewriteGolden = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// ddCase is one case of a data-driven file, in the style of
// cockroachdb/datadriven:
//
//	command [arg ...]
//	input, one or more lines
//	----
//	expected output
//
// Cases are separated by a blank line; lines starting with # between
// cases are comments.
type ddCase struct {
	comments []string // the # lines before the case, kept by -rewrite
	line     int
	cmd      string
	args     []string
	input    string
	expected string
}

func readCases(t *testing.T, path string) (cases []ddCase, raw []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		raw = append(raw, sc.Text())
	}
	var comments []string
	for i := 0; i < len(raw); {
		l := raw[i]
		if strings.HasPrefix(l, "#") {
			comments = append(comments, l)
			i++
			continue
		}
		if strings.TrimSpace(l) == "" {
			i++
			continue
		}
		f := strings.Fields(l)
		c := ddCase{comments: comments, line: i + 1, cmd: f[0], args: f[1:]}
		comments = nil
		i++
		var in []string
		for i < len(raw) && raw[i] != "----" {
			in = append(in, raw[i])
			i++
		}
		if i == len(raw) {
			t.Fatalf("%s:%d: no ---- separator", path, c.line)
		}
		i++
		var out []string
		for i < len(raw) && raw[i] != "" {
			out = append(out, raw[i])
			i++
		}
		c.input = strings.Join(in, "\n")
		c.expected = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases, raw
}

// runDataDriven runs every case of a file through do, comparing (or with
// -rewrite, replacing) the expected output.
func runDataDriven(t *testing.T, path string, do func(t *testing.T, c ddCase) string) {
	cases, _ := readCases(t, path)
	var b strings.Builder
	for _, c := range cases {
		got := strings.TrimRight(do(t, c), "\n")
		if *rewriteGolden {
			for _, l := range c.comments {
				b.WriteString(l + "\n")
			}
			fmt.Fprintf(&b, "%s\n%s\n----\n", strings.Join(append([]string{c.cmd}, c.args...), " "), c.input)
			if got != "" {
				b.WriteString(got + "\n")
			}
			b.WriteString("\n")
			continue
		}
		if got != c.expected {
			t.Errorf("%s:%d: %s\n%s\ngot:\n%s\nwant:\n%s", path, c.line, c.cmd, c.input, got, c.expected)
		}
	}
	if *rewriteGolden {
		if err := os.WriteFile(path, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644); err != nil {
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
			runDataDriven(t, f, func(t *testing.T, c ddCase) string {
				switch c.cmd {
				case "exec":
					if _, err := s.conn.pg.Exec(s.ctx, c.input).ReadAll(); err != nil {
						return "ERROR: " + err.Error()
					}
					return ""
				case "rewrite":
					st, err := s.p.Prepare(s.ctx, s.conn, c.input, nil)
					if err != nil {
						return formatErr(err)
					}
					if st == nil {
						return "(unchanged)"
					}
					out := fmt.Sprintf("%s\nparams: %v | %v", st.SQL, st.ParamOIDs[:st.ClientParams], st.ParamOIDs[st.ClientParams:])
					if st.explain != nil {
						out += fmt.Sprintf("\nexplain: %s\nexplain params: %v", st.explain.sql, st.explain.oids)
					}
					return out
				case "query", "error":
					var params [][]byte
					for _, a := range c.args {
						if v, ok := strings.CutPrefix(a, "param="); ok {
							params = append(params, []byte(v))
						}
					}
					r, err := s.run(c.input, nil, params, nil)
					if err != nil {
						return formatErr(err)
					}
					return r.String()
				}
				t.Fatalf("%d: unknown command %q", c.line, c.cmd)
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
