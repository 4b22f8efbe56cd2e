package wire

import (
	"sort"
	"sync/atomic"
)

// Counters are the relay's running totals. The hot path only adds to them
// (no allocation, no lock); a metrics collector reads them at scrape time.
// One Counters may be shared by several servers.
type Counters struct {
	// Messages and bytes (headers included) read from clients and from
	// the upstream.
	ClientMessages, ClientBytes     atomic.Uint64
	UpstreamMessages, UpstreamBytes atomic.Uint64
	// Sessions counts sessions that were started (past the connection
	// limit), ended ones included.
	Sessions atomic.Uint64
}

// countMessage adds one message of body length n to a direction's totals.
func countMessage(msgs, bytes *atomic.Uint64, n int) {
	msgs.Add(1)
	bytes.Add(uint64(n) + 5)
}

// BackendPIDs lists the upstream backend process IDs of the sessions past
// start-up, in order, so that their state can be read where PostgreSQL
// shows it (pg_stat_activity) instead of being tracked a second time.
func (s *Server) BackendPIDs() []uint32 {
	s.mu.Lock()
	pids := make([]uint32, 0, len(s.sessions))
	for k := range s.sessions {
		pids = append(pids, k.pid)
	}
	s.mu.Unlock()
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	return pids
}

// ComputingPIDs lists, like BackendPIDs, the sessions whose statement is
// running a model function in the proxy just now: PostgreSQL may show
// their backends idle while they are busy.
func (s *Server) ComputingPIDs() []uint32 {
	var pids []uint32
	s.mu.Lock()
	for k, sess := range s.sessions {
		// s.mu before cancelMu: nothing takes them the other way round.
		sess.cancelMu.Lock()
		if sess.cancelRun != nil {
			pids = append(pids, k.pid)
		}
		sess.cancelMu.Unlock()
	}
	s.mu.Unlock()
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	return pids
}
