package status

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The streams view says how fast each partition goes now; the page also
// shows the last hour of it as a sparkline. That history is not in any
// view, so the server keeps it: samples of the view's own rows_per_s,
// taken every sampleEvery while the view exists and at each page render.
const (
	historyWindow = time.Hour
	sampleEvery   = 15 * time.Second
	// minSpacing drops samples closer than this to the last one (page
	// renders come every 5 s per open browser).
	minSpacing = 5 * time.Second
)

type sample struct {
	at time.Time
	v  float64
}

// history is rows_per_s per stream and partition over the last hour.
type history struct {
	mu     sync.Mutex
	series map[string][]sample
}

func newHistory() *history { return &history{series: map[string][]sample{}} }

// add records v for key at now and forgets what is older than the window.
func (h *history) add(key string, now time.Time, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ss := h.series[key]
	if n := len(ss); n > 0 && now.Sub(ss[n-1].at) < minSpacing {
		return
	}
	ss = append(ss, sample{now, v})
	cut := 0
	for cut < len(ss) && now.Sub(ss[cut].at) > historyWindow {
		cut++
	}
	h.series[key] = append(ss[:0], ss[cut:]...)
}

// forget drops the series not in keep (partitions that went away).
func (h *history) forget(keep map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.series {
		if !keep[k] {
			delete(h.series, k)
		}
	}
}

func (h *history) get(key string) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.series[key]...)
}

// spark is a sparkline: a polyline in a small box, the newest point at
// the right edge, time along x over the whole window.
type spark struct {
	W, H   int
	Points string
	Last   string
}

const sparkW, sparkH = 120, 24

func newSpark(ss []sample, now time.Time) *spark {
	if len(ss) < 2 {
		return nil
	}
	lo, hi := ss[0].v, ss[0].v
	for _, s := range ss {
		lo, hi = min(lo, s.v), max(hi, s.v)
	}
	var b strings.Builder
	for i, s := range ss {
		x := float64(sparkW) * (1 - now.Sub(s.at).Seconds()/historyWindow.Seconds())
		y := float64(sparkH) / 2
		if hi > lo {
			y = 2 + (float64(sparkH)-4)*(hi-s.v)/(hi-lo)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(x) + "," + num(y))
	}
	return &spark{W: sparkW, H: sparkH, Points: b.String(), Last: strconv.FormatFloat(ss[len(ss)-1].v, 'g', 4, 64)}
}

// sampleStreams reads the view every sampleEvery until ctx ends, so that
// the sparklines have no gaps while nobody looks at the page.
func (s *Server) sampleStreams(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		if _, err := s.streams(qctx); err != nil {
			s.log.Debug("status: sampling flywheel.streams", "err", err)
		}
		cancel()
	}
}
