package status

import (
	"strings"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	h := newHistory()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 300; i++ { // 75 minutes, every 15 s
		h.add("orders\x000", t0.Add(time.Duration(i)*sampleEvery), float64(i%10))
	}
	now := t0.Add(299 * sampleEvery)
	ss := h.get("orders\x000")
	if len(ss) != 241 || now.Sub(ss[0].at) != historyWindow {
		t.Fatalf("%d samples from %v: want the last hour's 241", len(ss), ss[0].at)
	}
	// Renders closer together than minSpacing add nothing.
	h.add("orders\x000", now.Add(time.Second), 99)
	if n := len(h.get("orders\x000")); n != 241 {
		t.Errorf("a sample 1 s after the last was kept (%d)", n)
	}
	sp := newSpark(ss, now)
	if sp == nil || strings.Count(sp.Points, ",") != 241 || !strings.HasSuffix(sp.Points, "120.0,"+num(2+20*(9-9)/9.0)) {
		t.Errorf("spark %+v", sp)
	}
	if newSpark(ss[:1], now) != nil {
		t.Error("a sparkline from one sample")
	}
	h.add("orders\x001", now, 1)
	h.forget(map[string]bool{"orders\x001": true})
	if len(h.get("orders\x000")) != 0 || len(h.get("orders\x001")) != 1 {
		t.Error("forget kept a partition that went away, or dropped one that is there")
	}
}

// The streams table draws a row's sparkline once it has samples.
func TestStreamsSparkRendered(t *testing.T) {
	now := time.Now()
	sp := newSpark([]sample{{now.Add(-time.Minute), 3}, {now, 5}}, now)
	snap := &snapshot{Taken: now, Streams: &table{Columns: []string{"stream", "rows_per_s"},
		Rows: [][]string{{"orders", "5"}, {"clicks", "1"}}, Sparks: []*spark{sp, nil}}}
	var b strings.Builder
	if err := pageTmpl.Execute(&b, pageData{S: snap, Refresh: refreshSeconds}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<svg class="spark"`, `<polyline points="` + sp.Points + `"`, "now 5</title>", "sampling…"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
