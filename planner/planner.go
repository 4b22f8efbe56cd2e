// Package planner finds calls of Flywheel's model functions in a statement,
// evaluates their arguments, runs them, and rewrites the statement so that
// PostgreSQL reads the results as a typed relation and does the rest.
//
// The planner knows no sockets: side queries (relation arguments, the
// types of a subquery's columns) go through the Conn interface, which the
// wire package implements on the session's own upstream connection.
//
// A call such as
//
//	SELECT * FROM recommend(1, 10, ratings => (SELECT u, i, r FROM t)) r
//
// becomes
//
//	SELECT * FROM unnest($1, $2, $3) AS r(item, score, rank)
//
// where $1..$3 are the proxy's own parameters (numbered after the
// client's), bound at each execution to text-format arrays holding the
// function's output columns. The rest of the statement is spliced through
// as the user wrote it.
package planner

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Options bound what one call may consume.
type Options struct {
	// MaxInputRows caps the rows one call reads from its relation arguments
	// (SQLSTATE 53200 beyond it). Zero means 10 million.
	MaxInputRows int64
	// MaxInputBytes caps the bytes one call reads. Zero means 1 GiB.
	MaxInputBytes int64
	Logger        *slog.Logger
	// Memory is the process's memory budget, shared with every session
	// and the model cache: what a call reads, works in and returns is
	// charged to it (53200 when it is spent). Nil means unlimited.
	Memory *membudget.Budget
	// Models is the model store that model => arguments and the
	// lifecycle functions (flywheel.train, ...) use; nil refuses them.
	Models catalog.ModelStore
	// Observer, when set, is told of every model function call (metrics).
	Observer Observer
	// ProgressAfter is how long a call runs before it sends progress
	// NOTICEs (rows read, iterations, elapsed), then at most one per
	// ProgressAfter. Zero means 2 s; negative sends every report.
	ProgressAfter time.Duration
}

// Observer hears of each model function call once it has run: the
// function's name, its error (nil on success) and how long it took, input
// reads included. It must be safe for concurrent use and quick.
type Observer interface {
	ObserveCall(function string, err error, d time.Duration)
}

const (
	defaultMaxInputRows  = 10_000_000
	defaultMaxInputBytes = 1 << 30
)

// Planner rewrites statements against one catalog. It is safe for
// concurrent use by many sessions: nothing in it changes after New.
type Planner struct {
	cat  *catalog.Catalog
	opts Options

	// names are the catalog's function names in lower case; first marks
	// the bytes (both cases) a name can start with and pairs the first two
	// bytes (lower case), so Mentions skips most positions with a table
	// load or two.
	names [][]byte
	first [256]bool
	pairs [256][4]uint64
	short bool // a one-byte name: every byte in first is a match

	parses parseCache
}

// New makes a planner.
func New(cat *catalog.Catalog, opts Options) *Planner {
	if opts.MaxInputRows <= 0 {
		opts.MaxInputRows = defaultMaxInputRows
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = defaultMaxInputBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Planner{cat: cat, opts: opts}
	names := cat.Names()
	if slices.ContainsFunc(cat.Funcs(), func(f *catalog.Func) bool { return f.Qualified }) {
		// Called only as flywheel.name: the schema's name is the cheaper
		// mark (train would match every CONSTRAINT).
		names = append(names, catalog.StubSchema)
	}
	for _, n := range names {
		if f, ok := cat.Lookup(n); ok && f.Qualified {
			continue
		}
		b := []byte(n)
		for i, c := range b {
			b[i] = lower(c)
		}
		if len(b) == 0 {
			continue
		}
		p.names = append(p.names, b)
		p.first[b[0]] = true
		p.first[upper(b[0])] = true
		if len(b) == 1 {
			p.short = true
		} else {
			p.pairs[b[0]][b[1]>>6] |= 1 << (b[1] & 63)
		}
	}
	return p
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// Mentions reports whether sql may call a model function: whether it
// contains, case-insensitively, the name of any catalog function. False
// means the statement is relayed untouched without being parsed. It must
// not allocate: it runs on every Query and Parse.
func (p *Planner) Mentions(sql []byte) bool {
	for i := 0; i < len(sql); i++ {
		if !p.first[sql[i]] {
			continue
		}
		if p.short {
			return true
		}
		if i+1 == len(sql) {
			break
		}
		c1 := lower(sql[i+1])
		if p.pairs[lower(sql[i])][c1>>6]&(1<<(c1&63)) == 0 {
			continue
		}
	names:
		for _, n := range p.names {
			if len(sql)-i < len(n) {
				continue
			}
			for j, c := range n {
				if lower(sql[i+j]) != c {
					continue names
				}
			}
			return true
		}
	}
	return false
}

// Part is one statement of a simple-Query string.
type Part struct {
	SQL    string // the statement's text, without the separating semicolon
	Offset int    // where SQL starts in the whole string, in characters
	Calls  bool   // whether it calls a model function
	// Block is set for a statement that controls the transaction block
	// (BEGIN, COMMIT, SAVEPOINT, ...) or that PostgreSQL refuses inside one
	// (VACUUM, CREATE DATABASE, ...): a string holding one cannot simply be
	// wrapped in a transaction to get PostgreSQL's implicit one.
	Block bool
	// Execute is the name an EXECUTE runs; Forgets, the SQL-level prepared
	// statement name the statement ends or replaces ("*" for all of them:
	// DEALLOCATE ALL, DISCARD ALL).
	Execute, Forgets string

	// tree is the first statement's parse, which PreparePart reuses (the
	// later ones' locations count from the start of the whole string).
	tree *parsedStmt
}

// parsedStmt is one statement as pg_query parsed it.
type parsedStmt struct {
	version int32
	raw     *pg_query.RawStmt
}

// Split splits a simple-Query string into its statements. A string the
// parser rejects comes back as one part with Calls false, so PostgreSQL
// reports its own syntax error.
func (p *Planner) Split(sql string) ([]Part, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return []Part{{SQL: sql}}, nil
	}
	parts := make([]Part, 0, len(tree.Stmts))
	for _, raw := range tree.Stmts {
		start := int(raw.StmtLocation)
		end := len(sql)
		if raw.StmtLen > 0 {
			end = start + int(raw.StmtLen)
		}
		part := Part{SQL: sql[start:end], Offset: utf8.RuneCountInString(sql[:start]), Block: blockStatement(raw.Stmt)}
		switch n := raw.Stmt.GetNode().(type) {
		case *pg_query.Node_ExecuteStmt:
			part.Execute = n.ExecuteStmt.Name
		case *pg_query.Node_PrepareStmt:
			part.Forgets = n.PrepareStmt.Name
		case *pg_query.Node_DeallocateStmt:
			part.Forgets = n.DeallocateStmt.Name
			if n.DeallocateStmt.Isall {
				part.Forgets = "*"
			}
		case *pg_query.Node_DiscardStmt:
			if n.DiscardStmt.Target == pg_query.DiscardMode_DISCARD_ALL {
				part.Forgets = "*"
			}
		}
		if p.Mentions([]byte(part.SQL)) {
			part.Calls = p.hasCalls(raw)
			if start == 0 {
				part.tree = &parsedStmt{version: tree.Version, raw: raw}
			}
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return []Part{{SQL: sql}}, nil
	}
	return parts, nil
}

// blockStatement reports whether stmt controls the transaction block or is
// one of those PostgreSQL runs only outside one (PreventInTransactionBlock).
func blockStatement(stmt *pg_query.Node) bool {
	switch n := stmt.GetNode().(type) {
	case *pg_query.Node_TransactionStmt, *pg_query.Node_VacuumStmt, *pg_query.Node_CreatedbStmt,
		*pg_query.Node_DropdbStmt, *pg_query.Node_CreateTableSpaceStmt, *pg_query.Node_DropTableSpaceStmt,
		*pg_query.Node_AlterSystemStmt, *pg_query.Node_CreateSubscriptionStmt,
		*pg_query.Node_AlterSubscriptionStmt, *pg_query.Node_DropSubscriptionStmt,
		*pg_query.Node_ReindexStmt, *pg_query.Node_ClusterStmt, *pg_query.Node_DiscardStmt:
		return true
	case *pg_query.Node_IndexStmt:
		return n.IndexStmt.Concurrent
	case *pg_query.Node_DropStmt:
		return n.DropStmt.Concurrent
	}
	return false
}

// Prepare analyses one statement. It returns ErrNoCalls when the statement
// calls no model function, so the caller relays it unchanged. paramOIDs are
// the types the client gave in Parse (may be shorter than the number of
// parameters, 0 meaning unspecified).
func (p *Planner) Prepare(ctx context.Context, conn Conn, sql string, paramOIDs []uint32) (st *Statement, err error) {
	defer recovered(p, &st, &err)
	if !p.Mentions([]byte(sql)) {
		return nil, ErrNoCalls
	}
	tree, err := p.parses.parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		// PostgreSQL reports its own syntax error; several statements in
		// one Parse are PostgreSQL's error to report too.
		return nil, ErrNoCalls
	}
	a := p.parses.analysis(sql)
	if a == nil {
		if a, err = p.analyze(sql, tree.Version, tree.Stmts[0]); err != nil {
			return nil, err
		}
		if a == nil {
			return nil, ErrNoCalls
		}
		p.parses.keep(sql, a)
	}
	return p.prepareAnalysed(ctx, conn, a, paramOIDs)
}

// PreparePart is Prepare for a statement of a simple Query, reusing
// Split's parse of it where it has one.
func (p *Planner) PreparePart(ctx context.Context, conn Conn, part Part) (st *Statement, err error) {
	if part.tree == nil {
		return p.Prepare(ctx, conn, part.SQL, nil)
	}
	defer recovered(p, &st, &err)
	return p.prepareParsed(ctx, conn, part.SQL, part.tree, nil)
}

// prepareParsed is Prepare past the parse.
func (p *Planner) prepareParsed(ctx context.Context, conn Conn, sql string, tree *parsedStmt, paramOIDs []uint32) (*Statement, error) {
	a, err := p.analyze(sql, tree.version, tree.raw)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, ErrNoCalls
	}
	return p.prepareAnalysed(ctx, conn, a, paramOIDs)
}

// prepareAnalysed is Prepare past the analysis.
func (p *Planner) prepareAnalysed(ctx context.Context, conn Conn, a *analysis, paramOIDs []uint32) (st *Statement, err error) {
	if a.prepare != nil {
		// The body's parameters have the types PREPARE declares; it takes
		// no protocol-level parameters itself.
		if paramOIDs, err = declaredTypes(ctx, conn, a.version, a.prepare); err != nil {
			return nil, err
		}
	}
	st, err = p.prepare(ctx, conn, a, paramOIDs)
	if err == nil && p.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		p.opts.Logger.Debug("planner: rewrote a statement", "calls", len(st.calls), "sql", st.SQL)
	}
	return st, err
}

// recovered turns a panic below Prepare or Bind (a bug in the planner or
// in a model function) into an error for this statement alone, so that the
// session and every other session of the process carry on. Side queries
// have finished by the time Run or the rewrite can panic, so the upstream
// connection is in step. Panics on other goroutines (those a function
// starts, or the wire's, which calls Conn.Query's row callbacks) are out
// of its reach.
func recovered[T any](p *Planner, result *T, err *error) {
	r := recover()
	if r == nil {
		return
	}
	p.opts.Logger.Error("planner: recovered from a panic", "panic", r, "stack", string(debug.Stack()))
	var zero T
	*result = zero
	*err = &Error{Code: "XX000", Message: fmt.Sprintf("internal error in Flywheel: %v", r),
		Hint: "This is a bug in Flywheel; the session is still usable. The proxy's log has the details."}
}

// Error is an error the planner raises itself, sent to the client as an
// ErrorResponse.
type Error struct {
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
	Position int // 1-based character position in the statement, 0 if none
}

func (e *Error) Error() string { return e.Message }
