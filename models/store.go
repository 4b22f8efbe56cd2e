// Package models keeps trained models in the backing database and serves
// them to calls: the store of catalog.ModelStore. Versions, their encoded
// state and the deployment history live in tables of schema flywheel
// (schema.go), so they survive restarts, are shared by every Flywheel in
// front of the database, and pg_dump carries them along.
//
// Writes (train, deploy, rollback, drop) go through the session's own
// connection and so belong to its transaction; each also sends a NOTIFY
// that PostgreSQL delivers when the transaction commits. Reads for calls
// come from an in-memory cache of deployed models, bounded in bytes,
// filled from a pool of the store's own and emptied of a name whenever a
// NOTIFY for it arrives (listen.go). While the LISTEN connection is down
// nothing is cached, so a change is never missed: calls then read the
// database each time.
package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Store.
type Config struct {
	// URL is the backing database's connection string; the store opens a
	// small pool of its own for loading models and recording failures,
	// and one connection that listens for changes.
	URL string
	// CacheBytes bounds the decoded models kept in memory (least recently
	// used go first). Zero means 1 GiB.
	CacheBytes int64
	// Memory is the process's memory budget, which the cache's models are
	// charged to (shared with model calls; nil for none).
	Memory *membudget.Budget
	// Decode decodes a stored state into m.State and sets m.Size.
	Decode func(m *catalog.Model, state []byte) error
	Logger *slog.Logger
	// Refresh configures the worker that runs refresh policies
	// (refresh.go); with Workers 0 this Flywheel runs none, and others on
	// the database do.
	Refresh RefreshConfig
	// Observer, when set, hears of every stored version (metrics).
	Observer Observer
}

// Observer hears of each version the store saves: the model's kind,
// whether the refresh worker trained it (rather than a session's train),
// and how long the training took. It must be safe for concurrent use.
type Observer interface {
	ObserveTrain(kind string, refresh bool, d time.Duration)
}

// Store is the model store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	decode func(*catalog.Model, []byte) error
	log    *slog.Logger
	cache  *cache
	mem    *membudget.Budget
	stop   context.CancelFunc
	done   chan struct{}

	observer   Observer      // nil: nobody listens
	refresher  *refresher    // nil without a worker
	workerDone chan struct{} // closed when the worker has stopped
}

// Open connects to the database, creates or migrates the store's tables
// and starts listening for changes.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Decode == nil {
		return nil, errors.New("models: Config.Decode is required")
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 1 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	// The refresh workers each hold one while they read and store.
	pcfg.MaxConns = 4 + int32(max(cfg.Refresh.Workers, 0))
	pcfg.ConnConfig.RuntimeParams["application_name"] = "flywheel model store"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s := &Store{pool: pool, decode: cfg.Decode, log: cfg.Logger, cache: newCache(cfg.CacheBytes, cfg.Memory), mem: cfg.Memory, stop: stop, done: make(chan struct{}),
		observer: cfg.Observer}
	ready := make(chan struct{})
	go s.listen(lctx, pcfg.ConnConfig, ready)
	if cfg.Refresh.Workers > 0 {
		s.startRefresher(lctx, cfg.Refresh, pcfg.ConnConfig)
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		s.log.Warn("models: not yet listening for model changes; reading models uncached until then")
	case <-ctx.Done():
	}
	return s, nil
}

// Close stops listening and refreshing, and closes the pool.
func (s *Store) Close() {
	s.stop()
	<-s.done
	if s.workerDone != nil {
		<-s.workerDone
	}
	s.pool.Close()
	s.cache.close()
}

// Migrate creates the store's tables or brings them up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", migrateLock); err != nil {
			return fmt.Errorf("models: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS flywheel;
CREATE TABLE IF NOT EXISTS flywheel.store_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("models: migrate: %w", err)
		}
		var done int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM flywheel.store_migrations").Scan(&done); err != nil {
			return fmt.Errorf("models: migrate: %w", err)
		}
		if done > len(migrations) {
			return fmt.Errorf("models: the database's model store is at version %d, newer than this Flywheel's %d: upgrade Flywheel", done, len(migrations))
		}
		for v := done + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("models: migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO flywheel.store_migrations (version) VALUES ($1)", v); err != nil {
				return fmt.Errorf("models: migration %d: %w", v, err)
			}
		}
		return nil
	})
}

// Deployed returns name's deployed version, from the cache when it holds
// it.
func (s *Store) Deployed(ctx context.Context, name string) (*catalog.Model, error) {
	if m, ok := s.cache.get(name); ok {
		return m, nil
	}
	ticket := s.cache.ticket(name)
	m, tag, err := s.loadDeployed(ctx, name)
	if err != nil {
		return nil, err
	}
	s.cache.putTagged(name, m, tag, ticket)
	return m, nil
}

// poolError is the error of a session's call whose model could not be
// read on the store's own pool. It is never PostgreSQL's error as such:
// relayed, a FATAL of the pool's connection (57P01 when PostgreSQL
// restarts) would read as the end of the client's own session, which
// carries on. The pool losing the database (or never reaching it) is
// 58000; any other error of PostgreSQL's keeps its code. A read that
// ended with ctx is err as it is.
func poolError(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("models: load %q: %w", name, err)
	}
	var pe *pgconn.PgError
	code := "58000"
	if errors.As(err, &pe) && !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57P") {
		code = pe.Code
	}
	return &catalog.Error{Code: code, Message: fmt.Sprintf("models: cannot load model %q from the backing database: %v", name, err),
		Hint: "The model store reads models on connections of its own; retry once PostgreSQL is reachable."}
}

// loadDeployed reads and decodes name's deployed version from the pool,
// with the tag of its row (see cacheEntry).
func (s *Store) loadDeployed(ctx context.Context, name string) (*catalog.Model, string, error) {
	var (
		kind                        string
		version, trial, base, tBase *int32
		status, tag, tTag           *string
		inputs, options             []byte
		traffic                     *float64
		tInputs, tOptions           []byte
	)
	// The states are read apart (readVersion): the cache may hold them
	// decoded already, and a delta's base is read on its own anyway.
	err := s.pool.QueryRow(ctx, `SELECT m.kind, v.version, v.status, v.inputs, v.options, v.base_version, v.xmin::text,
	c.version, t.traffic, c.inputs, c.options, c.base_version, c.xmin::text
FROM flywheel.model m LEFT JOIN flywheel.model_version v ON v.model = m.name AND v.version = m.deployed_version
LEFT JOIN flywheel.model_trial t ON t.model = m.name AND t.champion = m.deployed_version AND t.decided_at IS NULL
LEFT JOIN flywheel.model_version c ON c.model = m.name AND c.version = t.challenger
WHERE m.name = $1`, name).Scan(&kind, &version, &status, &inputs, &options, &base, &tag, &trial, &traffic, &tInputs, &tOptions, &tBase, &tTag)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", s.unknown(ctx, name)
	}
	if err != nil {
		return nil, "", poolError(ctx, name, err)
	}
	if version == nil {
		return nil, "", &catalog.Error{Code: "42704", Message: fmt.Sprintf("model %q has no deployed version", name),
			Hint: fmt.Sprintf("Deploy one: SELECT * FROM flywheel.deploy(%s, <version>); flywheel.model_versions lists them.", quote(name))}
	}
	read := s.poolReader(name)
	m, err := s.build(ctx, name, kind, &storedVersion{version: int(*version), inputs: inputs, options: options, base: int(deref(base)), tag: deref(tag)}, read)
	if err != nil || trial == nil || traffic == nil {
		return m, deref(tag), err
	}
	// In an online trial the challenger serves a share of the users from
	// the same calls, so it is loaded, cached and dropped with the champion.
	c, err := s.build(ctx, name, kind, &storedVersion{version: int(*trial), inputs: tInputs, options: tOptions, base: int(deref(tBase)), tag: deref(tTag)}, read)
	if err != nil {
		return nil, "", err
	}
	m.Trial = &catalog.Trial{Challenger: c, Traffic: *traffic}
	m.Size += c.Size
	return m, deref(tag), nil
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// storedVersion is a version's row as build needs it; state is nil until
// read.
type storedVersion struct {
	version         int
	inputs, options []byte
	state           []byte
	base            int // the version state is a delta on, 0 for none
	tag             string
}

// versionReader reads a version's row, its state included when withState
// is set: from the store's pool for calls, from the session's connection
// for the lifecycle functions (which see their own transaction's rows).
type versionReader func(ctx context.Context, version int, withState bool) (*storedVersion, error)

// poolReader reads name's versions from the pool.
func (s *Store) poolReader(name string) versionReader {
	return func(ctx context.Context, version int, withState bool) (*storedVersion, error) {
		sv := &storedVersion{version: version}
		var base *int32
		err := s.pool.QueryRow(ctx, `SELECT inputs, options, CASE WHEN $3 THEN state END, base_version, xmin::text
FROM flywheel.model_version WHERE model = $1 AND version = $2`, name, version, withState).Scan(&sv.inputs, &sv.options, &sv.state, &base, &sv.tag)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("models: %q version %d is not stored", name, version)
		}
		if err != nil {
			return nil, poolError(ctx, name, err)
		}
		sv.base = int(deref(base))
		return sv, nil
	}
}

// maxChain bounds the deltas build follows, against a corrupt cycle (learn
// stores a whole state again after a few).
const maxChain = 64

// build decodes a stored version. One held in the cache decoded from the
// same row is taken from there; a delta is decoded onto its base version,
// built first the same way.
func (s *Store) build(ctx context.Context, name, kind string, sv *storedVersion, read versionReader) (*catalog.Model, error) {
	return s.buildChain(ctx, name, kind, sv, read, 0)
}

func (s *Store) buildChain(ctx context.Context, name, kind string, sv *storedVersion, read versionReader, depth int) (*catalog.Model, error) {
	if m, ok := s.cache.byVersion(name, sv.version, sv.tag); ok {
		return m, nil
	}
	corrupt := func(err error) error {
		return &catalog.Error{Code: "XX001", Message: fmt.Sprintf("model %q version %d: the stored state cannot be decoded: %v", name, sv.version, err),
			Hint: "Other models are unaffected. Deploy another version (flywheel.deploy) or train this one again."}
	}
	if sv.state == nil {
		full, err := read(ctx, sv.version, true)
		if err != nil {
			return nil, err
		}
		if full.tag != sv.tag {
			// Dropped and trained again between the two reads.
			return nil, &catalog.Error{Code: "40001", Message: fmt.Sprintf("model %q version %d changed while it was loaded", name, sv.version),
				Hint: "Retry the statement."}
		}
		sv.state = full.state
	}
	m := &catalog.Model{Name: name, Kind: kind, Version: sv.version}
	if sv.base != 0 {
		if depth >= maxChain {
			return nil, corrupt(fmt.Errorf("more than %d deltas on deltas", maxChain))
		}
		b, err := read(ctx, sv.base, false)
		if err != nil {
			return nil, err
		}
		base, err := s.buildChain(ctx, name, kind, b, read, depth+1)
		if err != nil {
			return nil, err
		}
		m.State = base.State // the delta's decoding learns onto it
	}
	err := json.Unmarshal(sv.inputs, &m.Inputs)
	if err == nil {
		err = decodeOptions(sv.options, &m.Options)
	}
	if err == nil {
		err = s.decode(m, sv.state)
	}
	if err != nil {
		return nil, corrupt(err)
	}
	return m, nil
}

// decodeOptions reads options as stored: JSON numbers that are integers
// become int64, the others float64, as the catalog passes arguments.
func decodeOptions(b []byte, out *map[string]any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var raw map[string]any
	if err := d.Decode(&raw); err != nil {
		return err
	}
	for k, v := range raw {
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				raw[k] = i
			} else if f, err := n.Float64(); err == nil {
				raw[k] = f
			}
		}
	}
	*out = raw
	return nil
}

// unknown is the error for a model name that is not stored, with the
// nearest names as a hint.
func (s *Store) unknown(ctx context.Context, name string) error {
	e := &catalog.Error{Code: "42704", Message: fmt.Sprintf("model %q does not exist", name)}
	rows, err := s.pool.Query(ctx, "SELECT name FROM flywheel.model")
	if err != nil {
		return e
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return e
	}
	if near := nearest(name, names); len(near) > 0 {
		e.Hint = "Did you mean " + strings.Join(near, ", ") + "? flywheel.models lists the stored models."
	} else {
		e.Hint = "Train it first: SELECT * FROM flywheel.train(name, kind, (SELECT ...)); flywheel.models lists the stored models."
	}
	return e
}

// nearest returns up to three names within a small edit distance of
// name, closest first.
func nearest(name string, names []string) []string {
	type cand struct {
		n string
		d int
	}
	var cs []cand
	for _, n := range names {
		d := editDistance(strings.ToLower(name), strings.ToLower(n))
		if d <= max(2, len(name)/3) || strings.Contains(strings.ToLower(n), strings.ToLower(name)) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].n < cs[j].n })
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, quote(cs[i].n))
	}
	return out
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quote writes s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
