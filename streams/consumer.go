package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// worker consumes one partition of one stream while this Flywheel holds
// its lease.
type worker struct {
	m         *Manager
	def       streamDef
	partition int32
	cancel    context.CancelFunc
	done      chan struct{}

	rate     float64 // rows/s, smoothed over batches
	lastSeen time.Time
}

// errStale is a batch whose offset row no longer holds the offset the
// consumer started from: another consumer took the partition over.
var errStale = errors.New("streams: the partition's stored offset moved: another consumer took it over")

func (m *Manager) startWorker(ctx context.Context, d streamDef, p int32) *worker {
	wctx, cancel := context.WithCancel(ctx)
	w := &worker{m: m, def: d, partition: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.run(wctx)
	}()
	return w
}

func (w *worker) log() []any { return []any{"stream", w.def.Name, "partition", w.partition} }

// run consumes until ctx ends or the partition is lost. Every error
// starts over from the stored offset on a new connection and a new
// fetch: nothing is fetched while PostgreSQL is unreachable (the
// connection fails first), and what was fetched but not committed is
// fetched again.
func (w *worker) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		progressed, err := w.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errStale) {
			w.m.log.Info("streams: partition taken over by another consumer", w.log()...)
			return
		}
		if progressed {
			backoff = 100 * time.Millisecond
		}
		if err != nil {
			w.m.log.Warn("streams: partition consumer", append(w.log(), "err", err, "retry_in", backoff)...)
			w.recordError(ctx, err.Error())
		}
		sleep(ctx, backoff)
		backoff = min(backoff*2, w.m.cfg.RetryMax)
	}
}

// recordError puts an error on the partition's row, best effort: with
// PostgreSQL down it is only logged.
func (w *worker) recordError(ctx context.Context, msg string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	w.m.pool.Exec(ctx, "UPDATE flywheel.stream_offset SET last_error = $3, updated_at = now() WHERE stream = $1 AND partition = $2",
		w.def.Name, w.partition, msg)
}

// consume runs one connection's worth of batches; progressed says
// whether any committed.
func (w *worker) consume(ctx context.Context) (progressed bool, err error) {
	cc := w.m.conn.Copy()
	cc.RuntimeParams["application_name"] = fmt.Sprintf("flywheel stream %s/%d", w.def.Name, w.partition)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	q := pgxQuerier{conn}
	mapping, _, err := parseMapping(w.def.Mapping)
	if err != nil {
		return false, err
	}
	t, err := loadTarget(ctx, q, w.def.Table, mapping)
	if err != nil {
		return false, err
	}
	stage := "CREATE TEMP TABLE flywheel_stage (seq bigint"
	for i := range t.Columns {
		stage += ", " + stageColumn(i) + " text"
	}
	if _, err := conn.Exec(ctx, stage+") ON COMMIT DELETE ROWS"); err != nil {
		return false, err
	}
	next, err := w.storedOffset(ctx, conn)
	if err != nil {
		return false, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(splitBrokers(w.def.Brokers)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.def.Topic: {w.partition: kgo.NewOffset().At(next)}}),
		// An offset the broker no longer has is an error to report, never
		// a reason to skip ahead (or back) silently.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxPartitionBytes(16<<20),
		kgo.FetchMaxBytes(32<<20),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	w.m.log.Debug("streams: consuming", append(w.log(), "offset", next)...)
	b := &batch{w: w, t: t, conn: conn}
	for {
		pctx, cancel := context.WithTimeout(ctx, w.m.cfg.Idle)
		fetches := cl.PollRecords(pctx, w.m.cfg.MaxBatch)
		idle := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return progressed, nil
		}
		var ferr error
		hw := int64(-1)
		var recs []*kgo.Record
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err != nil && ferr == nil && !errors.Is(p.Err, context.DeadlineExceeded) && !errors.Is(p.Err, context.Canceled) {
				ferr = p.Err
			}
			if p.Partition == w.partition {
				hw = max(hw, p.HighWatermark)
				recs = append(recs, p.Records...)
			}
		})
		for _, fe := range fetches.Errors() {
			if ferr == nil && !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				ferr = fe.Err
			}
		}
		if errors.Is(ferr, kerr.OffsetOutOfRange) {
			return progressed, w.outOfRange(ctx, next)
		}
		if ferr != nil && len(recs) == 0 {
			return progressed, fmt.Errorf("fetching: %w", ferr)
		}
		// A fetch may begin before the offset asked for (a batch's first
		// records); those are stored already.
		for len(recs) > 0 && recs[0].Offset < next {
			recs = recs[1:]
		}
		if len(recs) == 0 {
			if idle {
				if err := b.heartbeat(ctx, next, hw); err != nil {
					return progressed, err
				}
			}
			continue
		}
		if err := b.store(ctx, recs, next, hw); err != nil {
			return progressed, err
		}
		progressed = true
		next = recs[len(recs)-1].Offset + 1
	}
}

// storedOffset reads the partition's next offset; a partition seen for
// the first time starts where the stream's start says, as of now.
func (w *worker) storedOffset(ctx context.Context, conn *pgx.Conn) (int64, error) {
	const sel = "SELECT next_offset FROM flywheel.stream_offset WHERE stream = $1 AND partition = $2"
	var next int64
	err := conn.QueryRow(ctx, sel, w.def.Name, w.partition).Scan(&next)
	if err == nil {
		return next, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitBrokers(w.def.Brokers)...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var offs kadm.ListedOffsets
	if w.def.Start == "latest" {
		offs, err = adm.ListEndOffsets(lctx, w.def.Topic)
	} else {
		offs, err = adm.ListStartOffsets(lctx, w.def.Topic)
	}
	if err != nil {
		return 0, fmt.Errorf("listing offsets: %w", err)
	}
	o, ok := offs.Lookup(w.def.Topic, w.partition)
	if ok && o.Err != nil {
		return 0, fmt.Errorf("listing offsets of partition %d: %w", w.partition, o.Err)
	}
	if !ok || o.Offset < 0 {
		return 0, fmt.Errorf("listing offsets: the broker has no offset for partition %d", w.partition)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO flywheel.stream_offset (stream, partition, next_offset, holder)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, w.def.Name, w.partition, o.Offset, w.m.cfg.ID); err != nil {
		return 0, err
	}
	err = conn.QueryRow(ctx, sel, w.def.Name, w.partition).Scan(&next)
	return next, err
}

// outOfRange reports an offset the broker has deleted (retention). The
// partition stops there: an operator decides whether to move
// flywheel.stream_offset.next_offset on.
func (w *worker) outOfRange(ctx context.Context, next int64) error {
	msg := fmt.Sprintf("offset %d of partition %d is no longer on the broker (deleted by retention?): the partition is stopped, nothing was skipped", next, w.partition)
	if cl, err := kgo.NewClient(kgo.SeedBrokers(splitBrokers(w.def.Brokers)...)); err == nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if offs, err := kadm.NewClient(cl).ListStartOffsets(lctx, w.def.Topic); err == nil {
			if o, ok := offs.Lookup(w.def.Topic, w.partition); ok && o.Err == nil {
				msg += fmt.Sprintf("; the log now starts at %d: UPDATE flywheel.stream_offset SET next_offset = %d WHERE stream = '%s' AND partition = %d accepts the loss",
					o.Offset, o.Offset, w.def.Name, w.partition)
			}
		}
		cancel()
		cl.Close()
	}
	return errors.New(msg)
}

// batch writes batches of one partition on one connection.
type batch struct {
	w    *worker
	t    *target
	conn *pgx.Conn
}

// heartbeat records an idle partition: rows/s 0 and the broker's high
// watermark, under the same ownership check as a batch.
func (b *batch) heartbeat(ctx context.Context, next, hw int64) error {
	w := b.w
	w.rate = 0
	tag, err := b.conn.Exec(ctx, `UPDATE flywheel.stream_offset SET high_watermark = CASE WHEN $4::int8 >= 0 THEN $4 ELSE high_watermark END,
	rows_per_sec = 0, holder = $5, last_error = NULL, updated_at = now()
WHERE stream = $1 AND partition = $2 AND next_offset = $3`, w.def.Name, w.partition, next, hw, w.m.cfg.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errStale
	}
	return nil
}

// store commits one batch: the offset advance (checked), the rows, the
// aggregates and the dead letters, in one transaction.
func (b *batch) store(ctx context.Context, recs []*kgo.Record, from, hw int64) error {
	w := b.w
	t := b.t
	var (
		rows    [][]any
		deadOff []int64
		deadRaw [][]byte
		deadErr []string
		bySeq   = map[int64]*kgo.Record{}
		values  = make([]any, len(t.Columns))
		last    = recs[len(recs)-1].Offset
		next    = last + 1
		dead    = func(r *kgo.Record, msg string) {
			deadOff = append(deadOff, r.Offset)
			deadRaw = append(deadRaw, r.Value)
			deadErr = append(deadErr, msg)
		}
	)
	for _, r := range recs {
		if err := t.decode(r.Value, values); err != nil {
			dead(r, err.Error())
			continue
		}
		row := make([]any, len(values)+1)
		row[0] = r.Offset
		copy(row[1:], values)
		rows = append(rows, row)
		bySeq[r.Offset] = r
	}
	now := time.Now()
	if !w.lastSeen.IsZero() {
		if dt := now.Sub(w.lastSeen).Seconds(); dt > 0 {
			inst := float64(len(recs)) / dt
			if w.rate == 0 {
				w.rate = inst
			} else {
				w.rate = 0.7*w.rate + 0.3*inst
			}
		}
	}
	w.lastSeen = now
	var stored int64
	err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		// The offset row first: it is the lock that orders two consumers
		// of one partition, and a stale one stops here.
		tag, err := tx.Exec(ctx, `UPDATE flywheel.stream_offset SET next_offset = $4, high_watermark = CASE WHEN $5::int8 >= 0 THEN $5 ELSE high_watermark END,
	rows = rows + $6, rows_per_sec = $7, holder = $8, last_error = NULL, updated_at = now()
WHERE stream = $1 AND partition = $2 AND next_offset = $3`, w.def.Name, w.partition, from, next, hw, int64(len(rows)), w.rate, w.m.cfg.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errStale
		}
		if len(rows) > 0 {
			if _, err := tx.Exec(ctx, "SELECT set_config('TimeZone', $1, true)", w.def.TimeZone); err != nil {
				return err
			}
			cols := []string{"seq"}
			for i := range t.Columns {
				cols = append(cols, stageColumn(i))
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"flywheel_stage"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("copying into the staging table: %w", err)
			}
			// The stream's aggregate lock, shared, before reading the
			// aggregates: create_aggregate holds it exclusively while it
			// fills its table, so a batch sees either no aggregate (and its
			// rows are in the fill) or the aggregate.
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1::int4, hashtext($2))", aggregateLockKey, w.def.Name); err != nil {
				return err
			}
			aggs, err := loadAggregates(ctx, tx, w.def.Name)
			if err != nil {
				return err
			}
			if len(aggs) > 0 {
				// Batches of one stream fold into its aggregates one at a
				// time: two partitions' upserts of the same groups deadlock
				// each other otherwise (seen even with groups in key order).
				if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))", aggregateApplyKey, w.def.Name); err != nil {
					return err
				}
			}
			ins := insertSQL(t, aggs, false)
			if _, err := tx.Exec(ctx, "SAVEPOINT batch"); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, ins)
			if err == nil {
				stored = int64(len(rows))
			} else {
				if !messageFault(err) {
					return err
				}
				// Some message PostgreSQL rejects: find it (them) row by row.
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT batch"); err != nil {
					return err
				}
				one := insertSQL(t, aggs, true)
				for _, row := range rows {
					seq := row[0].(int64)
					if _, err := tx.Exec(ctx, "SAVEPOINT one"); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, one, seq); err != nil {
						if !messageFault(err) {
							return err
						}
						if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT one"); err != nil {
							return err
						}
						dead(bySeq[seq], err.Error())
						continue
					}
					stored++
				}
				if _, err := tx.Exec(ctx, "UPDATE flywheel.stream_offset SET rows = rows - $3 WHERE stream = $1 AND partition = $2",
					w.def.Name, w.partition, int64(len(rows))-stored); err != nil {
					return err
				}
			}
		}
		if len(deadOff) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO flywheel.dead_letters (stream, partition, "offset", raw, error)
SELECT $1, $2, unnest($3::int8[]), unnest($4::bytea[]), unnest($5::text[])`, w.def.Name, w.partition, deadOff, deadRaw, deadErr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errStale) {
			return err
		}
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Detail != "" {
			return fmt.Errorf("batch at offset %d: %w (%s)", from, err, pe.Detail)
		}
		return fmt.Errorf("batch at offset %d: %w", from, err)
	}
	w.m.stored.Add(stored)
	w.m.dead.Add(int64(len(deadOff)))
	return nil
}

// insertSQL is the statement that moves the staging rows (one, with
// $1 its seq) into the target and folds them into the aggregates.
func insertSQL(t *target, aggs []*aggregate, one bool) string {
	from := " FROM flywheel_stage s"
	if one {
		from += " WHERE s.seq = $1"
	}
	ins := "INSERT INTO " + t.Table + " (" + t.columnList() + ") SELECT " + t.insertSelect("s") + from
	if len(aggs) == 0 {
		return ins
	}
	sql := "WITH ins AS (" + ins + " RETURNING *)"
	for i, a := range aggs {
		sql += ", a" + strconv.Itoa(i) + " AS (" + a.upsertFrom("ins") + ")"
	}
	return sql + " SELECT count(*) FROM ins"
}
