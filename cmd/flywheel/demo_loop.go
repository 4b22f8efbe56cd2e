package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/internal/demo"
	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

// loopApp is the application_name the loop's sessions carry, so its
// decisions are told apart in flywheel.decisions.
const loopApp = "flywheel-demo-loop"

// loopStart is the first simulated week: the Monday after the demo's sales
// history ends (2024-12-31). Everything the loop adds is dated from here,
// which is also how a rerun finds and removes it.
func loopStart() time.Time { return time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) }

// loopWeek is a round's length and outcomes' window: a round's events all
// fall within the week after its decisions and before the next round's, so
// every hit is counted for the version that caused it.
const (
	loopWeek   = 7 * 24 * time.Hour
	loopWithin = "7 days"
)

type loopConfig struct {
	rounds    int
	customers int
	n         int // recommendations per customer and round
	scale     int
	seed      int64
	model     string
	method    string
	plot      string
	since     time.Time // the first version trains on the ratings from here
}

// loopRound is one row of the printed table: a round, the version that
// served it, and flywheel.outcomes' numbers for that version.
type loopRound struct {
	Round, Version            int
	TrainRows                 int64 // ratings the version was trained on
	Events, Ratings           int   // rows the round's customers added
	Decisions, Hits, BaseHits int64
	HitRate, BaseHitRate      float64
}

// demoLoop is `flywheel demo loop`.
func demoLoop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flywheel demo loop", flag.ContinueOnError)
	var cfg loopConfig
	fs.IntVar(&cfg.rounds, "rounds", 6, "weeks to simulate: each serves recommendations from the newest version, then trains the next")
	fs.IntVar(&cfg.customers, "customers", 300, "customers who visit every week (a sample drawn by --seed)")
	fs.IntVar(&cfg.n, "n", 5, "recommendations per customer and week")
	fs.IntVar(&cfg.scale, "scale", 1, "demo warehouse size, when the loop loads it (1 = 1,000 customers, 200 products)")
	fs.Int64Var(&cfg.seed, "seed", 1, "the simulation's seed: who visits and what they click and buy")
	fs.StringVar(&cfg.model, "model", "recs", "the model the loop trains and serves (dropped and retrained from scratch on every run)")
	fs.StringVar(&cfg.method, "method", "nmf", "recommend's method: nmf or user_cf")
	since := fs.String("since", "2024-10-01", "the model learns from the ratings from this date on (before 2025-01-06): the history's last quarter, so that the loop's feedback counts")
	fs.StringVar(&cfg.plot, "plot", "./flywheel-loop.svg", "SVG file for the plot of hit rate per version; empty for none")
	upstream := fs.String("upstream", "", "backing database as a postgres:// URL; empty uses the managed PostgreSQL in --data-dir")
	dataDir := fs.String("data-dir", "./flywheel-data", "managed PostgreSQL's data directory")
	flywheel := fs.String("flywheel", "", "a running Flywheel to go through, as a postgres:// URL; empty starts one in this process")
	logLevel := fs.String("log-level", "warn", "the in-process Flywheel's log level")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: flywheel demo loop [flags]

Runs the data flywheel on the demo warehouse through Flywheel: every simulated
week, customers with the generator's hidden tastes are served recommendations
(recommend(customer, n, model => 'recs', log => true)), click and buy as their
tastes say, their events and ratings land in events and fact_ratings, and the
model is retrained on fact_ratings. Then flywheel.outcomes scores every version
against the popularity baseline. Deterministic for a --seed.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	var err error
	if cfg.since, err = time.Parse(time.DateOnly, *since); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if err := cfg.check(); err != nil {
		return err
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return err
	}
	conn, done, err := loopConnect(ctx, *flywheel, *upstream, *dataDir, cfg.scale, log, stdout)
	if err != nil {
		return err
	}
	defer done()
	defer conn.Close(context.WithoutCancel(ctx))
	rounds, err := runLoop(ctx, conn, cfg, stdout)
	if err != nil {
		return err
	}
	printLoop(stdout, rounds)
	if cfg.plot != "" {
		if err := os.WriteFile(cfg.plot, loopSVG(rounds, cfg), 0o644); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		fmt.Fprintf(stdout, "plot written to %s\n", cfg.plot)
	}
	return nil
}

func (c *loopConfig) check() error {
	switch {
	case c.rounds < 1 || c.rounds > 100:
		return fmt.Errorf("--rounds must be 1..100, got %d", c.rounds)
	case c.customers < 1:
		return fmt.Errorf("--customers must be at least 1, got %d", c.customers)
	case c.n < 1 || c.n > 100:
		return fmt.Errorf("--n must be 1..100, got %d", c.n)
	case c.method != "nmf" && c.method != "user_cf":
		return fmt.Errorf("--method must be nmf or user_cf, got %q", c.method)
	case c.model == "":
		return errors.New("--model must not be empty")
	case !c.since.Before(loopStart()):
		return fmt.Errorf("--since must be before the loop's first week, %s", loopStart().Format(time.DateOnly))
	}
	return demo.CheckScale(c.scale)
}

// loopConnect returns a session through Flywheel on a database holding the
// demo warehouse (loaded at scale when missing): the Flywheel at
// flywheelURL, or one started in this process in front of upstream (or of
// the managed PostgreSQL in dataDir). done stops what was started.
func loopConnect(ctx context.Context, flywheelURL, upstream, dataDir string, scale int, log *slog.Logger, out io.Writer) (conn *pgx.Conn, done func(), err error) {
	var stops []func()
	done = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			done()
		}
	}()
	var cc *pgx.ConnConfig
	if flywheelURL != "" {
		if upstream != "" {
			return nil, nil, errors.New("--flywheel and --upstream: give one (a running Flywheel knows its upstream)")
		}
		// The demo's COPY and DDL pass through Flywheel untouched.
		if err := loadDemo(ctx, flywheelURL, scale, false, true, out); err != nil {
			return nil, nil, err
		}
		if cc, err = pgx.ParseConfig(flywheelURL); err != nil {
			return nil, nil, fmt.Errorf("--flywheel: %w", err)
		}
	} else {
		if upstream == "" {
			srv, err := pgserver.Start(ctx, pgserver.Config{DataDir: dataDir, Port: 5432, Logger: log})
			if err != nil {
				return nil, nil, fmt.Errorf("managed PostgreSQL in %s: %w (if flywheel serve is running on it, go through it: --flywheel postgres://postgres@127.0.0.1:6432/postgres)", dataDir, err)
			}
			stops = append(stops, func() { _ = srv.Stop() })
			upstream = srv.URL("postgres")
		}
		if err := loadDemo(ctx, upstream, scale, false, true, out); err != nil {
			return nil, nil, err
		}
		addr, stop, err := startLoopProxy(ctx, upstream, log)
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, stop)
		if cc, err = pgx.ParseConfig(upstream); err != nil {
			return nil, nil, fmt.Errorf("--upstream: %w", err)
		}
		// The upstream's user, password and database, through the proxy.
		host, port, _ := net.SplitHostPort(addr)
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, nil, fmt.Errorf("in-process Flywheel's address %s: %w", addr, err)
		}
		cc.Host, cc.Port, cc.Fallbacks, cc.TLSConfig = host, uint16(p), nil, nil
	}
	cc.RuntimeParams["application_name"] = loopApp
	if conn, err = pgx.ConnectConfig(ctx, cc); err != nil {
		return nil, nil, fmt.Errorf("connecting through Flywheel: %w", err)
	}
	return conn, done, nil
}

// startLoopProxy serves Flywheel with serve's defaults on a free local
// port, as `flywheel serve` would, until stop is called.
func startLoopProxy(ctx context.Context, upstream string, log *slog.Logger) (addr string, stop func(), err error) {
	var f serveFlags
	f.register(flag.NewFlagSet("defaults", flag.ContinueOnError))
	srv, closeStore, err := f.newProxy(ctx, upstream, nil, log, nil, nil)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeStore()
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("in-process Flywheel stopped", "err", err)
		}
		closeStore()
	}, nil
}

// quoteLiteral is a SQL string literal: model names are constants in the
// statement text (they decide a call's result columns).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// runLoop runs the rounds on conn (a session through Flywheel) and returns
// the table flywheel.outcomes gives for them.
func runLoop(ctx context.Context, conn *pgx.Conn, cfg loopConfig, out io.Writer) ([]loopRound, error) {
	meta, ok, err := demo.Status(ctx, conn)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("demo loop: no demo warehouse in this database (flywheel demo load)")
	}
	shop, err := demo.NewShop(meta.Scale, meta.Seed, cfg.seed)
	if err != nil {
		return nil, err
	}
	if err := resetLoop(ctx, conn, cfg.model, out); err != nil {
		return nil, err
	}
	cohort, known, err := loopCohort(ctx, conn, shop, cfg)
	if err != nil {
		return nil, err
	}
	model := quoteLiteral(cfg.model)
	train := func() (version int, rows int64, err error) {
		err = conn.QueryRow(ctx, `SELECT version, rows FROM flywheel.train(`+model+`, 'recommend',
	(SELECT customer_id, product_id, rating FROM fact_ratings WHERE rated_at >= `+quoteLiteral(cfg.since.Format(time.DateOnly))+`),
	method => `+quoteLiteral(cfg.method)+`, k => 5)`).Scan(&version, &rows)
		if err != nil {
			return 0, 0, fmt.Errorf("demo loop: training %s: %w", cfg.model, err)
		}
		return version, rows, nil
	}
	version, trainRows, err := train()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "demo warehouse scale %d; %d of the %d customers who rated since %s visit weekly from %s; %s version %d trained on their %d ratings\n",
		meta.Scale, len(cohort), known, cfg.since.Format(time.DateOnly), loopStart().Format(time.DateOnly), cfg.model, version, trainRows)
	var rounds []loopRound
	for r := 1; r <= cfg.rounds; r++ {
		week := loopStart().Add(time.Duration(r-1) * loopWeek)
		lr := loopRound{Round: r, Version: version, TrainRows: trainRows}
		served, err := loopRoundTx(ctx, conn, shop, cohort, cfg, r, week, &lr)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "week %d (%s): version %d served %d recommendations; customers added %d events and %d ratings",
			r, week.Format(time.DateOnly), version, served, lr.Events, lr.Ratings)
		if r < cfg.rounds {
			if version, trainRows, err = train(); err != nil {
				return nil, err
			}
			fmt.Fprintf(out, "; trained version %d on %d ratings", version, trainRows)
		}
		fmt.Fprintln(out)
		rounds = append(rounds, lr)
	}
	return rounds, loopOutcomes(ctx, conn, cfg.model, rounds)
}

// loopCohort draws the customers who visit every week: --customers of
// those with a rating since --since, so that every visitor is known to
// the first version (a customer without ratings gets no recommendations).
func loopCohort(ctx context.Context, conn *pgx.Conn, shop *demo.Shop, cfg loopConfig) (cohort []int32, known int, err error) {
	rows, _ := conn.Query(ctx, "SELECT DISTINCT customer_id FROM fact_ratings WHERE rated_at >= $1 AND rated_at < $2", cfg.since, loopStart())
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, 0, fmt.Errorf("demo loop: %w", err)
	}
	if len(ids) == 0 {
		return nil, 0, fmt.Errorf("demo loop: no customer rated anything from %s to %s: choose an earlier --since", cfg.since.Format(time.DateOnly), loopStart().Format(time.DateOnly))
	}
	rated := make(map[int32]bool, len(ids))
	for _, id := range ids {
		rated[id] = true
	}
	// Shuffle every customer by the seed, keep the first who rated: a
	// sample that does not depend on the query's row order.
	all, err := shop.Cohort(shop.Customers())
	if err != nil {
		return nil, 0, err
	}
	for _, id := range all {
		if rated[id] && len(cohort) < cfg.customers {
			cohort = append(cohort, id)
		}
	}
	return cohort, len(ids), nil
}

// resetLoop removes what an earlier loop left: the model, its decisions,
// and the events and ratings dated from loopStart (the generated history
// ends before it), so that a run's table depends only on its flags.
func resetLoop(ctx context.Context, conn *pgx.Conn, model string, out io.Writer) error {
	var versions int
	var decisions, events, ratings int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM flywheel.model_version WHERE model = $1", model).Scan(&versions); err != nil {
			return err
		}
		if versions > 0 {
			if _, err := tx.Exec(ctx, "SELECT * FROM flywheel.drop_model("+quoteLiteral(model)+")"); err != nil {
				return err
			}
		}
		// Each counts what it deleted: decisions are items of the lists.
		for _, q := range []struct {
			sql string
			arg any
			n   *int64
		}{
			{"WITH d AS (DELETE FROM flywheel.decision_lists WHERE model = $1 RETURNING items) SELECT coalesce(sum(cardinality(items)), 0) FROM d", model, &decisions},
			{"WITH d AS (DELETE FROM events WHERE event_time >= $1 RETURNING 1) SELECT count(*) FROM d", loopStart(), &events},
			{"WITH d AS (DELETE FROM fact_ratings WHERE rated_at >= $1 RETURNING 1) SELECT count(*) FROM d", loopStart(), &ratings},
		} {
			if err := tx.QueryRow(ctx, q.sql, q.arg).Scan(q.n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("demo loop: removing an earlier loop's rows: %w", err)
	}
	if versions+int(decisions+events+ratings) > 0 {
		fmt.Fprintf(out, "starting over: dropped %d versions of %s, %d decisions, and %d events and %d ratings of an earlier loop\n",
			versions, model, decisions, events, ratings)
	}
	return nil
}

// loopRoundTx is one simulated week in one transaction: every customer is
// served recommendations and shown the bestsellers, their week's events
// and ratings are written, and the decisions are dated to the week's start.
func loopRoundTx(ctx context.Context, conn *pgx.Conn, shop *demo.Shop, cohort []int32, cfg loopConfig, round int, week time.Time, lr *loopRound) (served int, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The bestseller shelf: the items the popularity baseline of
		// flywheel.outcomes would serve (most events, ties by id), shown
		// to every customer beside the recommendations, so that the
		// baseline's items are seen as often as the model's and the two
		// hit rates compare like with like.
		rows, _ := tx.Query(ctx, "SELECT product_id FROM events GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT $1", cfg.n)
		best, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("bestsellers: %w", err)
		}
		var nextID int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(event_id), 0) + 1 FROM events").Scan(&nextID); err != nil {
			return err
		}
		rec := "SELECT item FROM recommend($1::int, $2::int, model => " + quoteLiteral(cfg.model) + ", log => true) ORDER BY rank"
		var evRows [][]any
		type ratingRow struct {
			customer, product, rating int32
			at                        time.Time
		}
		var ratingRows []ratingRow
		for _, c := range cohort {
			rows, _ := tx.Query(ctx, rec, c, cfg.n)
			items, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				return fmt.Errorf("recommend(%d): %w", c, err)
			}
			served += len(items)
			evs, rts, err := shop.Week(round, c, append(items, best...), week)
			if err != nil {
				return err
			}
			for _, e := range evs {
				evRows = append(evRows, []any{nextID, c, e.Type, e.Product, e.At})
				nextID++
			}
			for _, r := range rts {
				ratingRows = append(ratingRows, ratingRow{c, r.Product, r.Rating, r.At})
			}
		}
		// served_at is the transaction's now(); the simulation's clock is
		// the week's start. Re-dating this transaction's decisions (and
		// only those: now() is fixed for the transaction) keeps each week's
		// events inside its own decisions' window and outside the others'.
		var logged int
		if err := tx.QueryRow(ctx, `WITH l AS (UPDATE flywheel.decision_lists SET served_at = $1
WHERE model = $2 AND served_at = now() AND application_name = $3 RETURNING items)
SELECT coalesce(sum(cardinality(items)), 0) FROM l`, week, cfg.model, loopApp).Scan(&logged); err != nil {
			return fmt.Errorf("dating the decisions: %w", err)
		}
		if logged != served {
			return fmt.Errorf("served %d recommendations but %d decisions were logged", served, logged)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"event_id", "customer_id", "event_type", "product_id", "event_time"},
			pgx.CopyFromRows(evRows)); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		// A product rated before (in the history or an earlier week)
		// keeps its first rating.
		cs, ps, vs, ats := make([]int32, len(ratingRows)), make([]int32, len(ratingRows)), make([]int32, len(ratingRows)), make([]time.Time, len(ratingRows))
		for i, r := range ratingRows {
			cs[i], ps[i], vs[i], ats[i] = r.customer, r.product, r.rating, r.at
		}
		tag, err := tx.Exec(ctx, `INSERT INTO fact_ratings (customer_id, product_id, rating, rated_at)
SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::timestamp[]) ON CONFLICT DO NOTHING`, cs, ps, vs, ats)
		if err != nil {
			return fmt.Errorf("ratings: %w", err)
		}
		lr.Events, lr.Ratings = len(evRows), int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("demo loop: week %d: %w", round, err)
	}
	return served, nil
}

// loopOutcomes fills the rounds' outcome columns from flywheel.outcomes:
// the SQL function scores the logged decisions against the events table.
func loopOutcomes(ctx context.Context, conn *pgx.Conn, model string, rounds []loopRound) error {
	rows, err := conn.Query(ctx, `SELECT version, decisions, hits, hit_rate, baseline_hits, baseline_hit_rate
FROM flywheel.outcomes(`+quoteLiteral(model)+`, events => (SELECT customer_id, product_id, event_time FROM events), within => '`+loopWithin+`')`)
	if err != nil {
		return fmt.Errorf("demo loop: outcomes: %w", err)
	}
	defer rows.Close()
	byVersion := map[int]*loopRound{}
	for i := range rounds {
		byVersion[rounds[i].Version] = &rounds[i]
	}
	for rows.Next() {
		var v int32
		var o loopRound
		if err := rows.Scan(&v, &o.Decisions, &o.Hits, &o.HitRate, &o.BaseHits, &o.BaseHitRate); err != nil {
			return fmt.Errorf("demo loop: outcomes: %w", err)
		}
		if r := byVersion[int(v)]; r != nil {
			r.Decisions, r.Hits, r.HitRate, r.BaseHits, r.BaseHitRate = o.Decisions, o.Hits, o.HitRate, o.BaseHits, o.BaseHitRate
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("demo loop: outcomes: %w", err)
	}
	return nil
}

// printLoop writes the table.
func printLoop(w io.Writer, rounds []loopRound) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, " week | version | trained on | decisions | hits | hit rate | baseline hits | baseline hit rate")
	fmt.Fprintln(w, "------+---------+------------+-----------+------+----------+---------------+------------------")
	for _, r := range rounds {
		fmt.Fprintf(w, " %4d | %7d | %10d | %9d | %4d | %8.3f | %13d | %17.3f\n",
			r.Round, r.Version, r.TrainRows, r.Decisions, r.Hits, r.HitRate, r.BaseHits, r.BaseHitRate)
	}
	fmt.Fprintln(w)
}
