package models

import (
	"container/list"
	"sync"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
)

// cache holds deployed models by name, least recently used first out once
// their sizes pass the bound. It is only trusted while the store listens
// for changes: every NOTIFY for a name drops it, and losing the LISTEN
// connection drops everything and stops caching until it is back.
//
// A load races with changes: the version read may be replaced while it is
// decoded. So a load takes a ticket first, and put keeps the model only if
// no change to the name (and no reconnect) came in between.
//
// What it holds is also charged to the process's memory budget (mem, nil
// for none), which model calls share: the cache takes memory only when it
// is free, and gives its least recently used models back when a call
// needs the room (reclaim). Lock order: c.mu before the budget's.
type cache struct {
	mu        sync.Mutex
	mem       *membudget.Budget
	unreclaim func() // removes reclaim from mem
	max, used int64
	listening bool
	epoch     uint64            // bumped when listening starts or stops
	changes   map[string]uint64 // per name, bumped by each NOTIFY
	// pending holds names this process changed whose NOTIFY has not come
	// back yet: until it does (or the deadline passes, for a change that
	// was rolled back and so is never announced), the name is read from
	// the database each time, so the session that changed it sees the
	// change in its very next statement.
	pending map[string]time.Time
	now     func() time.Time
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recent first

	hits, misses uint64
}

type cacheEntry struct {
	name  string
	model *catalog.Model
	// tag is the stored version row's xmin: with the version number it
	// names exactly what the model was decoded from, even for a name
	// dropped and trained again.
	tag string
	// stale entries are no longer known to be deployed (a change came in,
	// or this process built the model for a version it is storing). Calls
	// do not get them; byVersion may, for a version whose row it has just
	// read with the same tag, as a learn's base or a delta's base.
	stale bool
}

type ticket struct{ epoch, change uint64 }

func newCache(max int64, mem *membudget.Budget) *cache {
	c := &cache{max: max, mem: mem, changes: map[string]uint64{}, pending: map[string]time.Time{}, now: time.Now, entries: map[string]*list.Element{}}
	c.unreclaim = mem.AddReclaimer(c.reclaim)
	return c
}

// close gives everything back to the budget for good: the store is
// closing.
func (c *cache) close() {
	c.unreclaim()
	c.setListening(false)
}

// reclaim drops least recently used models until need bytes are given
// back to the budget (or the cache is empty), for a call that needs them.
// A model in use by a call stays in memory until the call ends: that is
// within the budget's documented slack.
func (c *cache) reclaim(need int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	freed := int64(0)
	for freed < need && c.lru.Len() > 0 {
		e := c.lru.Back()
		freed += e.Value.(*cacheEntry).model.Size
		c.remove(e)
	}
	return freed
}

func (c *cache) get(name string) (*catalog.Model, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || e.Value.(*cacheEntry).stale || c.isPending(name) {
		c.misses++
		return nil, false
	}
	c.hits++
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).model, true
}

func (c *cache) ticket(name string) ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ticket{c.epoch, c.changes[name]}
}

// put keeps m unless the name changed since t was taken, the store is not
// listening, or m alone is over the bound.
func (c *cache) put(name string, m *catalog.Model, t ticket) { c.putTagged(name, m, "", t) }

// putTagged is put of a model decoded from the version row tagged tag.
func (c *cache) putTagged(name string, m *catalog.Model, tag string, t ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || t.epoch != c.epoch || t.change != c.changes[name] || m.Size > c.max || c.isPending(name) {
		return
	}
	c.insert(&cacheEntry{name: name, model: m, tag: tag})
}

// keep holds m, built by this process for the version row tagged tag it
// is storing, as a stale entry: byVersion finds it for the next learn or
// load of that version, so neither decodes it again.
func (c *cache) keep(name string, m *catalog.Model, tag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || m.Size > c.max {
		return
	}
	c.insert(&cacheEntry{name: name, model: m, tag: tag, stale: true})
}

// byVersion returns the held model of name if it was decoded from
// version's row tagged tag (stale or not), without its trial.
func (c *cache) byVersion(name string, version int, tag string) (*catalog.Model, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || tag == "" {
		return nil, false
	}
	ce := e.Value.(*cacheEntry)
	if ce.tag != tag || ce.model.Version != version {
		return nil, false
	}
	c.lru.MoveToFront(e)
	m := *ce.model
	m.Trial = nil
	return &m, true
}

// insert replaces name's entry with ce, making room; c.mu is held.
func (c *cache) insert(ce *cacheEntry) {
	name, m := ce.name, ce.model
	if e, ok := c.entries[name]; ok {
		c.remove(e)
	}
	for c.used+m.Size > c.max {
		c.remove(c.lru.Back())
	}
	// The budget may be spent by calls: make room from the cache's own
	// older models, or do without caching this one.
	for !c.mem.TryAcquire(m.Size) {
		if c.lru.Len() == 0 {
			return
		}
		c.remove(c.lru.Back())
	}
	c.entries[name] = c.lru.PushFront(ce)
	c.used += m.Size
}

func (c *cache) remove(e *list.Element) {
	ce := e.Value.(*cacheEntry)
	c.lru.Remove(e)
	delete(c.entries, ce.name)
	c.used -= ce.model.Size
	c.mem.Release(ce.model.Size)
}

// isPending reports whether name has a change of this process's own in
// flight; c.mu is held.
func (c *cache) isPending(name string) bool {
	until, ok := c.pending[name]
	if ok && c.now().After(until) {
		delete(c.pending, name)
		return false
	}
	return ok
}

// pendingWindow is how long a change of this process's own waits for its
// NOTIFY before the name is cached again.
const pendingWindow = 10 * time.Second

// changing marks name as changed by this process, before its transaction
// commits.
func (c *cache) changing(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[name] = c.now().Add(pendingWindow)
	c.changes[name]++
	c.stale(name)
}

// changed drops name: a NOTIFY said it changed.
func (c *cache) changed(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, name)
	c.changes[name]++
	c.stale(name)
}

// forget drops name's entry, stale or not.
func (c *cache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[name]; ok {
		c.remove(e)
	}
}

// stale stops serving name's entry to calls; one with a tag stays for
// byVersion (the next version may be a delta on it), the others go.
// c.mu is held.
func (c *cache) stale(name string) {
	if e, ok := c.entries[name]; ok {
		if ce := e.Value.(*cacheEntry); ce.tag != "" {
			ce.stale = true
		} else {
			c.remove(e)
		}
	}
}

// setListening starts or stops caching; either way what is held is
// dropped, since changes may have been missed.
func (c *cache) setListening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.epoch++
	c.entries = map[string]*list.Element{}
	c.changes = map[string]uint64{}
	c.lru.Init()
	c.mem.Release(c.used)
	c.used = 0
}

// CacheStats is what the cache holds and how it has served.
type CacheStats struct {
	Models       int
	Bytes        int64
	Hits, Misses uint64
	Listening    bool
}

func (c *cache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Models: len(c.entries), Bytes: c.used, Hits: c.hits, Misses: c.misses, Listening: c.listening}
}
