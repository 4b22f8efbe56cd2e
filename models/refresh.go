package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/instance"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Refresh policies (flywheel.model_refresh) and the worker that runs them.
//
// Any number of Flywheels may stand in front of one database; exactly one
// of them schedules refreshes: the one holding a session-level advisory
// lock (the lease) on a connection of its own. The others try for it every
// LeaseRetry; when the holder stops or dies its connection closes, the lock
// goes with it, and another takes over within that interval. Scheduling
// is no more than looking for policies whose next_refresh has passed,
// every Tick.
//
// A refresh reads the policy's input again (as the role and search_path
// of the train that set it, in one REPEATABLE READ snapshot), fits with
// train's code (catalog.Retrain) and stores the version through Save, on
// connections from the store's pool, at most Workers at a time. The old
// version serves until the new one is deployed, as promote says. The
// lease alone does not make a refresh happen once: a holder that lost its
// connection may still be fitting. So a refresh stores its outcome only if
// the policy's generation is still the one it read, under the model's row
// lock: each due refresh makes one version whoever runs it.

// leaseKey names the advisory lock of the refresh lease (hashtext of it).
const leaseKey = "flywheel.refresh"

// RefreshConfig configures the refresh worker.
type RefreshConfig struct {
	// Workers is how many refreshes train at once; 0 runs no worker.
	Workers int
	// Tick is how often the lease holder looks for due refreshes; zero
	// means 5 s. LeaseRetry is how often a Flywheel without the lease
	// tries for it (zero: 5 s), ChangeCheck how often an on_change policy
	// measures its input (zero: 30 s).
	Tick, LeaseRetry, ChangeCheck time.Duration
	// MaxInputRows and MaxInputBytes bound what one refresh reads, as
	// the planner's limits bound a call (0: no bound).
	MaxInputRows, MaxInputBytes int64
	// ID names this Flywheel in model_versions.refreshed_by; empty means
	// host:pid and a random suffix.
	ID string
}

func (c *RefreshConfig) defaults() {
	if c.Tick <= 0 {
		c.Tick = 5 * time.Second
	}
	if c.LeaseRetry <= 0 {
		c.LeaseRetry = 5 * time.Second
	}
	if c.ChangeCheck <= 0 {
		c.ChangeCheck = 30 * time.Second
	}
	if c.ID == "" {
		c.ID = instance.NewID()
	}
}

// errStale is a refresh whose policy was written since it was read: by a
// new train, or by another Flywheel that ran the same due refresh.
var errStale = errors.New("models: the refresh policy changed while the refresh ran")

// RefreshStatus is what the worker is doing, for tests and the status page.
type RefreshStatus struct {
	Leading   bool  // this Flywheel holds the lease
	Refreshed int64 // versions it stored
	Failed    int64 // refreshes it recorded as failed
}

// refresher is a running worker.
type refresher struct {
	s        *Store
	cfg      RefreshConfig
	conn     *pgx.ConnConfig
	mu       sync.Mutex
	inflight map[string]bool

	leading           atomic.Bool
	refreshed, failed atomic.Int64
}

// RefreshStatus reports the refresh worker's state (zero without one).
func (s *Store) RefreshStatus() RefreshStatus {
	r := s.refresher
	if r == nil {
		return RefreshStatus{}
	}
	return RefreshStatus{Leading: r.leading.Load(), Refreshed: r.refreshed.Load(), Failed: r.failed.Load()}
}

// checkEvery is the on_change measuring interval as interval text.
func (s *Store) checkEvery() string {
	d := 30 * time.Second
	if s.refresher != nil {
		d = s.refresher.cfg.ChangeCheck
	}
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}

// RefreshInterval reads an interval on the store's pool, so that a bad
// one fails outside the session's transaction.
func (s *Store) RefreshInterval(ctx context.Context, text string) (time.Duration, error) {
	var secs float64
	if err := s.pool.QueryRow(ctx, "SELECT extract(epoch FROM $1::text::interval)::float8", text).Scan(&secs); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return 0, errors.New(pe.Message)
		}
		return 0, fmt.Errorf("models: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// SetRefresh stores name's policy through the session's connection, with
// the session's role and search_path, under which refreshes read the
// input again; nil removes it. An interval policy is first due one
// interval from now, an on_change one is measured at once.
func (s *Store) SetRefresh(ctx context.Context, db catalog.DB, name string, r *catalog.Refresh) error {
	if r == nil {
		_, err := run(ctx, db, "DELETE FROM flywheel.model_refresh WHERE model = $1", text(name))
		return err
	}
	every := param{text: r.Every, null: r.OnChange()}
	water := param{text: r.Watermark, null: r.Watermark == ""}
	mark := param{text: r.Mark, null: r.Mark == ""}
	_, err := run(ctx, db, `INSERT INTO flywheel.model_refresh AS r
	(model, every, watermark, kind, options, inputs, holdout, promote, source_sql, search_path, role, mark, next_refresh, mode)
VALUES ($1, $2::text::interval, $3, $4, $5, $6, $7, $8, $9, current_setting('search_path'), current_user, $10,
	now() + coalesce($2::text::interval, '0'), $11)
ON CONFLICT (model) DO UPDATE SET every = EXCLUDED.every, watermark = EXCLUDED.watermark, kind = EXCLUDED.kind, mode = EXCLUDED.mode,
	options = EXCLUDED.options, inputs = EXCLUDED.inputs, holdout = EXCLUDED.holdout, promote = EXCLUDED.promote,
	source_sql = EXCLUDED.source_sql, search_path = EXCLUDED.search_path, role = EXCLUDED.role, mark = EXCLUDED.mark,
	next_refresh = EXCLUDED.next_refresh, generation = r.generation + 1, last_error = NULL, failures = 0, updated = now()`,
		text(name), every, water, text(r.Kind), jsonParam(r.Options), jsonParam(r.Inputs),
		text(strconv.FormatFloat(r.Holdout, 'g', -1, 64)), text(r.Promote), text(r.Source), mark, text(refreshMode(r)))
	return err
}

// claimRefresh, in Save's transaction and under the model's row lock,
// checks that a refresh's policy is still the one it read.
func (s *Store) claimRefresh(ctx context.Context, db catalog.DB, t *catalog.Trained) error {
	if t.Refresh == nil || t.Refresh.Generation == 0 {
		return nil
	}
	rows, err := run(ctx, db, "SELECT generation FROM flywheel.model_refresh WHERE model = $1 FOR UPDATE", text(t.Name))
	if err != nil {
		return err
	}
	if len(rows) == 0 || rows[0].str(0) != strconv.FormatInt(t.Refresh.Generation, 10) {
		return errStale
	}
	return nil
}

// refreshParams are a version's refresh_due and refreshed_by.
func (s *Store) refreshParams(t *catalog.Trained) (due, by param) {
	if t.Refresh == nil || t.Refresh.Generation == 0 || s.refresher == nil {
		return param{null: true}, param{null: true}
	}
	return text(t.Refresh.Due.UTC().Format(time.RFC3339Nano)), text(s.refresher.cfg.ID)
}

// refreshed records a refresh's success on its policy: the new mark, and
// when the next one is due.
func (s *Store) refreshed(ctx context.Context, db catalog.DB, t *catalog.Trained) error {
	if t.Refresh == nil || t.Refresh.Generation == 0 {
		return nil
	}
	mark := param{text: t.Refresh.Mark, null: t.Refresh.Mark == ""}
	_, err := run(ctx, db, `UPDATE flywheel.model_refresh SET mark = $2, generation = generation + 1, last_refresh = now(),
	last_error = NULL, failures = 0, next_refresh = now() + coalesce(every, $3::text::interval)
WHERE model = $1`, text(t.Name), mark, text(s.checkEvery()))
	return err
}

// failedRefresh records a refresh's failure in Failed's transaction: on
// the policy always (last_error, and the next try one interval later),
// and as a failed version when the error is not the one the last try
// had, so that a source that stays broken leaves one failed version, not
// one per interval.
func (s *Store) failedRefresh(ctx context.Context, tx pgx.Tx, t *catalog.Trained, cause error) error {
	var (
		gen  int64
		last string
	)
	err := tx.QueryRow(ctx, "SELECT generation, coalesce(last_error, '') FROM flywheel.model_refresh WHERE model = $1 FOR UPDATE", t.Name).Scan(&gen, &last)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && gen != t.Refresh.Generation {
		return errStale
	}
	if err != nil {
		return err
	}
	msg := cause.Error()
	if msg != last {
		due, by := s.refreshParams(t)
		if _, err := tx.Exec(ctx, `INSERT INTO flywheel.model_version (model, version, status, rows, options, inputs, source_sql, train_ms, error, refresh_due, refreshed_by)
SELECT $1, coalesce(max(version), 0) + 1, 'failed', $2, coalesce($3::jsonb, '{}'), coalesce($4::jsonb, '[]'), $5, $6, $7, $8::text::timestamptz, $9
FROM flywheel.model_version WHERE model = $1`,
			t.Name, t.Rows, t.Options, t.Inputs, t.Source, t.TrainMS, msg, nullable(due), nullable(by)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, t.Name); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE flywheel.model_refresh SET last_error = $2, failures = failures + 1, generation = generation + 1,
	last_refresh = now(), next_refresh = now() + coalesce(every, $3::text::interval) WHERE model = $1`, t.Name, msg, s.checkEvery())
	return err
}

func nullable(p param) any {
	if p.null {
		return nil
	}
	return p.text
}

// startRefresher runs the worker until Close.
func (s *Store) startRefresher(ctx context.Context, cfg RefreshConfig, conn *pgx.ConnConfig) {
	cfg.defaults()
	r := &refresher{s: s, cfg: cfg, conn: conn.Copy(), inflight: map[string]bool{}}
	r.conn.RuntimeParams["application_name"] = "flywheel refresh lease"
	s.refresher = r
	s.workerDone = make(chan struct{})
	go func() {
		defer close(s.workerDone)
		r.run(ctx)
	}()
}

// run holds or waits for the lease until ctx ends.
func (r *refresher) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := r.lease(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.s.log.Warn("models: refresh lease", "err", err)
		}
		sleep(ctx, r.cfg.LeaseRetry)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// lease connects, tries for the lock every LeaseRetry, and once it has
// it schedules refreshes until the connection is lost or ctx ends.
func (r *refresher) lease(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.conn)
	if err != nil {
		return err
	}
	defer func() {
		// Closing the connection releases the lock for the others.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1))", leaseKey).Scan(&got); err != nil {
			return err
		}
		if got {
			break
		}
		sleep(ctx, r.cfg.LeaseRetry)
		if ctx.Err() != nil {
			return nil
		}
	}
	r.s.log.Info("models: this Flywheel runs the model refreshes", "id", r.cfg.ID)
	r.leading.Store(true)
	defer r.leading.Store(false)

	// Refreshes stop with the lease; the generation check keeps one that
	// is already storing from being stored twice if they do not.
	lctx, cancel := context.WithCancel(ctx)
	jobs := make(chan *catalog.Refresh, r.cfg.Workers)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				r.refresh(lctx, job)
				r.done(job.Name)
			}
		}()
	}
	defer func() {
		cancel()
		close(jobs)
		wg.Wait()
	}()
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
		// A lost connection is a lost lease.
		if _, err := conn.Exec(lctx, "SELECT 1"); err != nil {
			if lctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("lost the lease: %w", err)
		}
		if err := r.schedule(lctx, jobs); err != nil && lctx.Err() == nil {
			r.s.log.Warn("models: looking for due refreshes", "err", err)
		}
		if err := r.judgeTrials(lctx); err != nil && lctx.Err() == nil {
			r.s.log.Warn("models: looking for online trials to judge", "err", err)
		}
		select {
		case <-lctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (r *refresher) done(name string) {
	r.mu.Lock()
	delete(r.inflight, name)
	r.mu.Unlock()
}

// schedule hands the due policies that are not already running to the
// workers, as many as are free.
func (r *refresher) schedule(ctx context.Context, jobs chan<- *catalog.Refresh) error {
	rows, err := r.s.pool.Query(ctx, `SELECT model, coalesce(every::text, ''), coalesce(watermark, ''), kind, options, inputs,
	holdout, promote, source_sql, search_path, role, coalesce(mark, ''), generation, next_refresh, mode
FROM flywheel.model_refresh WHERE next_refresh <= now() ORDER BY next_refresh LIMIT 100`)
	if err != nil {
		return err
	}
	var due []*catalog.Refresh
	for rows.Next() {
		p := &catalog.Refresh{}
		var options, inputs []byte
		if err := rows.Scan(&p.Name, &p.Every, &p.Watermark, &p.Kind, &options, &inputs, &p.Holdout, &p.Promote,
			&p.Source, &p.SearchPath, &p.Role, &p.Mark, &p.Generation, &p.Due, &p.Mode); err != nil {
			rows.Close()
			return err
		}
		if err := decodeOptions(options, &p.Options); err != nil {
			r.s.log.Warn("models: a refresh policy's options do not decode", "model", p.Name, "err", err)
			continue
		}
		if err := json.Unmarshal(inputs, &p.Inputs); err != nil {
			r.s.log.Warn("models: a refresh policy's inputs do not decode", "model", p.Name, "err", err)
			continue
		}
		due = append(due, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range due {
		r.mu.Lock()
		busy := r.inflight[p.Name]
		if !busy {
			r.inflight[p.Name] = true
		}
		r.mu.Unlock()
		if busy {
			continue
		}
		select {
		case jobs <- p:
		default: // every worker is busy; the policy stays due for the next tick
			r.done(p.Name)
			return nil
		}
	}
	return nil
}

// refresh runs one due policy.
func (r *refresher) refresh(ctx context.Context, p *catalog.Refresh) {
	log := r.s.log.With("model", p.Name)
	conn, err := r.s.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("models: refresh: no connection", "err", err)
		}
		return
	}
	defer conn.Release()
	start := time.Now()
	// A refresh is model work like a session's call: its input and
	// training are charged to the memory budget, and a refresh that does
	// not fit fails (and is tried again at the next one).
	mem := r.s.mem.Reserve()
	defer mem.Release()
	rel, grew, err := r.read(ctx, conn.Conn(), p, mem)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		err = fmt.Errorf("refresh: reading the input: %w", err)
	}
	t := &catalog.Trained{Name: p.Name, Kind: p.Kind, Options: p.Options, Source: p.Source, Inputs: p.Inputs,
		Promote: p.Promote, Refresh: p}
	if err == nil && !grew {
		// Nothing new (on_change, or learn past the watermark): measure
		// again later, at the policy's interval if it has one.
		if _, err := conn.Exec(ctx, `UPDATE flywheel.model_refresh SET next_refresh = now() + coalesce(every, $3::text::interval)
WHERE model = $1 AND generation = $2`, p.Name, p.Generation, r.s.checkEvery()); err != nil && ctx.Err() == nil {
			log.Warn("models: refresh: scheduling the next check", "err", err)
		}
		return
	}
	if err == nil {
		err = mem.Grow(ctx, membudget.WorkFactor*relationBytes(rel))
	}
	if err == nil && p.Learns() {
		var m *catalog.Model
		if m, err = r.s.Version(ctx, pgxDB{conn.Conn().PgConn()}, p.Name, 0); err == nil {
			t, err = catalog.Relearn(ctx, p, m, rel)
		}
	} else if err == nil {
		t, err = catalog.Retrain(ctx, p, rel)
	}
	if err == nil {
		err = r.store(ctx, conn.Conn(), t)
	}
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, errStale):
		log.Debug("models: refresh: the policy changed meanwhile; its outcome is dropped")
	case err != nil:
		log.Warn("models: refresh failed; the deployed version keeps serving", "err", err)
		if r.s.recordFailed(ctx, t, err) {
			r.failed.Add(1)
		}
	default:
		r.refreshed.Add(1)
		log.Info("models: refreshed", "rows", t.Rows, "train_ms", t.TrainMS, "took", time.Since(start).Round(time.Millisecond))
	}
}

// read measures and reads a policy's input in one snapshot, as the role
// and search_path of the train that set the policy. grew is false for an
// on_change policy whose input did not grow; rel is then nil.
func (r *refresher) read(ctx context.Context, conn *pgx.Conn, p *catalog.Refresh, mem *membudget.Reservation) (rel *catalog.Relation, grew bool, err error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// DateStyle ISO: dates and timestamps are read as the planner asks
	// sessions to send them.
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true), set_config('role', $2, true), set_config('datestyle', 'ISO', true)",
		p.SearchPath, p.Role); err != nil {
		return nil, false, err
	}
	db := pgxDB{conn.PgConn()}
	if p.OnChange() || p.Learns() {
		mark, err := catalog.CheckMark(ctx, db, p)
		if err != nil {
			return nil, false, err
		}
		if !catalog.Grew(p.Mark, mark) {
			return nil, false, nil
		}
	}
	sql, params := p.Source, []string(nil)
	if p.Learns() {
		sql, _ = p.NewRows()
		params = []string{p.Mark}
	}
	rel, err = catalog.ReadRelation(ctx, meteredDB{DB: db, mem: mem}, sql, r.cfg.MaxInputRows, r.cfg.MaxInputBytes, params...)
	if err != nil {
		return nil, false, err
	}
	return rel, true, tx.Commit(ctx)
}

// store saves a refreshed version in a transaction of its own.
func (r *refresher) store(ctx context.Context, conn *pgx.Conn, t *catalog.Trained) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := r.s.Save(ctx, pgxDB{tx.Conn().PgConn()}, t)
		return err
	})
}

// meteredDB charges the rows a query returns to a memory reservation as
// they come, counted as the planner counts a call's input, so a refresh
// over a huge input fails early instead of growing the process.
type meteredDB struct {
	catalog.DB
	mem *membudget.Reservation
}

func (d meteredDB) Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	if d.mem == nil {
		return d.DB.Query(ctx, sql, paramOIDs, params, formats, cols, row)
	}
	var pending int64
	err := d.DB.Query(ctx, sql, paramOIDs, params, formats, cols, func(vals [][]byte) error {
		for _, v := range vals {
			pending += membudget.InputFactor * (int64(len(v)) + 9)
		}
		if pending >= membudget.Chunk {
			n := pending
			pending = 0
			if err := d.mem.Grow(ctx, n); err != nil {
				return fmt.Errorf("the memory budget (--memory-limit) is spent: %w", err)
			}
		}
		return row(vals)
	})
	if err == nil {
		err = d.mem.Grow(ctx, pending)
	}
	return err
}

// relationBytes is a relation's size as the memory budget counts it.
func relationBytes(rel *catalog.Relation) int64 {
	n := int64(0)
	if rel != nil {
		for _, c := range rel.Columns {
			n += int64(c.Size())
		}
	}
	return n
}

// pgxDB is a catalog.DB over a pgx connection: text-format results, as
// the session's connection gives them to calls.
type pgxDB struct{ conn *pgconn.PgConn }

func (d pgxDB) Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	rr := d.conn.ExecParams(ctx, sql, params, paramOIDs, formats, nil)
	if fds := rr.FieldDescriptions(); cols != nil && fds != nil {
		in := make([]catalog.InputColumn, len(fds))
		for i, f := range fds {
			in[i] = catalog.InputColumn{Name: f.Name, Type: f.DataTypeOID}
		}
		if err := cols(in); err != nil {
			rr.Close()
			return err
		}
	}
	for rr.NextRow() {
		if err := row(rr.Values()); err != nil {
			rr.Close()
			return err
		}
	}
	_, err := rr.Close()
	return err
}

// refreshMode is r's mode as stored.
func refreshMode(r *catalog.Refresh) string {
	if r.Learns() {
		return catalog.RefreshLearn
	}
	return catalog.RefreshTrain
}
