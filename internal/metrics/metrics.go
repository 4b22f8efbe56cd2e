// Package metrics holds Flywheel's Prometheus collectors in one registry of
// its own (never the client library's global default), so that a process
// can run several servers, and tests their own, without sharing counts.
//
// Counts that change on the relay's hot path are plain atomic counters in
// wire.Counters, read by a collector only when /metrics is scraped: the
// relay pays one atomic add per message and allocates nothing. Model calls
// and trainings are rarer and heavier, so they go to histograms directly.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are where the scrape-time values come from; any may be nil.
type Sources struct {
	// Relay is the wire servers' shared counters.
	Relay *wire.Counters
	// Sessions reports the live client sessions.
	Sessions func() int
	// Cache reports the model cache.
	Cache func() models.CacheStats
	// Refresh reports the refresh worker.
	Refresh func() models.RefreshStatus
	// Memory reports the memory budget of model work (--memory-limit).
	Memory func() membudget.Stats
}

// Metrics is the registry and the collectors that are observed directly.
// It implements planner.Observer and models.Observer.
type Metrics struct {
	Registry *prometheus.Registry
	calls    *prometheus.HistogramVec
	trains   *prometheus.HistogramVec
}

var (
	_ planner.Observer = (*Metrics)(nil)
	_ models.Observer  = (*Metrics)(nil)
)

// New makes a registry with Flywheel's collectors, the Go runtime's
// (memory in use, GC, goroutines) and the process's.
func New(src Sources) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "flywheel", Name: "model_call_duration_seconds",
			Help: "Model function calls by function and outcome (ok, error, cancelled): time to read the inputs and run, in seconds.",
			// From a cached prediction (sub-millisecond) to a long fit.
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"function", "outcome"}),
		trains: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "flywheel", Name: "model_training_duration_seconds",
			Help:    "Stored model versions by kind and trigger (train: a session's flywheel.train, refresh: the refresh worker): training time in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind", "trigger"}),
	}
	m.Registry.MustRegister(m.calls, m.trains, &scrape{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveCall records one model function call.
func (m *Metrics) ObserveCall(function string, err error, d time.Duration) {
	m.calls.WithLabelValues(function, Outcome(err)).Observe(d.Seconds())
}

// ObserveTrain records one stored version's training.
func (m *Metrics) ObserveTrain(kind string, refresh bool, d time.Duration) {
	trigger := "train"
	if refresh {
		trigger = "refresh"
	}
	m.trains.WithLabelValues(kind, trigger).Observe(d.Seconds())
}

// Outcome names a call's result with few values, so that the label's
// cardinality stays bounded whatever the errors say.
func Outcome(err error) string {
	var pe *planner.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &pe) && pe.Code == "57014":
		return "cancelled"
	}
	return "error"
}

// scrape reads the sources when /metrics is scraped.
type scrape struct{ src Sources }

var (
	descSessions = prometheus.NewDesc("flywheel_sessions", "Client sessions open now.", nil, nil)
	descStarted  = prometheus.NewDesc("flywheel_sessions_started_total", "Client sessions started (within the connection limit).", nil, nil)
	descMessages = prometheus.NewDesc("flywheel_relayed_messages_total", "Protocol messages read by the relay, by the side that sent them (client, upstream).", []string{"from"}, nil)
	descBytes    = prometheus.NewDesc("flywheel_relayed_bytes_total", "Protocol bytes (headers included) read by the relay, by the side that sent them.", []string{"from"}, nil)
	descCacheB   = prometheus.NewDesc("flywheel_model_cache_bytes", "Memory held by decoded deployed models in the model cache.", nil, nil)
	descCacheN   = prometheus.NewDesc("flywheel_model_cache_models", "Models held in the model cache.", nil, nil)
	descHits     = prometheus.NewDesc("flywheel_model_cache_hits_total", "Model loads served from the cache.", nil, nil)
	descMisses   = prometheus.NewDesc("flywheel_model_cache_misses_total", "Model loads that read the database.", nil, nil)
	descListen   = prometheus.NewDesc("flywheel_model_cache_listening", "1 while the store listens for model changes (the cache is in use), else 0.", nil, nil)
	descLeading  = prometheus.NewDesc("flywheel_refresh_leader", "1 while this Flywheel holds the refresh lease, else 0.", nil, nil)
	descRefresh  = prometheus.NewDesc("flywheel_model_refreshes_total", "Refreshes run by this Flywheel, by result (stored, failed).", []string{"result"}, nil)
	descMemLimit = prometheus.NewDesc("flywheel_memory_limit_bytes", "The memory budget of model work: inputs, results and the model cache (--memory-limit).", nil, nil)
	descMemUsed  = prometheus.NewDesc("flywheel_memory_in_use_bytes", "Memory of the budget held now by calls and the model cache.", nil, nil)
	descMemPeak  = prometheus.NewDesc("flywheel_memory_peak_bytes", "The most of the budget held at once since start.", nil, nil)
	descMemWait  = prometheus.NewDesc("flywheel_memory_waiting_calls", "Calls waiting for memory now.", nil, nil)
	descMemFail  = prometheus.NewDesc("flywheel_memory_refusals_total", "Calls refused for want of memory (SQLSTATE 53200).", nil, nil)
)

func (c *scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descStarted, descMessages, descBytes,
		descCacheB, descCacheN, descHits, descMisses, descListen, descLeading, descRefresh,
		descMemLimit, descMemUsed, descMemPeak, descMemWait, descMemFail} {
		ch <- d
	}
}

func (c *scrape) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if f := c.src.Sessions; f != nil {
		gauge(descSessions, float64(f()))
	}
	if r := c.src.Relay; r != nil {
		counter(descStarted, float64(r.Sessions.Load()))
		counter(descMessages, float64(r.ClientMessages.Load()), "client")
		counter(descMessages, float64(r.UpstreamMessages.Load()), "upstream")
		counter(descBytes, float64(r.ClientBytes.Load()), "client")
		counter(descBytes, float64(r.UpstreamBytes.Load()), "upstream")
	}
	if f := c.src.Cache; f != nil {
		st := f()
		gauge(descCacheB, float64(st.Bytes))
		gauge(descCacheN, float64(st.Models))
		counter(descHits, float64(st.Hits))
		counter(descMisses, float64(st.Misses))
		gauge(descListen, b2f(st.Listening))
	}
	if f := c.src.Refresh; f != nil {
		st := f()
		gauge(descLeading, b2f(st.Leading))
		counter(descRefresh, float64(st.Refreshed), "stored")
		counter(descRefresh, float64(st.Failed), "failed")
	}
	if f := c.src.Memory; f != nil {
		st := f()
		gauge(descMemLimit, float64(st.Limit))
		gauge(descMemUsed, float64(st.Used))
		gauge(descMemPeak, float64(st.Peak))
		gauge(descMemWait, float64(st.Waiting))
		counter(descMemFail, float64(st.Failures))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
