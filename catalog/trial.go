package catalog

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// An online trial (promote => 'if_better_online') serves a new recommend
// version, the challenger, to a share of the users while the deployed
// version, the champion, serves the rest. Each user's side is fixed by a
// hash of the user's key, so a user sees one version throughout. Once the
// trial has run for its window, the refresh worker scores the decisions
// both versions served during it against the events that followed
// (flywheel.outcomes' hit rate), and deploys the challenger only if its
// hit rate is higher; otherwise the champion stays and the challenger is
// kept as a version.

// Trial is a running online trial, attached to the champion's Model.
type Trial struct {
	Challenger *Model
	Traffic    float64 // the share of users the challenger serves, in (0, 1)
}

// TrialPlan is what train stores to start a trial (Trained.Trial).
type TrialPlan struct {
	Traffic float64
	Events  string // the events relation's SQL, run again when the trial is judged
	Within  string // the outcome window, PostgreSQL interval text
}

const defaultTraffic = 0.1

// inTrial reports whether the user with key serves from the challenger:
// FNV-1a of the key, whose high bits short keys such as "17" hardly
// reach, mixed by SplitMix64's finaliser so that every bit counts.
func inTrial(key string, traffic float64) bool {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x) < traffic*math.MaxUint64
}

// trainTrial reads train's traffic, events and within arguments into the
// plan of an online trial (nil when promote is not 'if_better_online').
func trainTrial(ctx context.Context, call *Call, kind, promote string) (*TrialPlan, error) {
	const fn = "train"
	if promote != "if_better_online" {
		for _, a := range []string{"traffic", "events"} {
			if call.Values[a] != nil {
				return nil, &ArgError{Func: fn, Arg: a, Msg: "applies only with promote => 'if_better_online'"}
			}
		}
		return nil, nil
	}
	if kind != "recommend" {
		return nil, &Error{Code: "0A000", Message: fmt.Sprintf("train: promote => 'if_better_online' needs a recommend model, not %s", kind),
			Hint: "An online trial compares the decisions recommend(..., log => true) served; use promote => 'if_better' with a holdout for other kinds."}
	}
	plan := &TrialPlan{Traffic: defaultTraffic}
	if call.Values["traffic"] != nil {
		t, err := call.Float("traffic")
		if err != nil {
			return nil, err
		}
		if !(t > 0 && t <= 0.5) {
			return nil, &ArgError{Func: fn, Arg: "traffic", Msg: fmt.Sprintf("must be a share of users above 0 and at most 0.5, got %g", t)}
		}
		plan.Traffic = t
	}
	ev, err := call.Relation("events")
	if err != nil || ev == nil {
		return nil, &ArgError{Func: fn, Arg: "events", Msg: "is required with promote => 'if_better_online': pass events => (SELECT user, item, event_time FROM ...), what users did after the decisions"}
	}
	if err := eventsShape(fn, ev); err != nil {
		return nil, err
	}
	if call.Unrepeatable["events"] != "" || call.Sources["events"] == "" {
		return nil, &Error{Code: "0A000", Message: "train: an online trial needs an events relation without parameters or model calls",
			Hint: "The trial runs the events' SQL again when it is judged: write parameter values into the query, or read a table or view."}
	}
	plan.Events = call.Sources["events"]
	if plan.Within, err = call.String("within"); err != nil {
		return nil, err
	}
	if _, err := outcomeWindow(ctx, call, fn, plan.Within); err != nil {
		return nil, err
	}
	return plan, nil
}

// eventsShape checks an events relation: (user, item, event_time).
func eventsShape(fn string, ev *Relation) error {
	if len(ev.Columns) != 3 || !isTimeType(ev.Columns[2].Type) {
		return &TypeError{Func: fn, Column: "events", Msg: "want 3 columns (user, item, event_time) with event_time a date or timestamp"}
	}
	return nil
}

// outcomeWindow reads an interval's length in seconds. It asks the model
// store, outside the session's transaction: a bad interval must fail the
// call, not abort the session's transaction.
func outcomeWindow(ctx context.Context, call *Call, fn, within string) (float64, error) {
	rs, ok := call.Store.(RefreshStore)
	if !ok {
		return 0, &Error{Code: "0A000", Message: fn + ": this Flywheel's model store cannot read intervals"}
	}
	d, err := rs.RefreshInterval(ctx, within)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &Error{Code: "22007", Message: fmt.Sprintf("%s: within => %q is not an interval: %v", fn, within, err),
			Hint: "Give an interval such as '7 days' or '2 hours'."}
	}
	window := d.Seconds()
	if window <= 0 || window > 10*366*86400 {
		return 0, &ArgError{Func: fn, Arg: "within", Msg: fmt.Sprintf("must be a positive interval of at most 10 years, got %q", within)}
	}
	return window, nil
}

// Outcome is one version's score over a trial.
type Outcome struct {
	Decisions, Hits int
	HitRate         float64 // NaN without decisions
}

// JudgeTrial scores the decisions name's champion and challenger served
// since started against events, within window seconds after each, and
// says whether the challenger wins: a higher hit rate over at least one
// decision.
func JudgeTrial(ctx context.Context, db DB, name string, champion, challenger int, events *Relation, window time.Duration, started time.Time) (promote bool, champ, chall Outcome, err error) {
	if err := eventsShape("outcomes", events); err != nil {
		return false, champ, chall, err
	}
	tallies, err := scoreDecisions(ctx, db, name, events, window.Seconds(), float64(started.UnixMicro())/1e6)
	if err != nil {
		return false, champ, chall, err
	}
	get := func(v int) Outcome {
		o := Outcome{HitRate: math.NaN()}
		if t := tallies[v]; t != nil {
			o.Decisions, o.Hits = t.decisions, t.hits
			if t.decisions > 0 {
				o.HitRate = float64(t.hits) / float64(t.decisions)
			}
		}
		return o
	}
	champ, chall = get(champion), get(challenger)
	promote = chall.Decisions > 0 && (champ.Decisions == 0 || chall.HitRate > champ.HitRate)
	return promote, champ, chall, nil
}
