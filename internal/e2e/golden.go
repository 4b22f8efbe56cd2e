// Package e2e holds Flywheel's end-to-end tests: a real PostgreSQL, the
// proxy with the real planner and catalog, and real clients (pgx in both
// protocols, psql, pgJDBC) running the golden cases in testdata/golden.
package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Case is one directive of a golden file, in the style of
// cockroachdb/datadriven:
//
//	<directive>
//	<SQL, one or more lines>
//	----
//	<expected output>
//	<blank line>
//
// Directives: "exec" runs setup SQL and expects nothing; "query" expects a
// header line (column names joined by |) then one line per row; "error"
// expects the SQLSTATE alone on the first line. Lines starting with # are
// comments.
type Case struct {
	File      string
	Line      int
	Directive string
	SQL       string
	Expected  string
}

// ParseFile reads a golden file.
func ParseFile(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cases []Case
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	var cur *Case
	var sql, exp []string
	inExpected := false
	flush := func() {
		if cur != nil {
			cur.SQL = strings.TrimSpace(strings.Join(sql, "\n"))
			cur.Expected = strings.Join(exp, "\n")
			cases = append(cases, *cur)
		}
		cur, sql, exp, inExpected = nil, nil, nil, false
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case cur == nil:
			t := strings.TrimSpace(text)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			switch t {
			case "exec", "query", "error":
			default:
				return nil, fmt.Errorf("%s:%d: unknown directive %q", path, line, t)
			}
			cur = &Case{File: path, Line: line, Directive: t}
		case !inExpected && text == "----":
			inExpected = true
		case !inExpected:
			sql = append(sql, text)
		case text == "":
			flush()
		default:
			exp = append(exp, text)
		}
	}
	flush()
	return cases, sc.Err()
}
