package planner

import (
	"fmt"
	"sync"
	"testing"
)

// TestParseCache: a text is parsed once and its tree shared, the cache
// stays bounded, errors are not kept, and concurrent sessions may share
// it (under -race).
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
	if n := len(c.trees); n > parseCacheEntries {
		t.Fatalf("%d trees kept, at most %d", n, parseCacheEntries)
	}
}
