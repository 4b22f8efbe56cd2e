package models

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5"
)

// The lifecycle statements run on the session's connection (catalog.DB),
// one round trip each: training is slow, these are not.

// row is one result row in text form; a nil entry is NULL.
type row []*string

func (r row) str(i int) string {
	if r[i] == nil {
		return ""
	}
	return *r[i]
}

func (r row) int(i int) int {
	n, _ := strconv.Atoi(r.str(i))
	return n
}

// param is a statement parameter: text, or NULL when null is set.
type param struct {
	text   string
	null   bool
	binary []byte // a bytea sent as is, in binary format
}

func text(s string) param { return param{text: s} }

func jsonParam(v any) param {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("{}")
	}
	return param{text: string(b)}
}

// run executes sql on db and returns its rows.
func run(ctx context.Context, db catalog.DB, sql string, ps ...param) ([]row, error) {
	values := make([][]byte, len(ps))
	formats := make([]int16, len(ps))
	oids := make([]uint32, len(ps))
	for i, p := range ps {
		switch {
		case p.null:
		case p.binary != nil:
			values[i], formats[i], oids[i] = p.binary, 1, 17 // bytea
		default:
			values[i] = []byte(p.text)
		}
	}
	var out []row
	err := db.Query(ctx, sql, oids, values, formats, nil, func(vals [][]byte) error {
		r := make(row, len(vals))
		for i, v := range vals {
			if v != nil {
				s := string(v)
				r[i] = &s
			}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// lockModel takes the model's row lock for the rest of the transaction,
// so that changes to one model from several sessions (or Flywheels) take
// turns, and returns its kind and deployed version; ok is false when the
// model does not exist.
func lockModel(ctx context.Context, db catalog.DB, name string) (kind string, deployed int, ok bool, err error) {
	rows, err := run(ctx, db, "SELECT kind, coalesce(deployed_version, 0) FROM flywheel.model WHERE name = $1 FOR UPDATE", text(name))
	if err != nil || len(rows) == 0 {
		return "", 0, false, err
	}
	return rows[0].str(0), rows[0].int(1), true, nil
}

// notify announces a change to name, to every Flywheel when the
// transaction commits and to this one's cache at once.
func (s *Store) notify(ctx context.Context, db catalog.DB, name string) error {
	s.cache.changing(name)
	_, err := run(ctx, db, "SELECT pg_notify($1, $2)", text(Channel), text(name))
	return err
}

// Save stores a new version, numbered after the model's last, and deploys
// it as t.Promote says.
func (s *Store) Save(ctx context.Context, db catalog.DB, t *catalog.Trained) (*catalog.Saved, error) {
	// The upsert takes the row lock: a concurrent train of the same name
	// waits here, then numbers its version after this one.
	rows, err := run(ctx, db, `INSERT INTO flywheel.model AS m (name, kind) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET kind = m.kind RETURNING kind, coalesce(deployed_version, 0)`, text(t.Name), text(t.Kind))
	if err != nil {
		return nil, err
	}
	if kind := rows[0].str(0); kind != t.Kind {
		return nil, &catalog.Error{Code: "42809", Message: fmt.Sprintf("model %q is a %s model; it cannot take a %s version", t.Name, kind, t.Kind),
			Hint: "Train it under another name, or drop it first with flywheel.drop_model."}
	}
	deployed := rows[0].int(1)
	if err := s.claimRefresh(ctx, db, t); err != nil {
		return nil, err
	}
	deploy, err := s.promote(ctx, db, t, deployed)
	if err != nil {
		return nil, err
	}
	trial, err := s.trialPlan(ctx, db, t, deployed)
	if err != nil {
		return nil, err
	}
	metrics := map[string]any{}
	for k, v := range t.Metrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			metrics[k] = v
		}
	}
	due, by := s.refreshParams(t)
	rows, err = run(ctx, db, `INSERT INTO flywheel.model_version
	(model, version, status, rows, metrics, primary_metric, options, inputs, source_sql, train_ms, state, refresh_due, refreshed_by, base_version)
SELECT $1, coalesce(max(version), 0) + 1, 'ready', $2, $3, $4, $5, $6, $7, $8, $9, $10::text::timestamptz, $11, $12::text::int
FROM flywheel.model_version WHERE model = $1
RETURNING version, metrics, xmin::text`,
		text(t.Name), text(strconv.FormatInt(t.Rows, 10)), jsonParam(metrics), param{text: t.Primary, null: t.Primary == ""}, jsonParam(t.Options),
		jsonParam(t.Inputs), text(t.Source), text(strconv.FormatFloat(t.TrainMS, 'f', 3, 64)), param{binary: t.State}, due, by,
		param{text: strconv.Itoa(t.Base), null: t.Base == 0})
	if err != nil {
		return nil, err
	}
	version := rows[0].int(0)
	if d := t.Decoded; d != nil {
		// The function built the version's model already (learn): held
		// for the next learn or load of this version, it is not decoded
		// again (and a delta version is not rebuilt from its chain).
		m := *d
		m.Name, m.Kind, m.Version, m.Trial = t.Name, t.Kind, version, nil
		s.cache.keep(t.Name, &m, rows[0].str(2))
	}
	if s.observer != nil {
		s.observer.ObserveTrain(t.Kind, t.Refresh != nil, time.Duration(t.TrainMS*float64(time.Millisecond)))
	}
	out := &catalog.Saved{Name: t.Name, Kind: t.Kind, Version: version, Deployed: deployed,
		Metrics: []byte(rows[0].str(1)), Rows: t.Rows, TrainMS: t.TrainMS}
	if deploy {
		if err := s.setDeployed(ctx, db, t.Name, version); err != nil {
			return nil, err
		}
		out.Deployed = version
	} else if trial {
		if err := s.startTrial(ctx, db, t.Name, deployed, version); err != nil {
			return nil, err
		}
	}
	if err := s.refreshed(ctx, db, t); err != nil {
		return nil, err
	}
	return out, s.notify(ctx, db, t.Name)
}

// promote decides whether a new version is deployed: always, never, or
// if_better — when there is no deployed version yet, or when its primary
// metric beats the deployed version's (a version without the metric, for
// want of a holdout, never wins over one that has it).
func (s *Store) promote(ctx context.Context, db catalog.DB, t *catalog.Trained, deployed int) (bool, error) {
	switch t.Promote {
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	if deployed == 0 {
		return true, nil
	}
	if t.Promote == "if_better_online" {
		return false, nil // the trial decides (trial.go)
	}
	v, ok := t.Metrics[t.Primary]
	if !ok || t.Primary == "" {
		return false, nil
	}
	rows, err := run(ctx, db, "SELECT (metrics ->> $3)::float8 FROM flywheel.model_version WHERE model = $1 AND version = $2",
		text(t.Name), text(strconv.Itoa(deployed)), text(t.Primary))
	if err != nil {
		return false, err
	}
	if len(rows) == 0 || rows[0][0] == nil {
		return true, nil
	}
	old, _ := strconv.ParseFloat(rows[0].str(0), 64)
	if t.Higher {
		return v > old, nil
	}
	return v < old, nil
}

// setDeployed makes version the deployed one and records it in the
// history that rollback walks back.
// A running online trial ends: its champion is no longer the deployed
// version.
func (s *Store) setDeployed(ctx context.Context, db catalog.DB, name string, version int) error {
	_, err := run(ctx, db, `WITH u AS (UPDATE flywheel.model SET deployed_version = $2 WHERE name = $1 RETURNING name),
t AS (UPDATE flywheel.model_trial SET decided_at = now(), result = 'ended: version ' || $2 || ' deployed'
	WHERE model = $1 AND challenger IS NOT NULL AND decided_at IS NULL)
INSERT INTO flywheel.model_deployment (model, version) SELECT name, $2 FROM u`, text(name), text(strconv.Itoa(version)))
	return err
}

// Failed records a failed training on the store's own connection: the
// session's transaction is about to fail with the error, which would take
// the record with it. It waits at most a second for the model's lock (the
// session itself may hold it, from an earlier train in its transaction)
// and otherwise only logs.
func (s *Store) Failed(ctx context.Context, t *catalog.Trained, cause error) {
	s.recordFailed(ctx, t, cause)
}

// recordFailed is Failed, reporting whether it recorded the failure; a
// refresh's failure goes on its policy as well (failedRefresh).
func (s *Store) recordFailed(ctx context.Context, t *catalog.Trained, cause error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
			return err
		}
		var kind string
		if err := tx.QueryRow(ctx, `INSERT INTO flywheel.model AS m (name, kind) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET kind = m.kind RETURNING kind`, t.Name, t.Kind).Scan(&kind); err != nil {
			return err
		}
		if kind != t.Kind {
			return nil // the error says so already; the version belongs to no model of this kind
		}
		if t.Refresh != nil && t.Refresh.Generation != 0 {
			return s.failedRefresh(ctx, tx, t, cause)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO flywheel.model_version (model, version, status, rows, options, inputs, source_sql, train_ms, error)
SELECT $1, coalesce(max(version), 0) + 1, 'failed', $2, $3, $4, $5, $6, $7 FROM flywheel.model_version WHERE model = $1`,
			t.Name, t.Rows, t.Options, t.Inputs, t.Source, t.TrainMS, cause.Error()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, t.Name)
		return err
	})
	if errors.Is(err, errStale) {
		return false
	}
	if err != nil {
		s.log.Warn("models: could not record a failed training", "model", t.Name, "cause", cause, "err", err)
		return false
	}
	return true
}

// Deploy makes version the deployed one.
func (s *Store) Deploy(ctx context.Context, db catalog.DB, name string, version int) (*catalog.Saved, error) {
	kind, _, ok, err := lockModel(ctx, db, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.unknown(ctx, name)
	}
	rows, err := run(ctx, db, "SELECT status, error FROM flywheel.model_version WHERE model = $1 AND version = $2", text(name), text(strconv.Itoa(version)))
	if err != nil {
		return nil, err
	}
	switch {
	case len(rows) == 0:
		return nil, &catalog.Error{Code: "22023", Message: fmt.Sprintf("model %q has no version %d", name, version),
			Hint: "flywheel.model_versions lists the versions."}
	case rows[0].str(0) == "failed":
		return nil, &catalog.Error{Code: "22023", Message: fmt.Sprintf("version %d of model %q failed to train and cannot be deployed: %s", version, name, rows[0].str(1)),
			Hint: "Deploy a version whose status is not failed (flywheel.model_versions)."}
	}
	if err := s.setDeployed(ctx, db, name, version); err != nil {
		return nil, err
	}
	return s.saved(ctx, db, name, kind, version, version)
}

// Rollback returns to the version deployed before the current one: the
// latest deployment is taken off the history, so calling it again goes
// one further back.
func (s *Store) Rollback(ctx context.Context, db catalog.DB, name string) (*catalog.Saved, error) {
	kind, _, ok, err := lockModel(ctx, db, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.unknown(ctx, name)
	}
	// In an online trial, rolling back ends the trial: the challenger
	// stops serving, and the deployed version serves everyone again.
	rows, err := run(ctx, db, `UPDATE flywheel.model_trial t SET decided_at = now(), result = 'ended: rolled back'
FROM flywheel.model m WHERE t.model = $1 AND m.name = t.model AND t.champion = m.deployed_version
	AND t.challenger IS NOT NULL AND t.decided_at IS NULL RETURNING t.champion`, text(name))
	if err != nil {
		return nil, err
	}
	if len(rows) == 1 {
		v := rows[0].int(0)
		return s.saved(ctx, db, name, kind, v, v)
	}
	rows, err = run(ctx, db, "SELECT id, version FROM flywheel.model_deployment WHERE model = $1 ORDER BY id DESC LIMIT 2", text(name))
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, &catalog.Error{Code: "22023", Message: fmt.Sprintf("model %q has no earlier deployment to roll back to", name),
			Hint: "flywheel.deploy(name, version) deploys any version."}
	}
	prev := rows[1].int(1)
	if _, err := run(ctx, db, `WITH d AS (DELETE FROM flywheel.model_deployment WHERE id = $2)
UPDATE flywheel.model SET deployed_version = $3 WHERE name = $1`, text(name), text(rows[0].str(0)), text(strconv.Itoa(prev))); err != nil {
		return nil, err
	}
	return s.saved(ctx, db, name, kind, prev, prev)
}

// Drop removes a model and all its versions.
func (s *Store) Drop(ctx context.Context, db catalog.DB, name string) (*catalog.Saved, error) {
	rows, err := run(ctx, db, "DELETE FROM flywheel.model WHERE name = $1 RETURNING kind, coalesce(deployed_version, 0)", text(name))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, s.unknown(ctx, name)
	}
	if err := s.notify(ctx, db, name); err != nil {
		return nil, err
	}
	// No version of it is wanted again, not even as a delta's base.
	s.cache.forget(name)
	return &catalog.Saved{Name: name, Kind: rows[0].str(0), Version: rows[0].int(1)}, nil
}

// saved reports version after a change to the deployment, and announces
// the change.
func (s *Store) saved(ctx context.Context, db catalog.DB, name, kind string, version, deployed int) (*catalog.Saved, error) {
	rows, err := run(ctx, db, "SELECT metrics, coalesce(rows, 0), coalesce(train_ms, 0) FROM flywheel.model_version WHERE model = $1 AND version = $2",
		text(name), text(strconv.Itoa(version)))
	if err != nil {
		return nil, err
	}
	out := &catalog.Saved{Name: name, Kind: kind, Version: version, Deployed: deployed}
	if len(rows) > 0 {
		out.Metrics = []byte(rows[0].str(0))
		out.Rows, _ = strconv.ParseInt(rows[0].str(1), 10, 64)
		out.TrainMS, _ = strconv.ParseFloat(rows[0].str(2), 64)
	}
	return out, s.notify(ctx, db, name)
}

// Version reads one version (0: the deployed one) as the session sees it,
// its own uncommitted changes included.
func (s *Store) Version(ctx context.Context, db catalog.DB, name string, version int) (*catalog.Model, error) {
	rows, err := run(ctx, db, `SELECT m.kind, v.version, v.status, v.inputs, v.options, v.base_version, v.xmin::text
FROM flywheel.model m LEFT JOIN flywheel.model_version v
	ON v.model = m.name AND v.version = coalesce(nullif($2, 0), m.deployed_version)
WHERE m.name = $1`, text(name), text(strconv.Itoa(version)))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, s.unknown(ctx, name)
	}
	r := rows[0]
	switch {
	case r[1] == nil && version == 0:
		return nil, &catalog.Error{Code: "42704", Message: fmt.Sprintf("model %q has no deployed version", name),
			Hint: "Pass the version to use, or deploy one with flywheel.deploy."}
	case r[1] == nil:
		return nil, &catalog.Error{Code: "22023", Message: fmt.Sprintf("model %q has no version %d", name, version),
			Hint: "flywheel.model_versions lists the versions."}
	case r.str(2) == "failed":
		return nil, &catalog.Error{Code: "22023", Message: fmt.Sprintf("version %d of model %q failed to train; it has no state", r.int(1), name)}
	}
	sv := &storedVersion{version: r.int(1), inputs: []byte(r.str(3)), options: []byte(r.str(4)), base: r.int(5), tag: r.str(6)}
	return s.build(ctx, name, r.str(0), sv, sessionReader(db, name))
}

// sessionReader reads name's versions on the session's connection.
func sessionReader(db catalog.DB, name string) versionReader {
	return func(ctx context.Context, version int, withState bool) (*storedVersion, error) {
		rows, err := run(ctx, db, `SELECT inputs, options, CASE WHEN $3::text::bool THEN state END, base_version, xmin::text
FROM flywheel.model_version WHERE model = $1 AND version = $2::text::int`, text(name), text(strconv.Itoa(version)), text(strconv.FormatBool(withState)))
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("models: %q version %d is not stored", name, version)
		}
		r := rows[0]
		sv := &storedVersion{version: version, inputs: []byte(r.str(0)), options: []byte(r.str(1)), base: r.int(3), tag: r.str(4)}
		if withState {
			if sv.state, err = hex.DecodeString(strings.TrimPrefix(r.str(2), `\x`)); err != nil {
				return nil, fmt.Errorf("models: %q version %d: bytea: %w", name, version, err)
			}
		}
		return sv, nil
	}
}

var _ catalog.ModelStore = (*Store)(nil)
