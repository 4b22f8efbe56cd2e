package planner

import (
	"fmt"
	"sync"
	"testing"
)

// TestParseCache: a text is parsed once and its tree shared, the cache
// stays bounded, errors are not kept, and concurrent sessions may share
// it (under -race). An analysis is kept with its text's tree, but not one
// with a relation argument, which prepare writes into.
func TestParseCache(t *testing.T) {
	var c parseCache
	a, err := c.parse("SELECT * FROM recommend($1, 10, model => 'm')")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.parse("SELECT * FROM recommend($1, 10, model => 'm')")
	if a != b {
		t.Fatal("the same text was parsed twice")
	}
	const model, relation = "SELECT * FROM recommend($1, 10, model => 'm')", "SELECT * FROM recommend(1, ratings => (TABLE r))"
	constant := &analysis{sites: []*site{{args: []argSpec{{kind: argParam}, {kind: argConst}}}}}
	c.keep(model, constant)
	if c.analysis(model) != constant {
		t.Fatal("the analysis of a model call was not kept")
	}
	c.parse(relation)
	c.keep(relation, &analysis{sites: []*site{{args: []argSpec{{kind: argConst}, {kind: argRelation}}}}})
	if c.analysis(relation) != nil {
		t.Fatal("an analysis with a relation argument was kept")
	}
	c.keep("SELECT 1", constant)
	if c.analysis("SELECT 1") != nil {
		t.Fatal("an analysis was kept for a text never parsed")
	}
	if _, err := c.parse("SELECT FROM FROM"); err == nil {
		t.Fatal("a syntax error parsed")
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2*parseCacheEntries; i++ {
				if _, err := c.parse(fmt.Sprintf("SELECT %d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(c.entries); n > parseCacheEntries {
		t.Fatalf("%d trees kept, at most %d", n, parseCacheEntries)
	}
}
