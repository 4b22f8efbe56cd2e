package planner

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/flywheeldb/flywheel/internal/pgident"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// SQL-level PREPARE and EXECUTE of statements that call model functions.
//
// PostgreSQL keeps the prepared statement, so its name, DEALLOCATE,
// DISCARD and pg_prepared_statements behave as usual: PREPARE goes upstream
// rewritten, with the proxy's arrays as extra parameters after the
// client's. EXECUTE then runs the calls for the given arguments and goes
// upstream with every value spliced in as a literal, as for COPY.

// Prepared is what a PREPARE of a statement with calls made, for its
// EXECUTEs.
type Prepared struct {
	Name  string
	body  *Statement // the statement as prepared, run by Bind at EXECUTE
	types []string   // its parameters' types as SQL, the proxy's included
	sql   string     // the PREPARE sent upstream
}

// preparePrepare turns st, the rewritten PREPARE, into the PREPARE sent
// upstream: the body with every parameter typed, the proxy's included.
func (p *Planner) preparePrepare(ctx context.Context, conn Conn, a *analysis, st *Statement) (*Statement, error) {
	start := bodyStart(a)
	if start < 0 {
		return nil, fmt.Errorf("planner: no AS in PREPARE")
	}
	// Calls lie in the body, after start: the rewrite left it in place.
	body := st.SQL[start:]
	names, err := typeNames(ctx, conn, st.ParamOIDs)
	if err != nil {
		return nil, err
	}
	sql := "PREPARE " + pgident.Quote(a.prepare.Name)
	if len(names) > 0 {
		sql += " (" + strings.Join(names, ", ") + ")"
	}
	sql += " AS" + body
	return &Statement{SQL: sql, p: p, orig: a.sql, v: &Prepared{Name: a.prepare.Name, body: st, types: names, sql: sql}}, nil
}

// bodyStart is the byte offset just past PREPARE's AS keyword: the first AS
// outside the parameter type list.
func bodyStart(a *analysis) int {
	depth := 0
	for _, t := range a.toks {
		switch t.Token {
		case pg_query.Token_ASCII_40:
			depth++
		case pg_query.Token_ASCII_41:
			depth--
		case pg_query.Token_AS:
			if depth == 0 {
				return int(t.End)
			}
		}
	}
	return -1
}

// declaredTypes resolves PREPARE's parameter type list to OIDs.
func declaredTypes(ctx context.Context, conn Conn, version int32, ps *pg_query.PrepareStmt) ([]uint32, error) {
	if len(ps.Argtypes) == 0 {
		return nil, nil
	}
	sel := &pg_query.SelectStmt{}
	for _, t := range ps.Argtypes {
		tn := t.GetTypeName()
		if tn == nil {
			return nil, fmt.Errorf("planner: unexpected PREPARE parameter type %v", t)
		}
		cast := &pg_query.TypeCast{Arg: &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Isnull: true}}}, TypeName: tn}
		sel.TargetList = append(sel.TargetList, &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{
			Val: &pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: cast}}}}})
	}
	sql, err := pg_query.Deparse(&pg_query.ParseResult{Version: version, Stmts: []*pg_query.RawStmt{{
		Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}}}}})
	if err != nil {
		return nil, fmt.Errorf("planner: deparse PREPARE's types: %w", err)
	}
	_, cols, err := conn.Describe(ctx, sql, nil)
	if err != nil {
		return nil, sideErr(ctx, err, noPosition)
	}
	oids := make([]uint32, len(cols))
	for i, c := range cols {
		oids[i] = c.Type
	}
	return oids, nil
}

// typeNames names types as SQL, in order.
func typeNames(ctx context.Context, conn Conn, oids []uint32) ([]string, error) {
	if len(oids) == 0 {
		return nil, nil
	}
	list := make([]string, len(oids))
	for i, o := range oids {
		list[i] = strconv.FormatUint(uint64(o), 10)
	}
	var names []string
	err := conn.Query(ctx, "SELECT format_type(t, NULL) FROM unnest($1::oid[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
		nil, [][]byte{[]byte("{" + strings.Join(list, ",") + "}")}, nil, nil, func(row [][]byte) error {
			names = append(names, string(row[0]))
			return nil
		})
	if err != nil {
		return nil, sideErr(ctx, err, noPosition)
	}
	if len(names) != len(oids) {
		return nil, fmt.Errorf("planner: %d type names for %d types", len(names), len(oids))
	}
	return names, nil
}

// executeCall is an EXECUTE of a Prepared: Bind evaluates the arguments
// (args, a side query) and runs the calls for them.
type executeCall struct {
	inline *inlineSQL // EXECUTE name($1, ...) of every parameter of body
	body   *Statement
	args   string // SELECT of the arguments, cast to the parameters' types; "" if none
}

// PrepareExecute analyses sql, an EXECUTE of prep, into a SQLExecute
// statement. Its Bind returns every parameter value of the prepared
// statement, and Inline splices them in. It returns ErrReplaced when the
// session's statement of that name is no longer prep.
//
// SQL, to Parse for Describe in the extended protocol, is the client's
// EXECUTE with typed NULLs for the proxy's arrays, so that PostgreSQL types
// the client's parameters (paramOIDs, as in Parse) as it would have.
func (p *Planner) PrepareExecute(ctx context.Context, conn Conn, sql string, paramOIDs []uint32, prep *Prepared) (st *Statement, err error) {
	defer recovered(p, &st, &err)
	current := false
	err = conn.Query(ctx, "SELECT statement = $2 FROM pg_prepared_statements WHERE name = $1", nil,
		[][]byte{[]byte(prep.Name), []byte(prep.sql)}, nil, nil, func(row [][]byte) error {
			current = string(row[0]) == "t"
			return nil
		})
	if err != nil {
		return nil, sideErr(ctx, err, noPosition)
	}
	if !current {
		return nil, ErrReplaced
	}
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetExecuteStmt() == nil {
		return nil, fmt.Errorf("planner: not an EXECUTE: %q", sql)
	}
	ex := tree.Stmts[0].Stmt.GetExecuteStmt()
	body := prep.body
	if len(ex.Params) != body.ClientParams {
		return nil, &Error{Code: "42601", Message: fmt.Sprintf("wrong number of parameters for prepared statement %q", prep.Name),
			Detail: fmt.Sprintf("Expected %d parameters but got %d.", body.ClientParams, len(ex.Params))}
	}
	names := prep.types
	exec := &executeCall{body: body}
	// Each argument alone, cast as PostgreSQL would assign it.
	exprs := make([]string, len(ex.Params))
	casts := make([]string, len(names))
	for i, e := range ex.Params {
		one, err := pg_query.Deparse(&pg_query.ParseResult{Version: tree.Version, Stmts: []*pg_query.RawStmt{{
			Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
				TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: e}}}}}}}}}})
		if err != nil {
			return nil, fmt.Errorf("planner: deparse EXECUTE's arguments: %w", err)
		}
		exprs[i] = strings.TrimPrefix(one, "SELECT ")
		casts[i] = fmt.Sprintf("CAST((%s) AS %s)", exprs[i], names[i])
	}
	if len(exprs) > 0 {
		exec.args = "SELECT " + strings.Join(casts[:len(exprs)], ", ")
	}
	for i := len(exprs); i < len(names); i++ {
		casts[i] = "NULL::" + names[i]
	}
	// PostgreSQL counts no parameters in a utility statement: EXECUTE
	// takes only those Parse declares, as it would without the proxy.
	oids := append([]uint32(nil), paramOIDs...)
	describe := "EXECUTE " + pgident.Quote(prep.Name)
	if args := append(exprs[:len(exprs):len(exprs)], casts[len(exprs):]...); len(args) > 0 {
		describe += "(" + strings.Join(args, ", ") + ")"
	}
	var text strings.Builder
	text.WriteString("EXECUTE ")
	text.WriteString(pgident.Quote(prep.Name))
	if len(body.ParamOIDs) > 0 {
		text.WriteByte('(')
		writeNumbered(&text, "$%d", 1, len(body.ParamOIDs))
		text.WriteByte(')')
	}
	if exec.inline, err = newInlineSQL(text.String(), names); err != nil {
		return nil, err
	}
	return &Statement{SQL: describe, ParamOIDs: oids, ClientParams: len(oids), p: p, orig: sql, v: exec}, nil
}

// bindExecute evaluates an EXECUTE's arguments and runs the prepared
// statement's calls for them: the arguments then the proxy's arrays.
func (s *Statement) bindExecute(ctx context.Context, conn Conn, ex *executeCall, params [][]byte, formats []int16) ([][]byte, error) {
	if len(params) != s.ClientParams {
		return nil, &Error{Code: "08P01", Message: fmt.Sprintf("bind message supplies %d parameters, but prepared statement requires %d", len(params), s.ClientParams)}
	}
	var vals [][]byte
	if ex.args != "" {
		err := conn.Query(ctx, ex.args, s.ParamOIDs, params, formats, nil, func(row [][]byte) error {
			for _, v := range row {
				if v != nil {
					v = append(make([]byte, 0, len(v)), v...)
				}
				vals = append(vals, v)
			}
			return nil
		})
		if err != nil {
			return nil, sideErr(ctx, err, noPosition)
		}
	}
	extra, err := ex.body.bind(ctx, conn, vals, nil)
	if err != nil {
		return nil, err
	}
	return append(vals, extra...), nil
}
