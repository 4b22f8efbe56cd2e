package planner

import (
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// parseCache keeps the parse trees of recent statement texts that call
// model functions, so that a client sending the same text for every call
// (an unnamed Parse each time: pgbench -M extended, pgJDBC below its
// prepare threshold) has it parsed once. pg_query's parse, a cgo call and
// a protobuf decode, was most of the planner's time for such a call.
// Nothing writes to a tree once parsed (the planner clones the nodes it
// builds new trees from), so sessions share them.
type parseCache struct {
	mu    sync.Mutex
	trees map[string]*pg_query.ParseResult
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
	tree, ok := c.trees[sql]
	c.mu.Unlock()
	if ok {
		return tree, nil
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trees == nil {
		c.trees = make(map[string]*pg_query.ParseResult, parseCacheEntries)
	}
	if len(c.trees) >= parseCacheEntries {
		for k := range c.trees { // an arbitrary one goes
			delete(c.trees, k)
			break
		}
	}
	c.trees[sql] = tree
	return tree, nil
}
