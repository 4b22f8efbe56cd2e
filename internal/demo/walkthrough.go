package demo

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/datadriven"
	"github.com/jackc/pgx/v5/pgconn"
)

// A Case is one block of a walkthrough file (testdata/demo/walkthrough.sql):
//
//	-- What the statement shows (one or more description lines).
//	query [needs=flywheel]
//	SELECT ...;
//	----
//	columns: a, b, c
//	rows: 24
//	row 1: x | 2024-01-01 | 12.5±0.01
//
// The format is documented at the top of that file.
type Case struct {
	Line      int    // 1-based line of the directive
	Comment   string // the description lines above the directive, "-- " removed
	Directive string // "query" (checks a result) or "exec" (must succeed)
	// NeedsFlywheel marks statements calling model functions: they run only
	// through the Flywheel proxy.
	NeedsFlywheel bool
	SQL           string
	Expect        []string // expectation lines, checked by Check
}

// ParseWalkthrough reads a walkthrough file, checking its syntax and the
// syntax of every expectation.
func ParseWalkthrough(data []byte) ([]Case, error) {
	f, err := datadriven.Parse("walkthrough", data)
	if err != nil {
		return nil, err
	}
	// Spots a call of a model function or a read of the model store
	// (schema flywheel, which Flywheel creates), so a block that forgets
	// needs=flywheel is caught when the file is parsed.
	names := catalog.Builtin().Names()
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	modelCall := regexp.MustCompile(`(?i)\b(` + strings.Join(names, "|") + `)\s*\(|\bflywheel\s*\.`)
	var cases []Case
	for _, d := range f.Cases {
		c := Case{Line: d.Line, Comment: strings.Join(d.Doc, "\n"), Directive: d.Cmd, SQL: strings.TrimSpace(d.Input)}
		if c.Directive != "query" && c.Directive != "exec" {
			return nil, fmt.Errorf("line %d: unknown directive %q (want query or exec)", c.Line, c.Directive)
		}
		for _, arg := range d.Args {
			if arg != "needs=flywheel" {
				return nil, fmt.Errorf("line %d: unknown argument %q", c.Line, arg)
			}
			c.NeedsFlywheel = true
		}
		if c.SQL == "" {
			return nil, fmt.Errorf("line %d: empty statement", c.Line)
		}
		if d.Expected != "" {
			c.Expect = strings.Split(d.Expected, "\n")
		}
		if c.Directive == "exec" && !(len(c.Expect) == 0 || len(c.Expect) == 1 && c.Expect[0] == "ok") {
			return nil, fmt.Errorf("line %d: an exec block expects nothing or \"ok\"", c.Line)
		}
		if c.Directive == "query" {
			if len(c.Expect) == 0 {
				return nil, fmt.Errorf("line %d: a query block needs at least one expectation", c.Line)
			}
			for _, e := range c.Expect {
				if _, err := parseExpectation(e); err != nil {
					return nil, fmt.Errorf("line %d: %w", c.Line, err)
				}
			}
		}
		if modelCall.MatchString(c.SQL) != c.NeedsFlywheel {
			return nil, fmt.Errorf("line %d: needs=flywheel must be given exactly when the statement calls a model function or reads schema flywheel", c.Line)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// Result is a statement's result in PostgreSQL's text format; a nil value
// is SQL NULL.
type Result struct {
	Columns []string
	Rows    [][]*string
}

// Run executes the case on conn with the simple query protocol (so values
// come back as PostgreSQL's text output) and checks the last result.
func (c *Case) Run(ctx context.Context, conn *pgconn.PgConn) error {
	results, err := conn.Exec(ctx, c.SQL).ReadAll()
	if err != nil {
		return fmt.Errorf("line %d: %w", c.Line, err)
	}
	if c.Directive == "exec" {
		return nil
	}
	if len(results) == 0 {
		return fmt.Errorf("line %d: no result", c.Line)
	}
	last := results[len(results)-1]
	var res Result
	for _, f := range last.FieldDescriptions {
		res.Columns = append(res.Columns, f.Name)
	}
	for _, row := range last.Rows {
		vals := make([]*string, len(row))
		for i, v := range row {
			if v != nil {
				s := string(v)
				vals[i] = &s
			}
		}
		res.Rows = append(res.Rows, vals)
	}
	return c.Check(res)
}

// Check compares a result with the case's expectations.
func (c *Case) Check(res Result) error {
	for _, e := range c.Expect {
		x, err := parseExpectation(e)
		if err != nil {
			return fmt.Errorf("line %d: %w", c.Line, err)
		}
		if err := x.check(res); err != nil {
			return fmt.Errorf("line %d: %q: %w", c.Line, e, err)
		}
	}
	return nil
}

// expectation is one parsed expectation line.
type expectation struct {
	kind    string   // columns, rows, row, contains, range, distinct, ordered
	index   int      // row: 1-based row number
	column  string   // range, distinct
	names   []string // columns, ordered
	values  []string // row, contains
	lo, hi  float64  // rows, range, distinct
	hasLo   bool
	hasHi   bool
	literal string
}

func parseExpectation(line string) (expectation, error) {
	head, body, ok := strings.Cut(line, ":")
	if !ok {
		return expectation{}, fmt.Errorf("expectation %q has no ':'", line)
	}
	body = strings.TrimSpace(body)
	f := strings.Fields(head)
	x := expectation{literal: line}
	if len(f) == 0 {
		return x, fmt.Errorf("empty expectation %q", line)
	}
	x.kind = f[0]
	switch {
	case x.kind == "columns" && len(f) == 1:
		x.names = splitList(body, ",")
	case x.kind == "rows" && len(f) == 1:
		return x, x.parseBounds(body)
	case x.kind == "row" && len(f) == 2:
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return x, fmt.Errorf("bad row number in %q", line)
		}
		x.index = n
		x.values = splitList(body, "|")
	case x.kind == "contains" && len(f) == 1:
		x.values = splitList(body, "|")
	case (x.kind == "range" || x.kind == "distinct") && len(f) == 2:
		x.column = f[1]
		return x, x.parseBounds(body)
	case x.kind == "ordered" && len(f) == 1:
		x.names = splitList(body, "<=")
		if len(x.names) < 2 {
			return x, fmt.Errorf("ordered needs two or more columns in %q", line)
		}
	default:
		return x, fmt.Errorf("unknown expectation %q", line)
	}
	for _, v := range x.values {
		if _, _, err := parseValue(v); err != nil {
			return x, err
		}
	}
	return x, nil
}

func splitList(s, sep string) []string {
	parts := strings.Split(s, sep)
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// parseBounds reads "N", "LO..HI", "LO.." or "..HI".
func (x *expectation) parseBounds(s string) error {
	lo, hi, isRange := strings.Cut(s, "..")
	if !isRange {
		hi = lo
	}
	var err error
	if lo = strings.TrimSpace(lo); lo != "" {
		if x.lo, err = strconv.ParseFloat(lo, 64); err != nil {
			return fmt.Errorf("bad bound in %q", x.literal)
		}
		x.hasLo = true
	}
	if hi = strings.TrimSpace(hi); hi != "" {
		if x.hi, err = strconv.ParseFloat(hi, 64); err != nil {
			return fmt.Errorf("bad bound in %q", x.literal)
		}
		x.hasHi = true
	}
	if !x.hasLo && !x.hasHi {
		return fmt.Errorf("no bounds in %q", x.literal)
	}
	return nil
}

func (x *expectation) within(v float64) bool {
	return (!x.hasLo || v >= x.lo) && (!x.hasHi || v <= x.hi)
}

func (x *expectation) bounds() string {
	lo, hi := "", ""
	if x.hasLo {
		lo = strconv.FormatFloat(x.lo, 'g', -1, 64)
	}
	if x.hasHi {
		hi = strconv.FormatFloat(x.hi, 'g', -1, 64)
	}
	if lo == hi {
		return lo
	}
	return lo + ".." + hi
}

// parseValue splits an expected value "X±T" into its number and tolerance;
// tol < 0 means compare as text ("*" and NULL are handled by match).
func parseValue(v string) (num, tol float64, err error) {
	a, b, ok := strings.Cut(v, "±")
	if !ok {
		return 0, -1, nil
	}
	if num, err = strconv.ParseFloat(strings.TrimSpace(a), 64); err != nil {
		return 0, 0, fmt.Errorf("bad number in %q", v)
	}
	if tol, err = strconv.ParseFloat(strings.TrimSpace(b), 64); err != nil || tol < 0 {
		return 0, 0, fmt.Errorf("bad tolerance in %q", v)
	}
	return num, tol, nil
}

func match(want string, got *string) bool {
	switch {
	case want == "*":
		return true
	case want == "NULL":
		return got == nil
	case got == nil:
		return false
	}
	num, tol, _ := parseValue(want)
	if tol < 0 {
		return want == *got
	}
	v, err := strconv.ParseFloat(*got, 64)
	return err == nil && math.Abs(v-num) <= tol
}

func matchRow(want []string, got []*string) bool { return slices.EqualFunc(want, got, match) }

func show(row []*string) string {
	parts := make([]string, len(row))
	for i, v := range row {
		if v == nil {
			parts[i] = "NULL"
		} else {
			parts[i] = *v
		}
	}
	return strings.Join(parts, " | ")
}

func columnIndex(res Result, name string) (int, error) {
	if i := slices.Index(res.Columns, name); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("no column %q in %v", name, res.Columns)
}

func numberAt(row []*string, i int) (float64, bool, error) {
	if row[i] == nil {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(*row[i], 64)
	if err != nil {
		return 0, false, fmt.Errorf("value %q is not a number", *row[i])
	}
	return v, true, nil
}

func (x *expectation) check(res Result) error {
	switch x.kind {
	case "columns":
		if strings.Join(x.names, ",") != strings.Join(res.Columns, ",") {
			return fmt.Errorf("columns are %s", strings.Join(res.Columns, ", "))
		}
	case "rows":
		if !x.within(float64(len(res.Rows))) {
			return fmt.Errorf("%d rows, want %s", len(res.Rows), x.bounds())
		}
	case "row":
		if x.index > len(res.Rows) {
			return fmt.Errorf("only %d rows", len(res.Rows))
		}
		if got := res.Rows[x.index-1]; !matchRow(x.values, got) {
			return fmt.Errorf("row %d is %s", x.index, show(got))
		}
	case "contains":
		if !slices.ContainsFunc(res.Rows, func(r []*string) bool { return matchRow(x.values, r) }) {
			return fmt.Errorf("no such row among %d", len(res.Rows))
		}
	case "range":
		i, err := columnIndex(res, x.column)
		if err != nil {
			return err
		}
		for _, r := range res.Rows {
			v, ok, err := numberAt(r, i)
			if err != nil {
				return err
			}
			if ok && !x.within(v) {
				return fmt.Errorf("%s = %v is outside %s", x.column, v, x.bounds())
			}
		}
	case "distinct":
		i, err := columnIndex(res, x.column)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range res.Rows {
			seen[show(r[i:i+1])] = true
		}
		if !x.within(float64(len(seen))) {
			return fmt.Errorf("%d distinct values of %s, want %s", len(seen), x.column, x.bounds())
		}
	case "ordered":
		idx := make([]int, len(x.names))
		for k, name := range x.names {
			var err error
			if idx[k], err = columnIndex(res, name); err != nil {
				return err
			}
		}
		for _, r := range res.Rows {
			prev := math.Inf(-1)
			for _, i := range idx {
				v, ok, err := numberAt(r, i)
				if err != nil {
					return err
				}
				if !ok || v < prev {
					return fmt.Errorf("row %s is not ordered", show(r))
				}
				prev = v
			}
		}
	}
	return nil
}
