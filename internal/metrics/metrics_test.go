package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{context.Canceled, "cancelled"},
		{fmt.Errorf("reading: %w", context.DeadlineExceeded), "cancelled"},
		{&planner.Error{Code: "57014", Message: "canceling statement due to user request"}, "cancelled"},
		{&planner.Error{Code: "22023", Message: "k must be positive"}, "error"},
		{errors.New("boom"), "error"},
	} {
		if got := Outcome(c.err); got != c.want {
			t.Errorf("Outcome(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// Two registries never share counts: nothing is global.
func TestRegistriesAreSeparate(t *testing.T) {
	var c wire.Counters
	c.ClientMessages.Add(3)
	a := New(Sources{Relay: &c, Sessions: func() int { return 2 },
		Cache: func() models.CacheStats { return models.CacheStats{Bytes: 10, Hits: 4, Misses: 1} }})
	b := New(Sources{})
	a.ObserveCall("kmeans", nil, time.Millisecond)
	a.ObserveTrain("kmeans", true, time.Second)
	want := `
# HELP flywheel_relayed_messages_total Protocol messages read by the relay, by the side that sent them (client, upstream).
# TYPE flywheel_relayed_messages_total counter
flywheel_relayed_messages_total{from="client"} 3
flywheel_relayed_messages_total{from="upstream"} 0
# HELP flywheel_sessions Client sessions open now.
# TYPE flywheel_sessions gauge
flywheel_sessions 2
# HELP flywheel_model_cache_hits_total Model loads served from the cache.
# TYPE flywheel_model_cache_hits_total counter
flywheel_model_cache_hits_total 4
`
	if err := testutil.GatherAndCompare(a.Registry, strings.NewReader(want),
		"flywheel_relayed_messages_total", "flywheel_sessions", "flywheel_model_cache_hits_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(a.calls); n != 1 {
		t.Errorf("%d call series, want 1", n)
	}
	if n := testutil.CollectAndCount(b.calls); n != 0 {
		t.Errorf("the second registry has %d call series", n)
	}
	if n, err := testutil.GatherAndCount(b.Registry, "flywheel_sessions"); err != nil || n != 0 {
		t.Errorf("a registry without sources exports sessions: %d %v", n, err)
	}
}
