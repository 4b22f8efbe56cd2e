package planner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// This file is the surface the wire package runs statements through: what
// Prepare and PrepareExecute return, and how each kind of statement goes
// upstream.

// ErrNoCalls is what Prepare returns for a statement that calls no model
// function, or that the parser rejects (PostgreSQL reports its own syntax
// error): the caller relays it unchanged.
var ErrNoCalls = errors.New("planner: the statement calls no model function")

// ErrReplaced is what PrepareExecute returns when the session's prepared
// statement of that name is no longer the Prepared it was given (the
// client replaced it in a way the proxy did not see, such as DEALLOCATE
// through the extended protocol): the EXECUTE is PostgreSQL's alone, and
// the caller relays it unchanged and forgets the Prepared.
var ErrReplaced = errors.New("planner: the prepared statement was replaced")

// Kind is the kind of a Statement, which says how it runs upstream.
type Kind uint8

const (
	// Rewritten is a statement with its calls replaced: Parse SQL with
	// ParamOIDs, then Bind the client's values followed by Bind's extra.
	Rewritten Kind = iota + 1
	// Explained is an EXPLAIN of a rewritten statement. It runs as
	// Rewritten does; SQL selects the plan lines, which Bind computes
	// (running the EXPLAIN upstream) and returns as its one extra value.
	Explained
	// CopyOut is a COPY (query) TO, which takes no parameters: Parse
	// Inline(extra), which holds the proxy's values as literals, and Bind
	// it with none.
	CopyOut
	// SQLPrepare is a SQL-level PREPARE of a statement with calls. It runs
	// as Rewritten does; Prepared is what its EXECUTEs need.
	SQLPrepare
	// SQLExecute is an EXECUTE of a Prepared (from PrepareExecute). SQL is
	// for Describe only; it runs as CopyOut does, Inline(extra) holding
	// every value, the client's parameters too.
	SQLExecute
)

// Inline reports whether statements of the kind take no parameters
// upstream and run as the text Statement.Inline returns.
func (k Kind) Inline() bool { return k == CopyOut || k == SQLExecute }

func (k Kind) String() string {
	switch k {
	case Rewritten:
		return "rewritten"
	case Explained:
		return "explained"
	case CopyOut:
		return "copy-out"
	case SQLPrepare:
		return "sql-prepare"
	case SQLExecute:
		return "sql-execute"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Statement is a statement prepared by Prepare or PrepareExecute.
type Statement struct {
	// SQL is the text to send upstream in Parse (see Kind for the kinds
	// that run other text).
	SQL string
	// ParamOIDs holds the type of every parameter: the client's own
	// (types filled in where the client left 0) followed by the proxy's.
	ParamOIDs []uint32
	// ClientParams is how many of ParamOIDs are the client's; the
	// ParameterDescription sent to the client lists only those.
	ClientParams int

	p     *Planner
	calls []*call
	// orig is the client's statement; splices say where its calls were
	// replaced, to map error positions back.
	orig    string
	splices []splice
	// v is what the statement's kind needs besides the above.
	v variant
}

// variant is the part of a Statement particular to its kind, one type per
// Kind: rewritten, *explainPlan, *copyOut, *Prepared, *executeCall.
type variant interface{ kind() Kind }

// rewritten is a Rewritten statement, which needs nothing more.
type rewritten struct{}

func (rewritten) kind() Kind { return Rewritten }

// explainPlan is an Explained statement: SQL returns the plan lines Bind
// computes, by running sql upstream with the proxy's arrays.
type explainPlan struct {
	sql       string   // the EXPLAIN statement with the calls rewritten
	oids      []uint32 // its parameter types: client's then proxy's
	textLines bool     // FORMAT TEXT: Flywheel's steps go above the plan
}

func (*explainPlan) kind() Kind { return Explained }

// copyOut is a CopyOut statement: SQL split at the proxy's parameters.
type copyOut struct{ inline *inlineSQL }

func (*copyOut) kind() Kind { return CopyOut }

func (*Prepared) kind() Kind { return SQLPrepare }

func (*executeCall) kind() Kind { return SQLExecute }

// Kind says which kind of statement s is.
func (s *Statement) Kind() Kind { return s.v.kind() }

// Prepared returns the SQL-level prepared statement a SQLPrepare makes, for
// its EXECUTEs; nil for every other kind.
func (s *Statement) Prepared() *Prepared {
	prep, _ := s.v.(*Prepared)
	return prep
}

// Bind runs the statement's model functions for one execution, given the
// client's parameter values as sent in Bind (formats as in Bind: none means
// all text, one applies to all), and returns the values of the proxy's own
// parameters in text format, to be appended after the client's (for the
// kinds whose Inline is true, to be given to Inline instead).
func (s *Statement) Bind(ctx context.Context, conn Conn, params [][]byte, formats []int16) (extra [][]byte, err error) {
	defer recovered(s.p, &extra, &err)
	return s.bind(ctx, conn, params, formats)
}

// Inline returns the text to run for a statement whose Kind's Inline is
// true: its SQL with the values Bind returned (extra) spliced in as
// literals. It panics for the other kinds, which take the values as
// parameters: calling it for them is a bug in the caller.
func (s *Statement) Inline(extra [][]byte) string {
	var in *inlineSQL
	switch v := s.v.(type) {
	case *copyOut:
		in = v.inline
	case *executeCall:
		in = v.inline
	default:
		panic(fmt.Sprintf("planner: Inline of a %v statement", s.Kind()))
	}
	return in.splice(extra)
}

// ClientPosition maps a 1-based character position in s.SQL, as
// PostgreSQL reports it for an error in the rewritten statement, to the
// statement the client wrote; 0 when there is none (only a Rewritten
// statement's SQL is the client's text with calls replaced: the others'
// are the proxy's own).
func (s *Statement) ClientPosition(pos int) int {
	if s.Kind() != Rewritten {
		return 0
	}
	return mapPosition(s.orig, s.SQL, s.splices, pos)
}

// inlineSQL is a statement that cannot take parameters (COPY, EXECUTE):
// its parameters' values are spliced into it as typed literals at each
// execution. parts[i] comes before parameter i, the last part after all.
type inlineSQL struct {
	parts []string
	param []int    // which parameter (0-based) each gap takes
	types []string // the parameters' types, as SQL
}

// newInlineSQL splits sql at its parameters, whose types are named in
// order by types.
func newInlineSQL(sql string, types []string) (*inlineSQL, error) {
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return nil, fmt.Errorf("planner: scan: %w", err)
	}
	in := &inlineSQL{types: types}
	last := 0
	for _, t := range scan.Tokens {
		if t.Token != pg_query.Token_PARAM {
			continue
		}
		k, err := strconv.Atoi(sql[t.Start+1 : t.End])
		if err != nil || k < 1 || k > len(types) {
			return nil, fmt.Errorf("planner: unexpected parameter %q in a statement taking none", sql[t.Start:t.End])
		}
		in.parts = append(in.parts, sql[last:t.Start])
		in.param = append(in.param, k-1)
		last = int(t.End)
	}
	in.parts = append(in.parts, sql[last:])
	return in, nil
}

// splice returns the text with vals spliced in as literals.
func (in *inlineSQL) splice(vals [][]byte) string {
	var b strings.Builder
	for i, part := range in.parts {
		b.WriteString(part)
		if i == len(in.param) {
			break
		}
		k := in.param[i]
		if vals[k] == nil {
			b.WriteString("NULL")
		} else {
			b.WriteString(dollarQuote(vals[k]))
		}
		b.WriteString("::")
		b.WriteString(in.types[k])
	}
	return b.String()
}

// dollarQuote writes v as a dollar-quoted literal, with a tag that first
// occurs where the literal ends, so no escaping is needed whatever the
// settings (standard_conforming_strings, backslashes, quotes).
func dollarQuote(v []byte) string {
	tag := "$fw$"
	for i := 0; bytes.Index(append(v[:len(v):len(v)], tag...), []byte(tag)) != len(v); i++ {
		tag = "$fw" + strconv.Itoa(i) + "$"
	}
	return tag + string(v) + tag
}
