package planner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv) }

// pgConn implements Conn on a pgconn connection, as the wire package does
// on the session's upstream connection.
type pgConn struct{ pg *pgconn.PgConn }

func (c pgConn) Describe(ctx context.Context, sql string, oids []uint32) ([]uint32, []catalog.InputColumn, error) {
	sd, err := c.pg.Prepare(ctx, "", sql, oids)
	if err != nil {
		return nil, nil, err
	}
	var cols []catalog.InputColumn
	for _, f := range sd.Fields {
		cols = append(cols, catalog.InputColumn{Name: f.Name, Type: f.DataTypeOID})
	}
	return sd.ParamOIDs, cols, nil
}

func (c pgConn) Query(ctx context.Context, sql string, oids []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	rr := c.pg.ExecParams(ctx, sql, params, oids, formats, nil)
	if cols != nil {
		var ic []catalog.InputColumn
		for _, f := range rr.FieldDescriptions() {
			ic = append(ic, catalog.InputColumn{Name: f.Name, Type: f.DataTypeOID})
		}
		if err := cols(ic); err != nil {
			rr.Close()
			return err
		}
	}
	for rr.NextRow() {
		if err := row(rr.Values()); err != nil {
			rr.Close()
			return err
		}
	}
	_, err := rr.Close()
	return err
}

// session is one test database with a planner over the test catalog.
type session struct {
	t    testing.TB
	ctx  context.Context
	conn pgConn
	p    *Planner
}

func newSession(t testing.TB, opts Options, setup string) *session {
	t.Helper()
	db := srv.NewDatabase(t)
	ctx := context.Background()
	pg, err := pgconn.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	s := &session{t: t, ctx: ctx, conn: pgConn{pg}, p: New(testCatalog(), opts)}
	if setup != "" {
		s.exec(setup)
	}
	return s
}

// exec runs statements directly on the database.
func (s *session) exec(sql string) {
	s.t.Helper()
	if _, err := s.conn.pg.Exec(s.ctx, sql).ReadAll(); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// result is a statement's rows in text, NULL as "NULL".
type result struct {
	cols []string
	rows [][]string
}

func (r result) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(r.cols, " | "))
	for _, row := range r.rows {
		b.WriteString("\n" + strings.Join(row, " | "))
	}
	return b.String()
}

// run goes through the planner as the wire package does: Prepare, Bind,
// then the rewritten statement upstream with the client's parameters and
// the proxy's arrays. A statement without calls runs as it is.
func (s *session) run(sql string, oids []uint32, params [][]byte, formats []int16) (result, error) {
	st, err := s.p.Prepare(s.ctx, s.conn, sql, oids)
	if errors.Is(err, ErrNoCalls) {
		return s.direct(sql, oids, params, formats)
	}
	if err != nil {
		return result{}, err
	}
	extra, err := st.Bind(s.ctx, s.conn, params, formats)
	if err != nil {
		return result{}, err
	}
	if st.Kind().Inline() {
		return s.copyOut(st.Inline(extra))
	}
	all := append(append([][]byte(nil), params...), extra...)
	fmts := make([]int16, len(all))
	for i := range params {
		fmts[i] = paramFormat(formats, i)
	}
	return s.direct(st.SQL, st.ParamOIDs, all, fmts)
}

// copyOut runs COPY ... TO STDOUT and returns its lines as rows of one
// column, "copy".
func (s *session) copyOut(sql string) (result, error) {
	var b strings.Builder
	if _, err := s.conn.pg.CopyTo(s.ctx, &b, sql); err != nil {
		return result{}, err
	}
	r := result{cols: []string{"copy"}}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line != "" {
			r.rows = append(r.rows, []string{strings.TrimSuffix(line, "\n")})
		}
	}
	return r, nil
}

func (s *session) direct(sql string, oids []uint32, params [][]byte, formats []int16) (result, error) {
	rr := s.conn.pg.ExecParams(s.ctx, sql, params, oids, formats, nil)
	var r result
	for _, f := range rr.FieldDescriptions() {
		r.cols = append(r.cols, f.Name)
	}
	for rr.NextRow() {
		var row []string
		for _, v := range rr.Values() {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, string(v))
			}
		}
		r.rows = append(r.rows, row)
	}
	_, err := rr.Close()
	return r, err
}

// mustRun runs a statement without parameters and fails on error.
func (s *session) mustRun(sql string, params ...string) result {
	s.t.Helper()
	var ps [][]byte
	for _, p := range params {
		ps = append(ps, []byte(p))
	}
	r, err := s.run(sql, nil, ps, nil)
	if err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return r
}

// testCatalog declares small functions that exercise the planner without
// depending on the real algorithms.
func testCatalog() *catalog.Catalog {
	return catalog.New(echoRows(), rec(), series(), spin())
}

// echoRows(input, n => 1) returns the input's first column unchanged, a
// float (row number × n + 0.1) and a text column with characters that
// need quoting in an array literal (NULL every third row).
func echoRows() *catalog.Func {
	return &catalog.Func{
		Name: "echo_rows",
		Doc:  "Passes its input's first column through.",
		Args: []catalog.Arg{
			{Name: "input", Relation: true, Required: true},
			{Name: "n", Type: catalog.Int8, Default: int64(1)},
		},
		Columns: func(in [][]catalog.InputColumn) ([]catalog.OutputColumn, error) {
			if len(in) != 1 || len(in[0]) == 0 {
				return nil, &catalog.TypeError{Func: "echo_rows", Column: "input", Msg: "needs at least one column"}
			}
			return []catalog.OutputColumn{{Name: in[0][0].Name, Type: in[0][0].Type}, {Name: "score", Type: 701}, {Name: "note", Type: 25}}, nil
		},
		Run: func(ctx context.Context, c *catalog.Call) (*catalog.Result, error) {
			rel, n, err := relationAndN(c, "echo_rows", "input")
			if err != nil {
				return nil, err
			}
			rows := rel.Rows()
			key := catalog.ResultColumn{From: rel.Columns[0], Rows: make([]int, rows)}
			score := catalog.ResultColumn{Floats: make([]float64, rows)}
			note := catalog.ResultColumn{Texts: make([]string, rows), Nulls: make([]bool, rows)}
			for i := 0; i < rows; i++ {
				key.Rows[i] = i
				score.Floats[i] = float64(i+1)*float64(n) + 0.1
				note.Texts[i] = fmt.Sprintf(`r"%d\{x}, y`, i)
				note.Nulls[i] = i%3 == 2
			}
			return &catalog.Result{Columns: []catalog.ResultColumn{key, score, note}}, nil
		},
		Returns: []catalog.ReturnColumn{{Name: "key", Type: catalog.AnyType}, {Name: "score", Type: catalog.Float8}, {Name: "note", Type: catalog.Text}},
	}
}

// relationAndN reads the test function fn's relation argument arg and its
// argument n, which must be at least 1.
func relationAndN(c *catalog.Call, fn, arg string) (*catalog.Relation, int64, error) {
	rel, err := c.Relation(arg)
	if err != nil {
		return nil, 0, err
	}
	n, err := c.Int("n")
	if err != nil {
		return nil, 0, err
	}
	if n < 1 {
		return nil, 0, &catalog.ArgError{Func: fn, Arg: "n", Msg: "must be at least 1"}
	}
	return rel, n, nil
}

// rec(user, n => 10, ratings => (user, item, rating)) recommends the items
// the user has not rated, scored by the sum of the other users' ratings,
// ties in input order.
func rec() *catalog.Func {
	return &catalog.Func{
		Name: "rec",
		Args: []catalog.Arg{
			{Name: "user", Type: catalog.AnyType, Required: true},
			{Name: "n", Type: catalog.Int8, Default: int64(10)},
			{Name: "ratings", Relation: true, Required: true},
			{Name: "log", Type: catalog.Bool, Default: false},
		},
		// log => true writes (user, item, rank) to rec_log.
		Sink: &catalog.Sink{Arg: "log",
			Columns: []catalog.ReturnColumn{{Name: "user_key", Type: catalog.Text}, {Name: "item", Type: catalog.Text}, {Name: "rank", Type: catalog.Int4}},
			Insert: func(from string) string {
				return "INSERT INTO rec_log SELECT * FROM " + from
			}},
		Columns: func(in [][]catalog.InputColumn) ([]catalog.OutputColumn, error) {
			if len(in[0]) != 3 {
				return nil, &catalog.TypeError{Func: "rec", Column: "ratings", Msg: "needs columns user, item, rating"}
			}
			if t := in[0][2].Type; t != 20 && t != 21 && t != 23 && t != 700 && t != 701 && t != 1700 {
				return nil, &catalog.TypeError{Func: "rec", Column: in[0][2].Name, Msg: "must be numeric"}
			}
			return []catalog.OutputColumn{{Name: "item", Type: in[0][1].Type}, {Name: "score", Type: 701}, {Name: "rank", Type: 23}}, nil
		},
		Run: func(ctx context.Context, c *catalog.Call) (*catalog.Result, error) {
			rel, n, err := relationAndN(c, "rec", "ratings")
			if err != nil {
				return nil, err
			}
			user := fmt.Sprint(c.Values["user"])
			users, items, ratings := rel.Columns[0], rel.Columns[1], rel.Columns[2]
			rated := map[string]bool{}
			for i := 0; i < rel.Rows(); i++ {
				if users.Text(i) == user {
					rated[items.Text(i)] = true
				}
			}
			score := map[string]float64{}
			first := map[string]int{}
			var order []string
			for i := 0; i < rel.Rows(); i++ {
				it := items.Text(i)
				if users.Text(i) == user || rated[it] {
					continue
				}
				r, err := ratings.Float(i)
				if err != nil {
					return nil, &catalog.ArgError{Func: "rec", Arg: "ratings", Msg: err.Error()}
				}
				if _, ok := first[it]; !ok {
					first[it] = i
					order = append(order, it)
				}
				score[it] += r
			}
			sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
			if int64(len(order)) > n {
				order = order[:n]
			}
			res := &catalog.Result{Columns: []catalog.ResultColumn{
				{From: items}, {Floats: []float64{}}, {Ints: []int64{}}}}
			for k, it := range order {
				res.Columns[0].Rows = append(res.Columns[0].Rows, first[it])
				res.Columns[1].Floats = append(res.Columns[1].Floats, score[it])
				res.Columns[2].Ints = append(res.Columns[2].Ints, int64(k+1))
				if log, _ := c.Values["log"].(bool); log && c.Sink != nil {
					c.Sink.Add(user, it, strconv.Itoa(k+1))
				}
			}
			return res, nil
		},
	}
}

// series(n, start => 0, label => 'x', flag => false) returns n rows of
// constants-derived values: tests scalar arguments.
func series() *catalog.Func {
	return &catalog.Func{
		Name: "series",
		Args: []catalog.Arg{
			{Name: "n", Type: catalog.Int8, Required: true},
			{Name: "start", Type: catalog.Float8, Default: float64(0)},
			{Name: "label", Type: catalog.Text, Default: "x", Nullable: true},
			{Name: "flag", Type: catalog.Bool, Default: false},
		},
		Columns: func([][]catalog.InputColumn) ([]catalog.OutputColumn, error) {
			return []catalog.OutputColumn{{Name: "i", Type: 20}, {Name: "v", Type: 701}, {Name: "label", Type: 25}, {Name: "flag", Type: 16}}, nil
		},
		Run: func(ctx context.Context, c *catalog.Call) (*catalog.Result, error) {
			n, err := c.Int("n")
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, &catalog.ArgError{Func: "series", Arg: "n", Msg: "must not be negative"}
			}
			start, err := c.Float("start")
			if err != nil {
				return nil, err
			}
			flag, err := c.Bool("flag")
			if err != nil {
				return nil, err
			}
			res := &catalog.Result{Columns: make([]catalog.ResultColumn, 4)}
			res.Columns[0].Ints = []int64{}
			res.Columns[1].Floats = []float64{}
			res.Columns[2].Texts = []string{}
			res.Columns[3].Texts = []string{}
			for i := int64(0); i < n; i++ {
				res.Columns[0].Ints = append(res.Columns[0].Ints, i)
				res.Columns[1].Floats = append(res.Columns[1].Floats, start+float64(i))
				res.Columns[2].Texts = append(res.Columns[2].Texts, fmt.Sprint(c.Values["label"]))
				res.Columns[3].Texts = append(res.Columns[3].Texts, fmt.Sprint(flag))
			}
			if c.IsNull("label") {
				res.Columns[2].Nulls = make([]bool, n)
				for i := range res.Columns[2].Nulls {
					res.Columns[2].Nulls[i] = true
				}
			}
			return res, nil
		},
	}
}

// spin() runs until cancelled.
func spin() *catalog.Func {
	return &catalog.Func{
		Name: "spin",
		Columns: func([][]catalog.InputColumn) ([]catalog.OutputColumn, error) {
			return []catalog.OutputColumn{{Name: "x", Type: 23}}, nil
		},
		Run: func(ctx context.Context, c *catalog.Call) (*catalog.Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
}
