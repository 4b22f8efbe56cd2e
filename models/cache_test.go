package models

import (
	"context"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
)

func model(name string, size int64) *catalog.Model {
	return &catalog.Model{Name: name, Size: size}
}

func TestCacheOnlyWhileListening(t *testing.T) {
	c := newCache(100, nil)
	c.put("a", model("a", 10), c.ticket("a"))
	if _, ok := c.get("a"); ok {
		t.Fatal("cached while not listening")
	}
	c.setListening(true)
	c.put("a", model("a", 10), c.ticket("a"))
	if _, ok := c.get("a"); !ok {
		t.Fatal("not cached while listening")
	}
	c.setListening(false)
	if _, ok := c.get("a"); ok {
		t.Fatal("kept after the listener was lost")
	}
}

func TestCacheTicketRefusesRacedLoad(t *testing.T) {
	c := newCache(100, nil)
	c.setListening(true)
	tk := c.ticket("a")
	c.changed("a") // a NOTIFY while the load was under way
	c.put("a", model("a", 10), tk)
	if _, ok := c.get("a"); ok {
		t.Fatal("a load that raced a change was cached")
	}
	tk = c.ticket("a")
	c.setListening(false)
	c.setListening(true) // a reconnect while the load was under way
	c.put("a", model("a", 10), tk)
	if _, ok := c.get("a"); ok {
		t.Fatal("a load that raced a reconnect was cached")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(25, nil)
	c.setListening(true)
	for _, n := range []string{"a", "b"} {
		c.put(n, model(n, 10), c.ticket(n))
	}
	c.get("a") // b is now the least recently used
	c.put("c", model("c", 10), c.ticket("c"))
	if _, ok := c.get("b"); ok {
		t.Fatal("b should have been evicted")
	}
	for _, n := range []string{"a", "c"} {
		if _, ok := c.get(n); !ok {
			t.Fatalf("%s evicted", n)
		}
	}
	if st := c.stats(); st.Bytes != 20 || st.Models != 2 {
		t.Fatalf("stats %+v, want 20 bytes in 2 models", st)
	}
	c.put("big", model("big", 26), c.ticket("big"))
	if _, ok := c.get("big"); ok {
		t.Fatal("a model over the bound was cached")
	}
}

func TestCachePendingChange(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache(100, nil)
	c.now = func() time.Time { return now }
	c.setListening(true)
	c.put("a", model("a", 10), c.ticket("a"))
	c.changing("a") // this process deployed a new version of a
	if _, ok := c.get("a"); ok {
		t.Fatal("served the old version after this process changed it")
	}
	c.put("a", model("a", 10), c.ticket("a"))
	if _, ok := c.get("a"); ok {
		t.Fatal("cached while this process's change is pending")
	}
	c.changed("a") // its NOTIFY came back: committed
	c.put("a", model("a", 10), c.ticket("a"))
	if _, ok := c.get("a"); !ok {
		t.Fatal("not cached after the NOTIFY")
	}
	// A change that was rolled back is never announced: after the
	// window the name is cached again.
	c.changing("b")
	now = now.Add(pendingWindow + time.Second)
	c.put("b", model("b", 10), c.ticket("b"))
	if _, ok := c.get("b"); !ok {
		t.Fatal("not cached once the pending window passed")
	}
}

func TestNearest(t *testing.T) {
	got := nearest("rec", []string{"recs", "segments", "recs_nmf", "x"})
	if len(got) != 2 || got[0] != "'recs'" || got[1] != "'recs_nmf'" {
		t.Fatalf("nearest: %v", got)
	}
	if got := nearest("zzz", []string{"recs"}); len(got) != 0 {
		t.Fatalf("nearest: %v", got)
	}
}

func TestDecodeOptions(t *testing.T) {
	var o map[string]any
	if err := decodeOptions([]byte(`{"k": 10, "alpha": 0.5, "method": "nmf", "on": true}`), &o); err != nil {
		t.Fatal(err)
	}
	if o["k"] != int64(10) || o["alpha"] != 0.5 || o["method"] != "nmf" || o["on"] != true {
		t.Fatalf("options %#v", o)
	}
}

// The cache's models are charged to the shared memory budget: it caches
// only what fits there, and gives models back when a call needs the room.
func TestCacheSharesMemoryBudget(t *testing.T) {
	mem := membudget.New(30, time.Millisecond)
	c := newCache(100, mem)
	c.setListening(true)
	for _, n := range []string{"a", "b"} {
		c.put(n, model(n, 10), c.ticket(n))
	}
	if u := mem.Stats().Used; u != 20 {
		t.Fatalf("budget used %d, want the cache's 20", u)
	}
	// A call holds 15: the cache has room for one model more only by
	// dropping its least recently used.
	r := mem.Reserve()
	if err := r.Grow(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	c.put("c", model("c", 10), c.ticket("c"))
	if _, ok := c.get("a"); ok {
		t.Fatal("a should have made room for c")
	}
	if _, ok := c.get("c"); !ok {
		t.Fatal("c not cached")
	}
	// The call now needs 20 more: the cache gives back what is missing.
	if err := r.Grow(context.Background(), 20); err != nil {
		t.Fatal(err)
	}
	if st := c.stats(); st.Models != 0 || st.Bytes != 0 {
		t.Fatalf("cache after reclaim: %+v", st)
	}
	r.Release()
	c.put("a", model("a", 10), c.ticket("a"))
	c.setListening(false) // drops everything, and gives it back
	if u := mem.Stats().Used; u != 0 {
		t.Fatalf("budget used %d after the cache was dropped", u)
	}
}

// Closing the cache gives its memory back and stops it being asked.
func TestCacheCloseReleasesBudget(t *testing.T) {
	mem := membudget.New(100, time.Millisecond)
	c := newCache(100, mem)
	c.setListening(true)
	c.put("a", model("a", 40), c.ticket("a"))
	c.close()
	if u := mem.Stats().Used; u != 0 {
		t.Fatalf("budget used %d after close", u)
	}
	c.put("b", model("b", 40), c.ticket("b"))
	if u := mem.Stats().Used; u != 0 {
		t.Fatalf("a closed cache took %d bytes", u)
	}
}

// TestCacheStaleByVersion: a change stops serving a tagged model to calls
// but keeps it for byVersion with the same version and tag; keep holds a
// model built for a version being stored the same way.
func TestCacheStaleByVersion(t *testing.T) {
	c := newCache(100, nil)
	c.setListening(true)
	m := model("a", 10)
	m.Version = 3
	c.putTagged("a", m, "x1", c.ticket("a"))
	c.changed("a")
	if _, ok := c.get("a"); ok {
		t.Fatal("served a changed model")
	}
	if got, ok := c.byVersion("a", 3, "x1"); !ok || got.Version != 3 {
		t.Fatal("byVersion lost the stale model")
	}
	if _, ok := c.byVersion("a", 3, "x2"); ok {
		t.Fatal("byVersion matched another row's tag")
	}
	k := model("a", 20)
	k.Version = 4
	c.keep("a", k, "x3")
	if _, ok := c.get("a"); ok {
		t.Fatal("served a kept model before it was loaded as deployed")
	}
	if _, ok := c.byVersion("a", 4, "x3"); !ok {
		t.Fatal("byVersion missed the kept model")
	}
	if st := c.stats(); st.Bytes != 20 {
		t.Fatalf("holding %d bytes, want 20", st.Bytes)
	}
	c.forget("a")
	if st := c.stats(); st.Bytes != 0 || st.Models != 0 {
		t.Fatalf("after forget: %+v", st)
	}
}
