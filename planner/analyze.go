package planner

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/flywheeldb/flywheel/catalog"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// analysis is one parsed statement with the model-function calls found in
// it, before any side query runs.
type analysis struct {
	sql      string
	toks     []*pg_query.ScanToken
	sites    []*site
	maxParam int
	explain  *pg_query.ExplainStmt // set when the statement is EXPLAIN
	copyOut  bool                  // COPY (query) TO: the rows go inline
	prepare  *pg_query.PrepareStmt // set when the statement is PREPARE
	version  int32                 // the parse tree's version, for Deparse
	// sinkAt is the byte offset where the rewrite adds the calls' sinks as
	// data-modifying WITH queries: after the top statement's "WITH
	// [RECURSIVE]" when it has one (sinkWith), else at its start; -1 where
	// PostgreSQL allows none (EXPLAIN, PREPARE, COPY, DECLARE, MERGE,
	// SELECT INTO), and the sinks' INSERT then runs on its own.
	sinkAt   int
	sinkWith bool
}

// site is one call of a model function in a FROM clause.
type site struct {
	fn    *catalog.Func
	fc    *pg_query.FuncCall
	rf    *pg_query.RangeFunction
	stack []proto.Message // ancestors of rf, outermost first
	// start and end delimit the bytes the rewrite replaces: from the
	// function's name to the end of its alias clause.
	start, end int
	alias      string   // the alias, defaulting to the function's name
	colnames   []string // the user's column aliases
	args       []argSpec
}

type argKind int

const (
	argDefault  argKind = iota // not given: the catalog's default
	argConst                   // a constant, already converted
	argParam                   // a client parameter $n, read at Bind
	argRelation                // (SELECT ...) or (TABLE name)
	argExpr                    // any other expression: evaluated per outer row (LATERAL)
)

// argSpec is how one catalog argument gets its value.
type argSpec struct {
	kind  argKind
	value any    // argDefault, argConst
	param int    // argParam: 1-based client parameter number
	cast  uint32 // argParam: type of an explicit cast, 0 if none
	loc   int    // byte offset of the expression, for error positions
	node  *pg_query.Node
	text  string // argExpr: the expression as written
	rel   *relArg
	expr  int // argExpr: index among the call's expression arguments
}

// relArg is a relation argument: its text as a stand-alone query, with the
// client's parameters renumbered $1..$m.
type relArg struct {
	sql    string
	params []int // client parameter number of $1..$m
	cols   []catalog.InputColumn
	// start and end delimit "( query )" in the statement; pos is the
	// 1-based character position of the query's text in it.
	start, end, pos int
	// sub is the query prepared as a statement of its own when it calls
	// model functions itself.
	sub *Statement
}

// inRelation reports whether a byte offset lies in one of the call's
// relation arguments.
func (s *site) inRelation(loc int) bool {
	for _, a := range s.args {
		if a.kind == argRelation && a.rel.start <= loc && loc < a.rel.end {
			return true
		}
	}
	return false
}

// hasCalls reports whether a parsed statement calls a catalog function in a
// FROM clause.
func (p *Planner) hasCalls(raw *pg_query.RawStmt) bool {
	found := false
	walk(raw.Stmt.ProtoReflect(), nil, func(m proto.Message, _ []proto.Message) bool {
		if found {
			return false
		}
		if rf, ok := m.(*pg_query.RangeFunction); ok {
			for _, fn := range rf.Functions {
				if fc := firstFuncCall(fn); fc != nil && p.lookup(fc) != nil {
					found = true
					return false
				}
			}
		}
		return true
	})
	return found
}

// lookup returns the catalog function a call names, unqualified or
// qualified with schema flywheel, or nil.
func (p *Planner) lookup(fc *pg_query.FuncCall) *catalog.Func {
	var name string
	switch len(fc.Funcname) {
	case 1:
		name = fc.Funcname[0].GetString_().GetSval()
	case 2:
		if fc.Funcname[0].GetString_().GetSval() != "flywheel" {
			return nil
		}
		name = fc.Funcname[1].GetString_().GetSval()
	default:
		return nil
	}
	f, ok := p.cat.Lookup(name)
	if !ok || f.Qualified && len(fc.Funcname) != 2 {
		return nil
	}
	return f
}

func firstFuncCall(n *pg_query.Node) *pg_query.FuncCall {
	l := n.GetList()
	if l == nil || len(l.Items) == 0 {
		return nil
	}
	return l.Items[0].GetFuncCall()
}

// walk visits every message under m depth first, with its ancestors (Node
// wrappers left out). visit returns false to skip a message's children.
// The stack passed to visit is reused: copy it to keep it.
func walk(m protoreflect.Message, stack []proto.Message, visit func(proto.Message, []proto.Message) bool) {
	msg := m.Interface()
	if _, wrapper := msg.(*pg_query.Node); !wrapper {
		if !visit(msg, stack) {
			return
		}
		stack = append(stack, msg)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), stack, visit)
			}
			return true
		}
		walk(v.Message(), stack, visit)
		return true
	})
}

// unwrap returns the message a Node wraps.
func unwrap(n *pg_query.Node) proto.Message {
	if n == nil {
		return nil
	}
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil {
		return nil
	}
	return m.Get(fd).Message().Interface()
}

// analyze finds the model-function calls in one statement and classifies
// their arguments. It returns nil when there is none.
func (p *Planner) analyze(sql string, version int32, raw *pg_query.RawStmt) (*analysis, error) {
	a := &analysis{sql: sql, version: version, sinkAt: -1}
	var err error
	walk(raw.Stmt.ProtoReflect(), nil, func(m proto.Message, stack []proto.Message) bool {
		if err != nil {
			return false
		}
		switch n := m.(type) {
		case *pg_query.ParamRef:
			a.maxParam = max(a.maxParam, int(n.Number))
		case *pg_query.RangeFunction:
			for _, fn := range n.Functions {
				fc := firstFuncCall(fn)
				if fc == nil {
					continue
				}
				f := p.lookup(fc)
				if f == nil {
					continue
				}
				if n.IsRowsfrom || len(n.Functions) != 1 {
					err = a.errorAt(int(fc.Location), "0A000", fmt.Sprintf("%s cannot be called inside ROWS FROM", f.Name))
					return false
				}
				if len(n.Coldeflist) > 0 {
					err = a.errorAt(int(fc.Location), "42601", fmt.Sprintf("a column definition list is not allowed for %s", f.Name))
					return false
				}
				if msg := aggregateSyntax(fc, f.Name); msg != "" {
					err = a.errorAt(int(fc.Location), "42809", msg)
					return false
				}
				a.sites = append(a.sites, &site{fn: f, fc: fc, rf: n, stack: append([]proto.Message(nil), stack...)})
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(a.sites) == 0 {
		return nil, nil
	}
	var top *pg_query.WithClause
	sinks := false
	switch st := raw.Stmt.Node.(type) {
	case *pg_query.Node_ExplainStmt:
		a.explain = st.ExplainStmt
	case *pg_query.Node_PrepareStmt:
		a.prepare = st.PrepareStmt
	case *pg_query.Node_ViewStmt, *pg_query.Node_CreateTableAsStmt:
		// A view's definition outlives the execution that computed the
		// rows; a materialized view could be refreshed without the proxy.
		if ctas := raw.Stmt.GetCreateTableAsStmt(); ctas == nil || ctas.Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
			e := a.errorAt(int(a.sites[0].fc.Location), "0A000", fmt.Sprintf("a view cannot call %s", a.sites[0].fn.Name))
			e.Hint = "Store the result with CREATE TABLE ... AS SELECT, or call the function in the query that reads the view."
			return nil, e
		}
	case *pg_query.Node_CopyStmt:
		// COPY takes no parameters, so the proxy's rows are spliced into
		// its query as literals (Statement.Inline). COPY ... FROM has no
		// query to splice into.
		if st.CopyStmt.Query == nil || st.CopyStmt.IsFrom {
			return nil, a.notHere(raw.Stmt)
		}
		a.copyOut = true
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
		top = topWith(raw.Stmt)
		sinks = raw.Stmt.GetSelectStmt().GetIntoClause() == nil
	case *pg_query.Node_MergeStmt, *pg_query.Node_DeclareCursorStmt:
	default:
		// The rewrite passes the rows as parameters, which stored
		// definitions (functions, rules) cannot take: PostgreSQL would
		// only say "there is no parameter $1".
		return nil, a.notHere(raw.Stmt)
	}
	// Text order: proxy parameters are numbered in the order calls are
	// written.
	sort.Slice(a.sites, func(i, j int) bool { return a.sites[i].fc.Location < a.sites[j].fc.Location })
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return nil, fmt.Errorf("planner: scan: %w", err)
	}
	// Comments are no tokens for the rewrite; text spans keep them.
	a.toks = slices.DeleteFunc(scan.Tokens, func(t *pg_query.ScanToken) bool {
		return t.Token == pg_query.Token_SQL_COMMENT || t.Token == pg_query.Token_C_COMMENT
	})
	for _, s := range a.sites {
		if err := a.locate(s); err != nil {
			return nil, err
		}
	}
	if sinks {
		a.locateSinks(top)
	}
	// A call inside another call's relation argument is rewritten with
	// that argument's side query, which Prepare handles as a statement of
	// its own. Anywhere else inside a call it is not supported.
	outer := a.sites[:0:0]
	for _, s := range a.sites {
		nested := false
		for _, o := range a.sites {
			if o != s && o.start <= s.start && s.end <= o.end {
				if !o.inRelation(s.start) {
					return nil, a.errorAt(s.start, "0A000", fmt.Sprintf("%s cannot be called inside an argument of %s", s.fn.Name, o.fn.Name))
				}
				nested = true
			}
		}
		if !nested {
			outer = append(outer, s)
		}
	}
	a.sites = outer
	return a, nil
}

// topWith returns the WITH clause of a SELECT, INSERT, UPDATE or DELETE,
// nil when it has none.
func topWith(n *pg_query.Node) *pg_query.WithClause {
	switch st := n.Node.(type) {
	case *pg_query.Node_SelectStmt:
		return st.SelectStmt.WithClause
	case *pg_query.Node_InsertStmt:
		return st.InsertStmt.WithClause
	case *pg_query.Node_UpdateStmt:
		return st.UpdateStmt.WithClause
	case *pg_query.Node_DeleteStmt:
		return st.DeleteStmt.WithClause
	}
	return nil
}

// locateSinks sets where sinks go: after the WITH clause's keywords, or
// at the statement's start when it has none. SELECT ... INTO takes none.
func (a *analysis) locateSinks(with *pg_query.WithClause) {
	if with == nil {
		a.sinkAt = 0
		return
	}
	i := a.tokenAt(int(with.Location))
	if i >= len(a.toks) || !strings.EqualFold(a.tok(i), "WITH") {
		return
	}
	if i+1 < len(a.toks) && strings.EqualFold(a.tok(i+1), "RECURSIVE") {
		i++
	}
	a.sinkAt, a.sinkWith = int(a.toks[i].End), true
}

// notHere is the error for a call in a statement that cannot run the
// rewrite, naming the statement where it can.
func (a *analysis) notHere(stmt *pg_query.Node) *Error {
	s := a.sites[0]
	kind, hint := "this kind of statement", ""
	switch stmt.Node.(type) {
	case *pg_query.Node_CopyStmt:
		kind = "COPY ... FROM"
		hint = "COPY (SELECT ... FROM " + s.fn.Name + "(...)) TO STDOUT works (in psql: \\copy (SELECT ...) TO 'file')."
	case *pg_query.Node_CreateFunctionStmt:
		kind = "a function body"
	case *pg_query.Node_RuleStmt:
		kind = "a rule"
	}
	e := a.errorAt(int(s.fc.Location), "0A000", fmt.Sprintf("%s cannot be called inside %s", s.fn.Name, kind))
	e.Hint = hint
	if e.Hint == "" {
		e.Hint = "Model functions can be called in SELECT, INSERT, UPDATE, DELETE, MERGE, DECLARE, CREATE TABLE AS, EXPLAIN and COPY (query) TO."
	}
	return e
}

// aggregateSyntax is PostgreSQL's message for aggregate or window syntax
// on a call of a plain function, or "" when there is none. The grammar
// accepts it for any function, so pg_query does too.
func aggregateSyntax(fc *pg_query.FuncCall, name string) string {
	switch {
	case fc.AggStar:
		return fmt.Sprintf("%s(*) specified, but %s is not an aggregate function", name, name)
	case fc.AggDistinct:
		return fmt.Sprintf("DISTINCT specified, but %s is not an aggregate function", name)
	case fc.AggWithinGroup:
		return fmt.Sprintf("WITHIN GROUP specified, but %s is not an aggregate function", name)
	case len(fc.AggOrder) > 0:
		return fmt.Sprintf("ORDER BY specified, but %s is not an aggregate function", name)
	case fc.AggFilter != nil:
		return fmt.Sprintf("FILTER specified, but %s is not an aggregate function", name)
	case fc.Over != nil:
		return fmt.Sprintf("OVER specified, but %s is not a window function nor an aggregate function", name)
	}
	return ""
}

// errorAt makes an *Error positioned at a byte offset of the statement.
func (a *analysis) errorAt(loc int, code, msg string) *Error {
	return &Error{Code: code, Message: msg, Position: a.charPos(loc)}
}

// at positions an *Error at a byte offset of the statement.
func (a *analysis) at(loc int, err error) error {
	if e, ok := err.(*Error); ok && e.Position == 0 {
		e.Position = a.charPos(loc)
	}
	return err
}

// charPos converts a byte offset to PostgreSQL's 1-based character position.
func (a *analysis) charPos(loc int) int {
	if loc < 0 || loc > len(a.sql) {
		return 0
	}
	return utf8.RuneCountInString(a.sql[:loc]) + 1
}

// tok returns the text of token i.
func (a *analysis) tok(i int) string {
	t := a.toks[i]
	return a.sql[t.Start:t.End]
}

// tokenAt returns the index of the token starting at byte offset loc.
func (a *analysis) tokenAt(loc int) int {
	return sort.Search(len(a.toks), func(m int) bool { return int(a.toks[m].Start) >= loc })
}

// closing returns the index of the token closing the bracket at token i.
func (a *analysis) closing(i int) (int, error) {
	depth := 0
	for j := i; j < len(a.toks); j++ {
		switch a.tok(j) {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("planner: unbalanced parentheses at offset %d", a.toks[i].Start)
}

// locate finds a call's text span (name to end of alias), its arguments'
// spans, and classifies the arguments.
func (a *analysis) locate(s *site) error {
	s.start = int(s.fc.Location)
	open := a.tokenAt(s.start)
	for open < len(a.toks) && a.tok(open) != "(" {
		open++
	}
	if open == len(a.toks) {
		return fmt.Errorf("planner: no argument list after %s", s.fn.Name)
	}
	closeTok, err := a.closing(open)
	if err != nil {
		return err
	}
	// Arguments: top-level comma-separated token runs inside the parens.
	var spans [][2]int // token index ranges, inclusive
	depth, from := 0, open+1
	for j := open + 1; j < closeTok; j++ {
		switch a.tok(j) {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
		case ",":
			if depth == 0 {
				spans = append(spans, [2]int{from, j - 1})
				from = j + 1
			}
		}
	}
	if from < closeTok {
		spans = append(spans, [2]int{from, closeTok - 1})
	}
	if len(spans) != len(s.fc.Args) {
		return fmt.Errorf("planner: %s: found %d arguments in the text, %d in the parse tree", s.fn.Name, len(spans), len(s.fc.Args))
	}

	// What follows the call: WITH ORDINALITY, then the alias clause.
	next := closeTok + 1
	s.end = int(a.toks[closeTok].End)
	if s.rf.Ordinality {
		if next+1 >= len(a.toks) || !strings.EqualFold(a.tok(next+1), "ordinality") {
			return fmt.Errorf("planner: %s: WITH ORDINALITY not found after the call", s.fn.Name)
		}
		s.end = int(a.toks[next+1].End)
		next += 2
	}
	s.alias = s.fn.Name
	if al := s.rf.Alias; al != nil {
		s.alias = al.Aliasname
		if next < len(a.toks) && strings.EqualFold(a.tok(next), "as") {
			next++
		}
		if next >= len(a.toks) {
			return fmt.Errorf("planner: %s: alias not found after the call", s.fn.Name)
		}
		s.end = int(a.toks[next].End)
		if len(al.Colnames) > 0 {
			c, err := a.closing(next + 1)
			if err != nil {
				return err
			}
			s.end = int(a.toks[c].End)
			for _, n := range al.Colnames {
				s.colnames = append(s.colnames, n.GetString_().GetSval())
			}
		}
	}

	return a.classifyArgs(s, spans)
}

// classifyArgs matches the call's arguments to the catalog's, positional
// then named, and works out how each gets its value.
func (a *analysis) classifyArgs(s *site, spans [][2]int) error {
	fn := s.fn
	s.args = make([]argSpec, len(fn.Args))
	given := make([]bool, len(fn.Args))
	// A call naming a model fills its positional arguments past the
	// arguments of fitting (catalog.Func.Positional); named arguments come
	// last, so they are known before the first positional one is placed.
	namedArgs := map[string]bool{}
	for _, arg := range s.fc.Args {
		if na := arg.GetNamedArgExpr(); na != nil {
			namedArgs[strings.ToLower(na.Name)] = true
		}
	}
	namesModel := namedArgs[catalog.ModelArg]
	order := fn.Positional(namesModel)
	// fitsModel is the error for positional argument p of a call with a
	// model when, in the order without one, it would be an argument of
	// fitting: the user most likely wrote the call as the one-shot call.
	fitsModel := func(p int) error {
		if !namesModel || len(order) == len(fn.Args) || p >= len(fn.Args) || !fn.Args[p].Fit {
			return nil
		}
		e := a.errorAt(s.start, "22023", fmt.Sprintf("%s: argument %q fits a model; a call with model => predicts from the stored one, and its positional arguments are %s", fn.Name, fn.Args[p].Name, positionalNames(fn, order)))
		e.Hint = "Leave it out (flywheel.model_versions shows the options the model was trained with), or leave out model to fit afresh."
		return e
	}
	positional := 0
	nexpr := 0
	named := false
	for i, arg := range s.fc.Args {
		expr, name := arg, ""
		from := spans[i][0]
		if na := arg.GetNamedArgExpr(); na != nil {
			expr, name = na.Arg, na.Name
			from += 2 // name and => (or :=)
			named = true
		}
		idx := -1
		if name == "" {
			if named {
				// PostgreSQL's own rule (and wording), which its grammar
				// leaves to analysis, so pg_query accepts the call.
				return a.errorAt(int(a.toks[spans[i][0]].Start), "42601", "positional argument cannot follow named argument")
			}
			if positional >= len(order) || namedArgs[fn.Args[order[positional]].Name] ||
				expr.GetSubLink() != nil && !fn.Args[order[positional]].Relation {
				// Past the arguments, onto a named one, or a relation
				// where a value goes: with a model, most likely an
				// argument of fitting written as in the one-shot call.
				if err := fitsModel(positional); err != nil {
					return err
				}
			}
			if positional >= len(order) {
				return a.signatureError(s, fmt.Sprintf("function %s has %d arguments, %d given", fn.Name, len(fn.Args), len(s.fc.Args)))
			}
			idx = order[positional]
			positional++
		} else {
			idx = slices.IndexFunc(fn.Args, func(fa catalog.Arg) bool { return strings.EqualFold(fa.Name, name) })
			if idx < 0 {
				return a.signatureError(s, fmt.Sprintf("function %s has no argument named %q", fn.Name, name))
			}
		}
		if given[idx] {
			return a.errorAt(int(arg.GetNamedArgExpr().GetLocation()), "42601", fmt.Sprintf("argument %q of %s given more than once", fn.Args[idx].Name, fn.Name))
		}
		given[idx] = true
		text := ""
		if from <= spans[i][1] {
			text = a.sql[a.toks[from].Start:a.toks[spans[i][1]].End]
		}
		spec, err := a.classify(s, fn.Args[idx], expr, text, from, spans[i][1])
		if err != nil {
			return err
		}
		if spec.kind == argExpr {
			spec.expr = nexpr
			nexpr++
		}
		s.args[idx] = spec
	}
	// A call that predicts from a stored model takes none of the
	// arguments of fitting: the model was fitted with its own.
	withModel := false
	for j, fa := range fn.Args {
		withModel = withModel || fa.Name == "model" && !fa.Relation && given[j]
	}
	for j, fa := range fn.Args {
		if given[j] {
			if withModel && fa.Fit {
				e := a.errorAt(s.start, "22023", fmt.Sprintf("%s: argument %q fits a model; a call with model => predicts from the stored one", fn.Name, fa.Name))
				e.Hint = "Leave it out (flywheel.model_versions shows the options the model was trained with), or leave out model to fit afresh."
				return e
			}
			continue
		}
		if fa.Required && !(withModel && fa.Fit) {
			return a.signatureError(s, fmt.Sprintf("function %s: missing argument %q", fn.Name, fa.Name))
		}
		s.args[j] = argSpec{kind: argDefault, value: fa.Default}
	}
	return nil
}

// positionalNames lists the arguments order names, for messages.
func positionalNames(fn *catalog.Func, order []int) string {
	names := make([]string, len(order))
	for i, j := range order {
		names[i] = fn.Args[j].Name
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// signatureError is 42883 at the call with the signature as a hint.
func (a *analysis) signatureError(s *site, msg string) error {
	e := a.errorAt(s.start, "42883", msg)
	e.Hint = "The signature is " + signature(s.fn) + "."
	return e
}

// signature renders a function's declaration, e.g.
// recommend(user anyelement, n bigint => 10, ratings => (SELECT ...)).
func signature(f *catalog.Func) string {
	var b strings.Builder
	b.WriteString(f.Name)
	b.WriteByte('(')
	for i, a := range f.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Name)
		if a.Relation {
			b.WriteString(" relation (SELECT ...)")
		} else {
			b.WriteString(" " + a.Type.Name)
		}
		if !a.Required {
			b.WriteString(" => ")
			switch d := a.Default.(type) {
			case nil:
				b.WriteString("NULL")
			case string:
				b.WriteString("'" + strings.ReplaceAll(d, "'", "''") + "'")
			default:
				fmt.Fprint(&b, d)
			}
		}
	}
	b.WriteByte(')')
	return b.String()
}

// classify works out how one argument gets its value.
func (a *analysis) classify(s *site, fa catalog.Arg, expr *pg_query.Node, text string, fromTok, toTok int) (argSpec, error) {
	// The argument's first token: a cast's own location is its "::".
	loc := exprLocation(expr)
	if fromTok <= toTok {
		loc = int(a.toks[fromTok].Start)
	}
	spec := argSpec{loc: loc, node: expr, text: text}
	sub := expr.GetSubLink()
	if fa.Relation {
		if sub == nil || sub.SubLinkType != pg_query.SubLinkType_EXPR_SUBLINK {
			return spec, a.errorAt(loc, "42601", fmt.Sprintf("argument %q of %s must be a relation written as (SELECT ...) or (TABLE name)", fa.Name, s.fn.Name))
		}
		rel, err := a.relation(fromTok, toTok)
		if err != nil {
			return spec, err
		}
		spec.kind, spec.rel = argRelation, rel
		return spec, nil
	}
	if sub != nil {
		e := a.errorAt(loc, "42804", fmt.Sprintf("argument %q of %s must be a value of type %s, not a subquery", fa.Name, s.fn.Name, fa.Type.Name))
		e.Hint = "Relation arguments come first or by name (ratings => (SELECT ...)); a scalar argument takes a constant, a parameter or an expression."
		return spec, e
	}
	// A parameter, possibly cast.
	inner, cast := expr, uint32(0)
	if tc := expr.GetTypeCast(); tc != nil {
		inner, cast = tc.Arg, typeOID(tc.TypeName)
	}
	if pr := inner.GetParamRef(); pr != nil {
		spec.kind, spec.param, spec.cast = argParam, int(pr.Number), cast
		return spec, nil
	}
	v, oid, ok, err := constValue(expr)
	if err != nil {
		return spec, a.at(loc, err)
	}
	if !ok {
		spec.kind = argExpr
		return spec, nil
	}
	v, err = coerce(v, oid, fa, s.fn.Name)
	if err != nil {
		return spec, a.at(loc, err)
	}
	if v == nil && !fa.Nullable {
		return spec, a.errorAt(loc, "22023", fmt.Sprintf("%s: argument %q must not be NULL", s.fn.Name, fa.Name))
	}
	spec.kind, spec.value = argConst, v
	return spec, nil
}

// relation extracts a relation argument's query from the tokens of
// "( query )", renumbering the client's parameters $1..$m.
func (a *analysis) relation(fromTok, toTok int) (*relArg, error) {
	if fromTok > toTok || a.tok(fromTok) != "(" || a.tok(toTok) != ")" {
		return nil, fmt.Errorf("planner: relation argument is not parenthesised")
	}
	rel := &relArg{start: int(a.toks[fromTok].Start), end: int(a.toks[toTok].End)}
	var b strings.Builder
	last := int(a.toks[fromTok].End)
	if fromTok+1 < toTok {
		rel.pos = a.charPos(int(a.toks[fromTok+1].Start))
	}
	for j := fromTok + 1; j < toTok; j++ {
		t := a.toks[j]
		if t.Token != pg_query.Token_PARAM {
			continue
		}
		var n int
		fmt.Sscanf(a.tok(j), "$%d", &n)
		k := slices.Index(rel.params, n) + 1
		if k == 0 {
			rel.params = append(rel.params, n)
			k = len(rel.params)
		}
		b.WriteString(a.sql[last:t.Start])
		fmt.Fprintf(&b, "$%d", k)
		last = int(t.End)
	}
	b.WriteString(a.sql[last:a.toks[toTok].Start])
	rel.sql = strings.TrimSpace(b.String())
	return rel, nil
}

// exprLocation returns a node's location field, or -1.
func exprLocation(n *pg_query.Node) int {
	m := unwrap(n)
	if m == nil {
		return -1
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("location")
	if fd == nil {
		return -1
	}
	return int(r.Get(fd).Int())
}
