package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5"
)

// Online trials (catalog/trial.go) live in flywheel.model_trial, one row
// per model: the plan train gave (traffic, events, window, as the role
// and search_path of that train) and the current or last trial. A new
// version under promote => 'if_better_online' with a deployed version to
// compete with starts a trial, replacing a running one's challenger. The
// refresh lease holder judges trials whose window has passed: it reads
// the events again and deploys the challenger only if it won.

// trialPlan stores a train's trial plan, or for a refresh (which has
// none of its own) checks that the model has one. It reports whether
// the new version starts a trial.
func (s *Store) trialPlan(ctx context.Context, db catalog.DB, t *catalog.Trained, deployed int) (bool, error) {
	if t.Promote != "if_better_online" {
		return false, nil
	}
	if p := t.Trial; p != nil {
		if _, err := run(ctx, db, `INSERT INTO flywheel.model_trial (model, traffic, events_sql, within, search_path, role)
VALUES ($1, $2, $3, $4::text::interval, current_setting('search_path'), current_user)
ON CONFLICT (model) DO UPDATE SET traffic = EXCLUDED.traffic, events_sql = EXCLUDED.events_sql, within = EXCLUDED.within,
	search_path = EXCLUDED.search_path, role = EXCLUDED.role`,
			text(t.Name), text(strconv.FormatFloat(p.Traffic, 'g', -1, 64)), text(p.Events), text(p.Within)); err != nil {
			return false, err
		}
	} else if rows, err := run(ctx, db, "SELECT 1 FROM flywheel.model_trial WHERE model = $1", text(t.Name)); err != nil {
		return false, err
	} else if len(rows) == 0 {
		return false, &catalog.Error{Code: "55000", Message: fmt.Sprintf("model %q has no online trial plan", t.Name),
			Hint: "Train it with promote => 'if_better_online' and events => (...) once; refreshes then follow that plan."}
	}
	if deployed == 0 {
		return false, nil
	}
	// The challenger shares the champion's calls, so its result columns
	// must be the champion's.
	rows, err := run(ctx, db, "SELECT inputs FROM flywheel.model_version WHERE model = $1 AND version = $2", text(t.Name), text(strconv.Itoa(deployed)))
	if err != nil {
		return false, err
	}
	var champ []catalog.InputColumn
	if len(rows) == 1 {
		if err := json.Unmarshal([]byte(rows[0].str(0)), &champ); err != nil {
			return false, fmt.Errorf("models: version %d's inputs: %w", deployed, err)
		}
	}
	if len(champ) != len(t.Inputs) || len(champ) < 2 || champ[1].Type != t.Inputs[1].Type {
		return false, &catalog.Error{Code: "0A000", Message: fmt.Sprintf("train: the new version of %q cannot share calls with deployed version %d: its item column's type differs", t.Name, deployed),
			Hint: "Deploy it directly (promote => 'always'), or train it on items of the deployed version's type."}
	}
	return true, nil
}

// startTrial makes version the challenger of deployed from now on.
func (s *Store) startTrial(ctx context.Context, db catalog.DB, name string, deployed, version int) error {
	_, err := run(ctx, db, `UPDATE flywheel.model_trial SET champion = $2, challenger = $3, started_at = now(), decided_at = NULL,
	result = NULL, champion_decisions = NULL, champion_hit_rate = NULL, challenger_decisions = NULL, challenger_hit_rate = NULL
WHERE model = $1`, text(name), text(strconv.Itoa(deployed)), text(strconv.Itoa(version)))
	return err
}

// dueTrial is a running trial whose window has passed.
type dueTrial struct {
	model                string
	champion, challenger int
	events, path, role   string
	window               time.Duration
	started              time.Time
	startedText          string
}

// judgeTrials judges the trials whose window has passed, one at a time.
func (r *refresher) judgeTrials(ctx context.Context) error {
	rows, err := r.s.pool.Query(ctx, `SELECT model, champion, challenger, events_sql, search_path, role,
	extract(epoch FROM within)::float8, started_at, started_at::text
FROM flywheel.model_trial WHERE challenger IS NOT NULL AND decided_at IS NULL AND started_at + within <= now()
ORDER BY model LIMIT 20`)
	if err != nil {
		return err
	}
	var due []dueTrial
	for rows.Next() {
		var d dueTrial
		var secs float64
		if err := rows.Scan(&d.model, &d.champion, &d.challenger, &d.events, &d.path, &d.role, &secs, &d.started, &d.startedText); err != nil {
			rows.Close()
			return err
		}
		d.window = time.Duration(secs * float64(time.Second))
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range due {
		if err := r.judge(ctx, d); err != nil && ctx.Err() == nil && !errors.Is(err, errStale) {
			r.s.log.Warn("models: judging an online trial", "model", d.model, "err", err)
			r.recordTrialError(ctx, d, err)
		}
	}
	return nil
}

// judge scores one trial and stores its result, deploying the challenger
// if it won; a trial that changed meanwhile is left alone (errStale).
func (r *refresher) judge(ctx context.Context, d dueTrial) error {
	conn, err := r.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var promote bool
	var champ, chall catalog.Outcome
	err = pgx.BeginTxFunc(ctx, conn.Conn(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true), set_config('role', $2, true), set_config('datestyle', 'ISO', true)",
			d.path, d.role); err != nil {
			return err
		}
		db := pgxDB{tx.Conn().PgConn()}
		ev, err := catalog.ReadRelation(ctx, db, d.events, r.cfg.MaxInputRows, r.cfg.MaxInputBytes)
		if err != nil {
			return fmt.Errorf("reading the events: %w", err)
		}
		promote, champ, chall, err = catalog.JudgeTrial(ctx, db, d.model, d.champion, d.challenger, ev, d.window, d.started)
		return err
	})
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		db := pgxDB{tx.Conn().PgConn()}
		if _, deployed, ok, err := lockModel(ctx, db, d.model); err != nil {
			return err
		} else if !ok || deployed != d.champion {
			return errStale
		}
		rows, err := run(ctx, db, `SELECT 1 FROM flywheel.model_trial
WHERE model = $1 AND challenger = $2 AND started_at = $3::text::timestamptz AND decided_at IS NULL`,
			text(d.model), text(strconv.Itoa(d.challenger)), text(d.startedText))
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return errStale
		}
		result := fmt.Sprintf("kept: version %d's hit rate %s is not above version %d's %s", d.challenger, rate(chall), d.champion, rate(champ))
		if promote {
			if err := r.s.setDeployed(ctx, db, d.model, d.challenger); err != nil {
				return err
			}
			result = fmt.Sprintf("promoted: version %d's hit rate %s beat version %d's %s", d.challenger, rate(chall), d.champion, rate(champ))
		}
		if _, err := run(ctx, db, `UPDATE flywheel.model_trial SET decided_at = now(), result = $2,
	champion_decisions = $3, champion_hit_rate = $4, challenger_decisions = $5, challenger_hit_rate = $6 WHERE model = $1`,
			text(d.model), text(result), text(strconv.Itoa(champ.Decisions)), floatParam(champ.HitRate),
			text(strconv.Itoa(chall.Decisions)), floatParam(chall.HitRate)); err != nil {
			return err
		}
		r.s.log.Info("models: online trial decided", "model", d.model, "result", result)
		return r.s.notify(ctx, db, d.model)
	})
}

// recordTrialError ends a trial that cannot be judged (its events query
// fails), keeping the champion, so that it does not fail again each tick.
func (r *refresher) recordTrialError(ctx context.Context, d dueTrial, cause error) {
	if _, err := r.s.pool.Exec(ctx, `UPDATE flywheel.model_trial SET decided_at = now(), result = $3
WHERE model = $1 AND challenger = $2 AND decided_at IS NULL`, d.model, d.challenger, "failed: "+cause.Error()); err != nil && ctx.Err() == nil {
		r.s.log.Warn("models: recording an online trial's failure", "model", d.model, "err", err)
	}
}

func rate(o catalog.Outcome) string {
	if math.IsNaN(o.HitRate) {
		return "(no decisions)"
	}
	return fmt.Sprintf("%.4f over %d decisions", o.HitRate, o.Decisions)
}

func floatParam(v float64) param {
	if math.IsNaN(v) {
		return param{null: true}
	}
	return text(strconv.FormatFloat(v, 'g', -1, 64))
}
