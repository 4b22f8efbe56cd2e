package planner

import (
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// parseCache keeps the parse trees of recent statement texts that call
// model functions, and their analyses, so that a client sending the same
// text for every call (an unnamed Parse each time: pgbench -M extended,
// pgJDBC below its prepare threshold) has it parsed and analysed once.
// pg_query's parse (a cgo call and a protobuf decode), its scan and the
// walk over the tree were most of the planner's time for such a call.
// Nothing writes to a tree once parsed (the planner clones the nodes it
// builds new trees from), nor to an analysis once made except into its
// relation arguments, so sessions share both, and analyses only of texts
// without relation arguments.
type parseCache struct {
	mu      sync.Mutex
	entries map[string]*parsed
}

// parsed is one cached text.
type parsed struct {
	tree     *pg_query.ParseResult
	analysis *analysis // nil until kept
}

const (
	parseCacheEntries = 256
	parseCacheMaxText = 8 << 10 // longer texts are parsed every time
)

// parse returns sql's parse tree, from the cache when it holds it.
func (c *parseCache) parse(sql string) (*pg_query.ParseResult, error) {
	if len(sql) > parseCacheMaxText {
		return pg_query.Parse(sql)
	}
	c.mu.Lock()
	e, ok := c.entries[sql]
	c.mu.Unlock()
	if ok {
		return e.tree, nil
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*parsed, parseCacheEntries)
	}
	if len(c.entries) >= parseCacheEntries {
		for k := range c.entries { // an arbitrary one goes
			delete(c.entries, k)
			break
		}
	}
	c.entries[sql] = &parsed{tree: tree}
	return tree, nil
}

// analysis returns the analysis kept for sql, nil if none.
func (c *parseCache) analysis(sql string) *analysis {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[sql]; ok {
		return e.analysis
	}
	return nil
}

// keep keeps a, the analysis of sql's cached tree, when it may be shared.
func (c *parseCache) keep(sql string, a *analysis) {
	for _, s := range a.sites {
		for _, spec := range s.args {
			if spec.kind == argRelation {
				return // prepare writes its columns and sub-statement
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[sql]; ok {
		e.analysis = a
	}
}
