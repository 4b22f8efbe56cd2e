package status

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// snapshot is what the page shows, read in one go. Each section keeps its
// own error: a missing view or a slow query blanks that section only.
type snapshot struct {
	Taken     time.Time
	Sessions  sessions
	Models    []model
	ModelErr  string
	Failed    []failure
	Streams   *table // nil: no flywheel.streams view, or no stream in it
	StreamErr string
	Trials    []trial
}

type sessions struct {
	Total      int // the proxy's count, start-ups included
	Busy, Idle int
	ByApp      []appSessions
	Err        string
}

type appSessions struct {
	App                                      string
	Active, Computing, Idle, IdleInTx, Other int
}

type model struct {
	Name, Kind  string
	Deployed    *int32
	Versions    int64
	LastTrained *time.Time
	Metric      string // the primary metric plotted
	Fallback    bool   // Metric is a training metric: no version has the primary one
	Value       *float64
	Refresh     *string
	NextRefresh *time.Time
	LastError   *string
	Points      []point
	Plot        *plot
}

type point struct {
	Version int32
	Status  string
	Value   float64
}

type failure struct {
	Model   string
	Version int32
	At      time.Time
	Refresh bool
	Error   string
}

// table is a view read generically: its columns as PostgreSQL names them,
// its values as text.
type table struct {
	Columns []string
	Rows    [][]string
	// Sparks, when the view has rows_per_s, is each row's last hour of
	// it (nil until there are two samples).
	Sparks []*spark
}

// queryTimeout bounds the page's reads, so that a page render is never
// stuck behind a lock: the page refreshes itself anyway.
const queryTimeout = 3 * time.Second

func (s *Server) snapshot(ctx context.Context) *snapshot {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	snap := &snapshot{Taken: time.Now()}
	snap.Sessions = s.sessions(ctx)
	var err error
	if snap.Models, err = s.models(ctx); err != nil {
		snap.ModelErr = err.Error()
	} else if snap.Failed, err = s.failures(ctx); err != nil {
		snap.ModelErr = err.Error()
	}
	if snap.Streams, err = s.streams(ctx); err != nil {
		snap.StreamErr = err.Error()
	}
	if snap.Trials, err = s.trials(ctx); err != nil && snap.ModelErr == "" {
		snap.ModelErr = err.Error()
	}
	// The plots come last: they put the trials' online outcomes beside
	// the versions' held-out metric.
	for i := range snap.Models {
		m := &snap.Models[i]
		label := "holdout " + m.Metric
		if m.Fallback {
			label = m.Metric + " (training)"
		}
		m.Plot = newPlot(m.Points, label, onlineOf(snap.Trials, m.Name))
	}
	return snap
}

// onlineOf is a model's online outcome per version: the hit rates of its
// decided trial in flywheel.trials, which keeps each model's current or
// last trial only, so at most the champion and the challenger of the
// last one. A running trial has no hit rates yet, and a trial that could
// not be judged (its events query failed) none at all. A model whose
// decisions are logged (recommend(..., log => true)) outside any trial
// has no online points either: scoring them is flywheel.outcomes, which
// needs the events relation that only its caller has (the page has no
// events to join, and inventing a rate would be a second source of
// truth), so the page shows what the views hold and nothing more.
func onlineOf(trials []trial, name string) []online {
	var out []online
	for _, t := range trials {
		if t.Model != name || t.Decided == nil {
			continue
		}
		add := func(v *int32, role string, rate *float64, n *int64) {
			if v != nil && rate != nil && !math.IsNaN(*rate) {
				out = append(out, online{Version: *v, Role: role, HitRate: *rate, Decisions: n})
			}
		}
		add(t.Champion, "champion", t.ChampionHitRate, t.ChampionDecisions)
		add(t.Challenger, "challenger", t.ChallengerHitRate, t.ChallengerDecisions)
	}
	// In version order, as the held-out line: the polyline runs left to
	// right whichever side won.
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// sessions reads the proxy's sessions where PostgreSQL reports them:
// pg_stat_activity, by the backend PIDs of the proxy's session table.
func (s *Server) sessions(ctx context.Context) sessions {
	var out sessions
	if s.cfg.Sessions != nil {
		out.Total = s.cfg.Sessions()
	}
	if s.cfg.BackendPIDs == nil {
		return out
	}
	var pids []int32
	for _, p := range s.cfg.BackendPIDs() {
		pids = append(pids, int32(p))
	}
	if len(pids) == 0 {
		return out
	}
	computing := map[int32]bool{}
	if s.cfg.ComputingPIDs != nil {
		for _, p := range s.cfg.ComputingPIDs() {
			computing[int32(p)] = true
		}
	}
	rows, err := s.cfg.DB.Query(ctx, `SELECT pid, coalesce(application_name, ''), coalesce(state, '')
FROM pg_stat_activity WHERE pid = ANY($1)`, pids)
	if err != nil {
		out.Err = fmt.Sprintf("pg_stat_activity: %v", err)
		return out
	}
	defer rows.Close()
	byApp := map[string]*appSessions{}
	for rows.Next() {
		var pid int32
		var app, state string
		if err := rows.Scan(&pid, &app, &state); err != nil {
			out.Err = err.Error()
			return out
		}
		a := byApp[app]
		if a == nil {
			a = &appSessions{App: app}
			byApp[app] = a
		}
		switch {
		case computing[pid]:
			// The backend waits for the proxy's arrays: idle to
			// PostgreSQL, busy to the client.
			a.Computing++
			out.Busy++
		case state == "active":
			a.Active++
			out.Busy++
		case state == "idle":
			a.Idle++
			out.Idle++
		case strings.HasPrefix(state, "idle in transaction"):
			// Holding a transaction open is not idle for the database.
			a.IdleInTx++
			out.Busy++
		default:
			a.Other++
		}
	}
	if err := rows.Err(); err != nil {
		out.Err = err.Error()
		return out
	}
	for _, a := range byApp {
		out.ByApp = append(out.ByApp, *a)
	}
	sort.Slice(out.ByApp, func(i, j int) bool { return out.ByApp[i].App < out.ByApp[j].App })
	return out
}

// exists reports whether a relation exists, so that a view another
// component adds (or the store, before its first migration) can be absent.
func (s *Server) exists(ctx context.Context, rel string) (bool, error) {
	var ok bool
	err := s.cfg.DB.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", rel).Scan(&ok)
	return ok, err
}

func (s *Server) models(ctx context.Context) ([]model, error) {
	if ok, err := s.exists(ctx, "flywheel.models"); err != nil || !ok {
		return nil, err
	}
	rows, err := s.cfg.DB.Query(ctx, `SELECT name, kind, deployed_version, versions, last_trained,
	coalesce(primary_metric, ''), primary_value, refresh, next_refresh, last_error
FROM flywheel.models ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("flywheel.models: %w", err)
	}
	var out []model
	byName := map[string]int{}
	for rows.Next() {
		var m model
		if err := rows.Scan(&m.Name, &m.Kind, &m.Deployed, &m.Versions, &m.LastTrained,
			&m.Metric, &m.Value, &m.Refresh, &m.NextRefresh, &m.LastError); err != nil {
			rows.Close()
			return nil, fmt.Errorf("flywheel.models: %w", err)
		}
		byName[m.Name] = len(out)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flywheel.models: %w", err)
	}
	rows, err = s.cfg.DB.Query(ctx, `SELECT model, version, status, metrics::text
FROM flywheel.model_versions ORDER BY model, version`)
	if err != nil {
		return nil, fmt.Errorf("flywheel.model_versions: %w", err)
	}
	metrics := map[string][]versionMetrics{}
	for rows.Next() {
		var name string
		var v versionMetrics
		var js string
		if err := rows.Scan(&name, &v.version, &v.status, &js); err != nil {
			rows.Close()
			return nil, fmt.Errorf("flywheel.model_versions: %w", err)
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(js), &raw); err == nil {
			v.metrics = map[string]float64{}
			for k, x := range raw {
				if f, ok := x.(float64); ok && !math.IsNaN(f) {
					v.metrics[k] = f
				}
			}
		}
		metrics[name] = append(metrics[name], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flywheel.model_versions: %w", err)
	}
	for name, vs := range metrics {
		i, ok := byName[name]
		if !ok {
			continue
		}
		m := &out[i]
		m.Points = pointsOf(vs, m.Metric)
		if len(m.Points) == 0 {
			// The kind's primary metric is measured on a holdout: a model
			// trained without one still has its fit's own metrics.
			m.Metric = fallbackMetric(vs)
			m.Points = pointsOf(vs, m.Metric)
			m.Fallback = m.Metric != ""
			m.Value = nil
			for _, p := range m.Points {
				if p.Status == "deployed" {
					m.Value = &p.Value
				}
			}
		}
	}
	return out, nil
}

type versionMetrics struct {
	version int32
	status  string
	metrics map[string]float64
}

// pointsOf is one metric's values over the versions that have it.
func pointsOf(vs []versionMetrics, metric string) []point {
	var pts []point
	for _, v := range vs {
		if x, ok := v.metrics[metric]; ok && v.status != "failed" {
			pts = append(pts, point{Version: v.version, Status: v.status, Value: x})
		}
	}
	return pts
}

// fallbackMetric picks the metric to plot when the deployed version names
// no primary one (trained without a holdout): the first name, in order,
// that the most versions have, so that the line is as long as it can be.
func fallbackMetric(vs []versionMetrics) string {
	count := map[string]int{}
	for _, v := range vs {
		for k := range v.metrics {
			count[k]++
		}
	}
	best := ""
	for k, n := range count {
		if n > count[best] || n == count[best] && (best == "" || k < best) {
			best = k
		}
	}
	return best
}

// maxFailures is how many failed versions the page lists, newest first.
const maxFailures = 10

func (s *Server) failures(ctx context.Context) ([]failure, error) {
	rows, err := s.cfg.DB.Query(ctx, `SELECT model, version, trained_at, refreshed_by IS NOT NULL, coalesce(error, '')
FROM flywheel.model_versions WHERE status = 'failed' ORDER BY trained_at DESC, model, version DESC LIMIT $1`, maxFailures)
	if err != nil {
		return nil, fmt.Errorf("flywheel.model_versions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (failure, error) {
		var f failure
		err := r.Scan(&f.Model, &f.Version, &f.At, &f.Refresh, &f.Error)
		return f, err
	})
}

// maxStreamRows bounds the streams table: one row per partition can be
// many.
const maxStreamRows = 200

// streams reads flywheel.streams whole, whatever its columns are: the
// view belongs to the streams component, and the page shows what it says.
func (s *Server) streams(ctx context.Context) (*table, error) {
	if ok, err := s.exists(ctx, "flywheel.streams"); err != nil || !ok {
		return nil, err
	}
	rows, err := s.cfg.DB.Query(ctx, "SELECT * FROM flywheel.streams LIMIT $1",
		pgx.QueryResultFormats{pgx.TextFormatCode}, maxStreamRows)
	if err != nil {
		return nil, fmt.Errorf("flywheel.streams: %w", err)
	}
	defer rows.Close()
	t := &table{}
	stream, partition, rate := -1, -1, -1
	for i, fd := range rows.FieldDescriptions() {
		t.Columns = append(t.Columns, fd.Name)
		switch fd.Name {
		case "stream":
			stream = i
		case "partition":
			partition = i
		case "rows_per_s":
			rate = i
		}
	}
	now := time.Now()
	var keys []string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i, v := range raw {
			if v == nil {
				row[i] = "—"
			} else {
				row[i] = string(v)
			}
		}
		t.Rows = append(t.Rows, row)
		if rate < 0 {
			continue
		}
		key := ""
		if stream >= 0 {
			key = row[stream]
		}
		if partition >= 0 {
			key += "\x00" + row[partition]
		}
		keys = append(keys, key)
		if v, err := strconv.ParseFloat(string(raw[rate]), 64); err == nil && raw[rate] != nil {
			s.hist.add(key, now, v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flywheel.streams: %w", err)
	}
	if len(t.Rows) == 0 {
		return nil, nil // no streams declared: no section
	}
	if rate >= 0 {
		keep := map[string]bool{}
		for _, k := range keys {
			keep[k] = true
			t.Sparks = append(t.Sparks, newSpark(s.hist.get(k), now))
		}
		s.hist.forget(keep)
	}
	return t, nil
}

// trial is a model's current or last online trial (flywheel.trials): the
// versions' online outcome, hit rates on the decisions they served.
type trial struct {
	Model                string
	Champion, Challenger *int32
	Traffic              *float64
	Started, Ends        *time.Time
	Decided              *time.Time
	Result               *string
	ChampionDecisions    *int64
	ChampionHitRate      *float64
	ChallengerDecisions  *int64
	ChallengerHitRate    *float64
}

func (s *Server) trials(ctx context.Context) ([]trial, error) {
	if ok, err := s.exists(ctx, "flywheel.trials"); err != nil || !ok {
		return nil, err
	}
	rows, err := s.cfg.DB.Query(ctx, `SELECT model, champion, challenger, traffic, started_at, ends_at, decided_at, result,
	champion_decisions, champion_hit_rate, challenger_decisions, challenger_hit_rate
FROM flywheel.trials ORDER BY decided_at IS NOT NULL, model`)
	if err != nil {
		return nil, fmt.Errorf("flywheel.trials: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (trial, error) {
		var t trial
		err := r.Scan(&t.Model, &t.Champion, &t.Challenger, &t.Traffic, &t.Started, &t.Ends, &t.Decided, &t.Result,
			&t.ChampionDecisions, &t.ChampionHitRate, &t.ChallengerDecisions, &t.ChallengerHitRate)
		return t, err
	})
}
