package planner

import (
	"fmt"
	"sync"
	"time"
)

// defaultProgressAfter is how long a call runs before it reports progress
// (Options.ProgressAfter), and then how often at most.
const defaultProgressAfter = 2 * time.Second

// progress sends a long call's progress reports to the client as
// NOTICEs: none in its first `after`, then at most one per `after`, so a
// quick call, the usual case, sends nothing.
type progress struct {
	n     Noticer
	after time.Duration
	start time.Time

	mu   sync.Mutex // reports may come from a function's worker goroutines
	last time.Time
}

func newProgress(conn Conn, after time.Duration, start time.Time) *progress {
	if l, ok := conn.(*lockedConn); ok {
		conn = l.Conn
	}
	n, ok := conn.(Noticer)
	if !ok {
		return nil
	}
	if after == 0 {
		after = defaultProgressAfter
	}
	return &progress{n: n, after: max(after, 0), start: start}
}

// report sends the message with the elapsed time if it is due; it is
// formatted only then, so the calls that finish quickly pay for none.
func (p *progress) report(format string, a ...any) {
	if p == nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	due := now.Sub(p.start) >= p.after && (p.last.IsZero() || now.Sub(p.last) >= p.after)
	if due {
		p.last = now
	}
	p.mu.Unlock()
	if due {
		_ = p.n.Notice(fmt.Sprintf("%s (%.1f s)", fmt.Sprintf(format, a...), now.Sub(p.start).Seconds()))
	}
}

// reporter returns report as a catalog.Call's Progress, nil without a
// Noticer.
func (p *progress) reporter() func(string, ...any) {
	if p == nil {
		return nil
	}
	return p.report
}
