// Package streams consumes Kafka topics into tables of the backing
// database, exactly once, with running aggregates and dead letters
// (issue 13). Streams are declared in SQL (flywheel.create_stream and the
// others, catalog/stream.go) and stored in schema flywheel (migration 5 in
// models/schema.go), so every Flywheel in front of the database consumes
// them.
//
// Exactly once: a partition's next offset lives in flywheel.stream_offset
// and advances in the same transaction as the rows of the batch it
// covers, under a check that the row still holds the offset the consumer
// started the batch from. The consumer seeks to the stored offset
// whenever it (re)starts a partition, so a Flywheel killed at any point
// leaves, after a restart, every message exactly once in the target.
//
// Ownership: partitions are leased with session-level advisory locks, as
// the model refresh worker leases refreshes (models/refresh.go), not
// through a Kafka consumer group: the offsets live in PostgreSQL anyway,
// the lock dies with the Flywheel's connection (a killed Flywheel's
// partitions move within a tick), and it needs nothing from the broker
// beyond fetching. Each Flywheel holds a member lock too; counting those
// gives the number of Flywheels, and each takes at most its fair share of
// a stream's partitions, giving back extras when another one joins. The
// offset check makes a lease that was lost but not yet noticed harmless:
// its next commit rolls back.
package streams

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flywheeldb/flywheel/internal/instance"
	"github.com/flywheeldb/flywheel/models"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Manager.
type Config struct {
	// URL is the backing database's connection string.
	URL string
	// Brokers are the Kafka brokers ("host:port,...") of streams created
	// without brokers => (--kafka-brokers).
	Brokers string
	// ID names this Flywheel in flywheel.streams' holder; empty means
	// host:pid and a random suffix.
	ID     string
	Logger *slog.Logger
	// Tick is how often the Flywheel looks at the declared streams and
	// the partitions' leases (zero: 1 s). A killed Flywheel's partitions
	// are taken over within about a tick.
	Tick time.Duration
	// MaxBatch bounds the messages of one transaction (zero: 20000).
	MaxBatch int
	// RetryMax bounds the back-off between retries after an error (zero: 5 s).
	RetryMax time.Duration
	// Idle is how long a partition waits for messages before it records
	// that it is idle (rows/s 0) and refreshes its lag (zero: 2 s).
	Idle time.Duration
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 20000
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 2 * time.Second
	}
	if c.ID == "" {
		c.ID = instance.NewID()
	}
}

// Manager runs the streams of one database and implements the SQL
// functions (catalog.Streams). It is safe for concurrent use.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	pool *pgxpool.Pool
	conn *pgx.ConnConfig
	stop context.CancelFunc
	done chan struct{}

	stored, dead atomic.Int64
	owned        atomic.Int64
}

// Status is what the manager has done, for tests and the status page.
type Status struct {
	Rows, DeadLetters int64 // committed by this Flywheel
	Partitions        int64 // partitions it consumes now
}

// Status reports the manager's counters.
func (m *Manager) Status() Status {
	return Status{Rows: m.stored.Load(), DeadLetters: m.dead.Load(), Partitions: m.owned.Load()}
}

// Open connects, migrates the flywheel schema (the stream tables are
// migration 5 of the model store's) and starts consuming.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	cfg.defaults()
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	pcfg.MaxConns = 4
	pcfg.ConnConfig.RuntimeParams["application_name"] = "flywheel streams"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	if err := models.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("streams: %w", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, pool: pool, conn: pcfg.ConnConfig, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.run(lctx)
	}()
	return m, nil
}

// Close stops every consumer (an open batch rolls back) and disconnects.
func (m *Manager) Close() {
	m.stop()
	<-m.done
	m.pool.Close()
}

// memberKey is the first key of every Flywheel's member lock (the second
// is random); counting them counts the Flywheels consuming streams.
const memberKey = 1179075841

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (m *Manager) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := m.lead(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("streams: lease connection", "err", err)
		}
		sleep(ctx, m.cfg.Tick)
	}
}

// streamDef is a stream as stored.
type streamDef struct {
	Name, Brokers, Topic, Table, Mapping, TimeZone, Start string
	Paused                                                bool
	Created                                               string
}

// same reports whether a running consumer of d may go on serving e.
func (d streamDef) same(e streamDef) bool {
	d.Paused, e.Paused = false, false
	return d == e
}

type partKey struct {
	stream    string
	partition int32
}

// lead holds this Flywheel's leases on a connection of its own: when it
// closes, every lock goes, and other Flywheels take the partitions over.
func (m *Manager) lead(ctx context.Context) error {
	cc := m.conn.Copy()
	cc.RuntimeParams["application_name"] = "flywheel stream leases"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	workers := map[partKey]*worker{}
	admins := map[string]*kadm.Client{}
	defer func() {
		// Consumers stop before the locks go with the connection.
		for _, w := range workers {
			w.cancel()
		}
		for _, w := range workers {
			<-w.done
		}
		m.owned.Store(0)
		for _, a := range admins {
			a.Close()
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	var b [4]byte
	rand.Read(b[:])
	member := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1::int4, $2::int4)", memberKey, member); err != nil {
		return err
	}
	tick := time.NewTicker(m.cfg.Tick)
	defer tick.Stop()
	for {
		if err := m.reconcile(ctx, conn, workers, admins); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		m.owned.Store(int64(len(workers)))
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// admin returns the Kafka admin client of a brokers list.
func (m *Manager) admin(admins map[string]*kadm.Client, brokers string) (*kadm.Client, error) {
	if a, ok := admins[brokers]; ok {
		return a, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitBrokers(brokers)...))
	if err != nil {
		return nil, err
	}
	a := kadm.NewClient(cl)
	admins[brokers] = a
	return a, nil
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// reconcile starts and stops consumers to match the declared streams and
// this Flywheel's share of their partitions. An error is the lease
// connection's: every lease is then lost.
func (m *Manager) reconcile(ctx context.Context, conn *pgx.Conn, workers map[partKey]*worker, admins map[string]*kadm.Client) error {
	var members int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int8::oid AND objsubid = 2 AND granted",
		memberKey).Scan(&members); err != nil {
		return err
	}
	members = max(members, 1)
	rows, err := conn.Query(ctx, `SELECT name, coalesce(brokers, ''), topic, target::text, coalesce(mapping::text, ''), time_zone, start, paused, created_at::text
FROM flywheel.stream ORDER BY name`)
	if err != nil {
		return err
	}
	defs := map[string]streamDef{}
	var names []string
	for rows.Next() {
		var d streamDef
		if err := rows.Scan(&d.Name, &d.Brokers, &d.Topic, &d.Table, &d.Mapping, &d.TimeZone, &d.Start, &d.Paused, &d.Created); err != nil {
			rows.Close()
			return err
		}
		if d.Brokers == "" {
			d.Brokers = m.cfg.Brokers
		}
		defs[d.Name] = d
		names = append(names, d.Name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	release := func(k partKey, w *worker) error {
		w.cancel()
		<-w.done
		delete(workers, k)
		_, err := conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtext($1), $2::int4)", "flywheel.stream:"+k.stream, k.partition)
		return err
	}
	for k, w := range workers {
		d, ok := defs[k.stream]
		exited := false
		select {
		case <-w.done:
			exited = true
		default:
		}
		if !ok || d.Paused || !d.same(w.def) || exited {
			if err := release(k, w); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		d := defs[name]
		if d.Paused {
			continue
		}
		parts, err := m.partitions(ctx, admins, d)
		if err != nil {
			m.streamError(ctx, d.Name, err.Error())
			continue
		}
		if _, err := conn.Exec(ctx, "UPDATE flywheel.stream SET last_error = NULL WHERE name = $1 AND last_error IS NOT NULL", name); err != nil {
			return err
		}
		fair := (len(parts) + members - 1) / members
		var held []int32
		for k := range workers {
			if k.stream == name {
				held = append(held, k.partition)
			}
		}
		slices.Sort(held)
		// Give back what is beyond the share, highest partitions first, so
		// a Flywheel that joins gets some.
		for len(held) > fair {
			p := held[len(held)-1]
			held = held[:len(held)-1]
			k := partKey{name, p}
			if err := release(k, workers[k]); err != nil {
				return err
			}
		}
		for _, p := range parts {
			if len(held) >= fair {
				break
			}
			k := partKey{name, p}
			if _, ok := workers[k]; ok {
				continue
			}
			var got bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1), $2::int4)", "flywheel.stream:"+name, p).Scan(&got); err != nil {
				return err
			}
			if !got {
				continue
			}
			held = append(held, p)
			workers[k] = m.startWorker(ctx, d, p)
		}
	}
	return nil
}

// partitions lists a stream's topic's partitions.
func (m *Manager) partitions(ctx context.Context, admins map[string]*kadm.Client, d streamDef) ([]int32, error) {
	if d.Brokers == "" {
		return nil, errors.New("the stream has no brokers and this Flywheel runs without --kafka-brokers")
	}
	a, err := m.admin(admins, d.Brokers)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	td, err := a.ListTopics(ctx, d.Topic)
	if err != nil {
		return nil, fmt.Errorf("brokers %s: %w", d.Brokers, err)
	}
	t, ok := td[d.Topic]
	if !ok || t.Err != nil {
		if t.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", d.Topic, t.Err)
		}
		return nil, fmt.Errorf("topic %q does not exist", d.Topic)
	}
	var out []int32
	for p := range t.Partitions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// streamError records a stream-wide error (no brokers, no topic) once.
// Every tick tries again; the log says it once per distinct error.
func (m *Manager) streamError(ctx context.Context, name, msg string) {
	tag, err := m.pool.Exec(ctx, `UPDATE flywheel.stream SET last_error = $2, last_error_at = now()
WHERE name = $1 AND last_error IS DISTINCT FROM $2`, name, msg)
	if err != nil && ctx.Err() == nil {
		m.log.Warn("streams: recording an error", "stream", name, "err", err)
	}
	if err != nil || tag.RowsAffected() > 0 {
		m.log.Warn("streams: stream not consumable", "stream", name, "err", msg)
	}
}
