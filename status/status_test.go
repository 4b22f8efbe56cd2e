package status_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/status"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The page shows the sessions, the models with a plot each, the failed
// training, and loads nothing from anywhere.
func TestPage(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	conn := s.connect(t, "status-test-trainer")
	trainModels(t, conn)
	idle := s.connect(t, "status-test-idle")
	run(t, idle, "SELECT 1")
	inTx := s.connect(t, "status-test-tx")
	run(t, inTx, "BEGIN")

	code, body := get(t, s.httpURL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`id="sessions">3<`, "status-test-trainer", "status-test-idle", "status-test-tx",
		"<td>segments</td>", "<td>kmeans</td>", "<td>recs</td>", "<td>recommend</td>",
		"inertia_per_row", // the primary metric: trained with a holdout
		"(no holdout)",    // recs: a training metric, said to be one
		"<svg", `<polyline class="holdout" points=`,
		"<td>broken</td>", "exceeds the number of rows", // the failed training and its error
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// One plot per model that has a metric, with a dot per version.
	if n := strings.Count(body, "<svg"); n != 2 {
		t.Errorf("%d plots, want 2 (segments and recs)", n)
	}
	if strings.Contains(body, "flywheel status") {
		t.Error("the page counts its own pool's connections as sessions")
	}
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q: it must load nothing", bad)
		}
	}
	if strings.Contains(body, "Streams") {
		t.Error("a streams section without streams")
	}
	run(t, inTx, "ROLLBACK")
}

// The streams section renders flywheel.streams whatever its columns, once
// the view exists.
func TestPageStreams(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	conn := s.connect(t, "t")
	// A view of other columns than the streams package's, in its place.
	run(t, conn, `DROP VIEW IF EXISTS flywheel.streams;
CREATE VIEW flywheel.streams AS SELECT * FROM (VALUES ('orders', 0, 1042::bigint, 3::bigint, 12.5::float8, NULL::text),
	('orders', 1, 998, 0, 11.0, 'bad json at offset 997')) v(stream, partition, "offset", lag, rows_per_s, last_error)`)
	_, body := get(t, s.httpURL+"/")
	for _, want := range []string{"<h2>Streams</h2>", "<th>lag</th>", "<th>rows/s, last hour</th>", "sampling…", "<th>rows_per_s</th>", "<td>orders</td>", "<td>1042</td>", "bad json at offset 997"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// And /metrics exports the view's gauges, by stream and partition.
	_, body = get(t, s.httpURL+"/metrics")
	for _, want := range []string{`flywheel_stream_lag{partition="0",stream="orders"} 3`, `flywheel_stream_rows_per_s{partition="1",stream="orders"} 11`,
		`flywheel_stream_offset{partition="0",stream="orders"} 1042`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	if code, body := get(t, s.httpURL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, s.httpURL+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	// An upstream that does not answer: nothing listens on port 1.
	dead := startStack(t, srv.NewDatabase(t), stackOptions{upstream: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1"})
	if code, body := get(t, dead.httpURL+"/healthz"); code != 503 || !strings.HasPrefix(body, "unhealthy: upstream:") {
		t.Errorf("/healthz with the upstream down: %d %q", code, body)
	}
	if code, _ := get(t, dead.httpURL+"/readyz"); code != 503 {
		t.Errorf("/readyz with the upstream down: %d", code)
	}
	// The page still renders, saying what failed.
	if code, body := get(t, dead.httpURL+"/"); code != 200 || !strings.Contains(body, `class="err"`) {
		t.Errorf("/ with the upstream down: %d\n%s", code, body)
	}
}

func TestAuth(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{auth: "ops:s3cret"})
	for _, path := range []string{"/", "/metrics", "/healthz", "/readyz"} {
		if code, _ := get(t, s.httpURL+path); code != 401 {
			t.Errorf("%s without credentials: %d, want 401", path, code)
		}
		if code, _ := get(t, s.httpURL+path, "ops", "wrong"); code != 401 {
			t.Errorf("%s with a wrong password: %d, want 401", path, code)
		}
		if code, _ := get(t, s.httpURL+path, "ops", "s3cret"); code != 200 {
			t.Errorf("%s with credentials: %d, want 200", path, code)
		}
	}
}

func TestCheckBind(t *testing.T) {
	for _, c := range []struct {
		addr, auth string
		ok         bool
	}{
		{"127.0.0.1:6480", "", true},
		{"[::1]:6480", "", true},
		{"localhost:6480", "", true},
		{"0.0.0.0:6480", "", false},
		{":6480", "", false},
		{"10.1.2.3:6480", "", false},
		{"0.0.0.0:6480", "ops:pw", true},
		{"0.0.0.0:6480", "nocolon", false},
		{"0.0.0.0:6480", ":pw", false},
		{"nonsense", "", false},
	} {
		err := status.CheckBind(c.addr, c.auth)
		if (err == nil) != c.ok {
			t.Errorf("CheckBind(%q, %q) = %v, want ok %v", c.addr, c.auth, err, c.ok)
		}
	}
	err := status.CheckBind("0.0.0.0:6480", "")
	if err == nil || !strings.Contains(err.Error(), "--http-auth") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
}

// /metrics parses as Prometheus exposition and counts what happened.
func TestMetrics(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	conn := s.connect(t, "status-test")
	trainModels(t, conn)
	if _, err := conn.Exec(context.Background(), `SELECT * FROM kmeans((SELECT id, x FROM points), 0)`); err == nil {
		t.Fatal("kmeans with k 0 succeeded")
	}
	code, body := get(t, s.httpURL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := families[name]
		if f == nil {
			return 0, false
		}
	metrics:
		for _, m := range f.Metric {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"flywheel_sessions", nil, 1},
		{"flywheel_sessions_started_total", nil, 1},
		{"flywheel_relayed_messages_total", map[string]string{"from": "client"}, 10},
		{"flywheel_relayed_messages_total", map[string]string{"from": "upstream"}, 10},
		{"flywheel_relayed_bytes_total", map[string]string{"from": "client"}, 500},
		{"flywheel_relayed_bytes_total", map[string]string{"from": "upstream"}, 500},
		{"flywheel_model_call_duration_seconds", map[string]string{"function": "train", "outcome": "ok"}, 5},
		{"flywheel_model_call_duration_seconds", map[string]string{"function": "train", "outcome": "error"}, 1},
		{"flywheel_model_call_duration_seconds", map[string]string{"function": "recommend", "outcome": "ok"}, 3},
		{"flywheel_model_call_duration_seconds", map[string]string{"function": "kmeans", "outcome": "error"}, 1},
		{"flywheel_model_training_duration_seconds", map[string]string{"kind": "kmeans", "trigger": "train"}, 3},
		{"flywheel_model_training_duration_seconds", map[string]string{"kind": "recommend", "trigger": "train"}, 2},
		{"flywheel_model_cache_hits_total", nil, 1},
		{"flywheel_model_cache_misses_total", nil, 1},
		{"flywheel_model_cache_bytes", nil, 1},
		{"flywheel_model_cache_models", nil, 1},
		{"flywheel_memory_limit_bytes", nil, stackMemoryLimit},
		{"go_memstats_heap_inuse_bytes", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		v, ok := value(c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if f := families["flywheel_model_call_duration_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("model call latency is not a histogram: %v", f)
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// A session running a model function counts as busy, though its backend
// idles while the proxy computes.
func TestPageComputingSession(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	busy := s.connect(t, "status-test-busy")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, `SELECT count(*) FROM kmeans((SELECT g, (g * 7919 % 1000)::float8, (g * 104729 % 1000)::float8
	FROM generate_series(1::bigint, 400000) g), 8, n_init => 50)`)
		done <- err
	}()
	want := "<td>status-test-busy</td>\n<td class=\"num\">0</td><td class=\"num\">1</td>"
	seen := false
	for start := time.Now(); time.Since(start) < 30*time.Second && !seen; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the call ended (%v) before the page showed it", err)
		default:
		}
		_, body := get(t, s.httpURL+"/")
		seen = strings.Contains(body, want)
	}
	cancel()
	<-done
	if !seen {
		t.Fatal("the page never showed the session as in a model function")
	}
}

// An online trial shows with its versions, traffic and outcome so far, and
// the challenger's dot in the plot is told apart.
func TestPageTrials(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	conn := s.connect(t, "t")
	run(t, conn, `CREATE TABLE r AS
SELECT u, i, 1 + (u * 7 + i * 3) % 5 AS v FROM generate_series(1, 200) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0;
CREATE TABLE clicks (customer int, product int, at timestamptz)`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), holdout => 0.2)`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r WHERE u % 7 <> 0), holdout => 0.2,
	promote => 'if_better_online', traffic => 0.3, events => (SELECT customer, product, at FROM clicks), within => '1 hour')`)
	_, body := get(t, s.httpURL+"/")
	for _, want := range []string{"<h2>Online trials</h2>", "<tr><td>recs</td><td>v1</td><td>v2</td><td class=\"num\">30.0%</td>",
		"running", `fill="#ea580c"`, `fill="#16a34a"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// Once the refresh worker has judged a trial, the model's plot carries
// the versions' online hit rates from flywheel.trials as a second series
// with its legend, beside the held-out metric.
func TestStatusPageDecidedTrial(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{refreshWorkers: 1, refreshTick: 200 * time.Millisecond})
	conn := s.connect(t, "t")
	run(t, conn, `CREATE TABLE r AS
SELECT u, i, 1 + (u * 7 + i * 3) % 5 AS v FROM generate_series(1, 200) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0;
CREATE TABLE clicks (customer int, product int, at timestamptz)`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r), holdout => 0.2)`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT u, i, v FROM r WHERE u % 7 <> 0), holdout => 0.2,
	promote => 'if_better_online', traffic => 0.3, events => (SELECT customer, product, at FROM clicks), within => '3 seconds')`)
	// Both versions serve; the challenger's users click their first
	// recommendation, a quarter of the champion's theirs.
	run(t, conn, `SELECT count(*) FROM generate_series(1, 200) u CROSS JOIN LATERAL recommend(u, 5, model => 'recs', log => true) x`)
	run(t, conn, `INSERT INTO clicks SELECT user_key::int, item::int, served_at + interval '0.5 second' FROM flywheel.decisions
	WHERE rank = 1 AND (version = 2 OR user_key::int % 4 = 0)`)
	ctx := context.Background()
	var champ, chall *float64
	var result *string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var decided bool
		if err := conn.QueryRow(ctx, `SELECT decided_at IS NOT NULL, champion_hit_rate, challenger_hit_rate, result FROM flywheel.trials WHERE model = 'recs'`).
			Scan(&decided, &champ, &chall, &result); err != nil {
			t.Fatal(err)
		}
		if decided {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trial was not judged within 30 s")
		}
	}
	if champ == nil || chall == nil {
		t.Fatalf("the trial was judged without both versions' hit rates (decisions logged after its window?): %v", str(result))
	}
	_, body := get(t, s.httpURL+"/")
	i := strings.Index(body, "<h3>recs")
	if i < 0 {
		t.Fatalf("no recs plot:\n%s", body)
	}
	plot := body[i:]
	plot = plot[:strings.Index(plot, "</svg>")]
	pct := func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }
	for _, want := range []string{">holdout ndcg_at_10<", ">online hit rate<", `<polyline class="holdout"`, `<polyline class="online"`,
		"v1 online hit rate (champion): " + pct(*champ), "v2 online hit rate (challenger): " + pct(*chall)} {
		if !strings.Contains(plot, want) {
			t.Errorf("the recs plot lacks %q:\n%s", want, plot)
		}
	}
	if n := strings.Count(plot, "<polyline"); n != 2 {
		t.Errorf("the recs plot has %d series, want 2 (holdout and online)", n)
	}
	// And the trials table says the same rates: one source for both.
	if i := strings.Index(body, `<table id="trials">`); i < 0 {
		t.Error("no trials table")
	} else if table := body[i:]; !strings.Contains(table, pct(*champ)) || !strings.Contains(table, pct(*chall)) {
		t.Errorf("the trials table lacks the hit rates %s, %s", pct(*champ), pct(*chall))
	}
}

func str(s *string) string {
	if s == nil {
		return "(no result)"
	}
	return *s
}

// /metrics reports the memory budget of model work (--memory-limit) with
// what is held of it.
func TestStatusMemoryMetrics(t *testing.T) {
	s := startStack(t, srv.NewDatabase(t), stackOptions{})
	trainModels(t, s.connect(t, "status-test"))
	_, body := get(t, s.httpURL+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	if f := families["flywheel_memory_limit_bytes"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() != stackMemoryLimit {
		t.Errorf("flywheel_memory_limit_bytes: %v, want %d", f, stackMemoryLimit)
	}
	// The cache holds the models the predictions loaded, on the budget.
	if f := families["flywheel_memory_peak_bytes"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() <= 0 {
		t.Errorf("flywheel_memory_peak_bytes: %v, want above 0", f)
	}
	for _, name := range []string{"flywheel_memory_in_use_bytes", "flywheel_memory_waiting_calls", "flywheel_memory_refusals_total"} {
		if families[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
