package wire

import "time"

// AlwaysBusyPoll makes cfg's sessions busy-poll whatever the CPU pressure,
// so tests exercise that path on any machine.
func AlwaysBusyPoll(cfg *Config) {
	cfg.BusyPoll = time.Millisecond
	cfg.alwaysSpin = true
}

// BusyPollInlined reports how many client batches s's spinning sessions
// relayed from the upstream goroutine.
func BusyPollInlined(s *Server) int64 {
	if s.spin == nil {
		return 0
	}
	return s.spin.inlined.Load()
}

// BusyPollSpins reports how many spins s's sessions have begun.
func BusyPollSpins(s *Server) int64 {
	if s.spin == nil {
		return 0
	}
	return s.spin.spins.Load()
}
