package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/streams"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The stream tests run franz-go's kfake as the broker, in the test
// process, and real PostgreSQL; kcat (Debian's, librdkafka) produces in
// one of them as an independent client.

const streamTopic = "user-behavior"

// testLogger logs to the test's output when FLYWHEEL_TEST_LOG is set
// (debugging), and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("FLYWHEEL_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startBroker runs a kfake cluster with the topic in 3 partitions.
func startBroker(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, streamTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// streamProxy serves db through a Flywheel that consumes its streams,
// with fast test ticks; its brokers are the default for streams created
// without brokers =>.
func streamProxy(t testing.TB, db, brokers, id string) (string, *streams.Manager) {
	t.Helper()
	m, err := streams.Open(context.Background(), streams.Config{URL: srv.URL(db), Brokers: brokers, ID: id, Logger: testLogger(t),
		Tick: 100 * time.Millisecond, Idle: 300 * time.Millisecond, RetryMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return serveProxy(t, db, planner.Options{}, catalog.BuiltinWithStreams(m)), m
}

const streamTable = `CREATE TABLE events (
	event_id bigint,
	customer_id integer NOT NULL,
	event_type text NOT NULL CHECK (event_type IN ('click', 'view', 'cart', 'purchase')),
	product_id integer,
	amount numeric(10, 2),
	event_time timestamptz NOT NULL,
	received timestamptz NOT NULL DEFAULT now()
)`

const streamMapping = `{"event_id": "id", "customer_id": "user_id", "event_type": "event", "product_id": "item_id", "amount": "amount", "event_time": "timestamp"}`

// event is a good message number i; its fields are functions of i so a
// checksum of the stored rows can be computed from the ids alone.
func event(i int) []byte {
	kinds := []string{"click", "view", "cart", "purchase"}
	b, _ := json.Marshal(map[string]any{"id": i, "user_id": 1 + i%17, "event": kinds[i%4], "item_id": 100 + i%7,
		"amount": float64(i%50) + 0.25, "timestamp": time.Date(2024, 9, 9, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05")})
	return b
}

func produce(t testing.TB, brokers string, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(streamTopic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: v}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consumedAll waits until the stream's stored offsets cover n messages
// (the topic's partitions start at 0).
func consumedAll(t *testing.T, conn *pgx.Conn, stream string, n int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("stream %s to store offsets covering %d messages", stream, n), func() bool {
		return scalar[int64](t, conn, `SELECT coalesce(sum("offset"), 0)::int8 FROM flywheel.streams WHERE stream = $1`, stream) >= n
	})
}

// checkAggregate compares an aggregate table with the GROUP BY over the
// target.
func checkAggregate(t *testing.T, conn *pgx.Conn, table, groupBy string) {
	t.Helper()
	q := fmt.Sprintf(`SELECT count(*) FROM ((TABLE %[1]s EXCEPT SELECT %[2]s, count(*), sum(amount), max(event_time) FROM events GROUP BY %[2]s)
	UNION ALL (SELECT %[2]s, count(*), sum(amount), max(event_time) FROM events GROUP BY %[2]s EXCEPT TABLE %[1]s)) d`, table, groupBy)
	if n := scalar[int64](t, conn, q); n != 0 {
		t.Fatalf("aggregate %s differs from the GROUP BY over events in %d rows", table, n)
	}
}

// TestStreamIngestPgx: messages on three partitions land exactly once;
// poison messages go to dead_letters and the stream goes on; a running
// aggregate equals the GROUP BY; pause and resume; errors have SQLSTATEs.
func TestStreamIngestPgx(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, m := streamProxy(t, db, "", "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, streamTable); err != nil {
		t.Fatal(err)
	}
	// Rows before the stream and the aggregate: the aggregate starts from them.
	if _, err := conn.Exec(ctx, "INSERT INTO events (event_id, customer_id, event_type, amount, event_time) VALUES (0, 1, 'view', 1.50, '2024-01-01')"); err != nil {
		t.Fatal(err)
	}
	create := fmt.Sprintf(`SELECT stream, target, columns, paused FROM flywheel.create_stream('clicks', brokers => '%s', topic => '%s',
		target => 'events', format => 'json', mapping => '%s', time_zone => 'UTC', start => 'earliest')`, brokers, streamTopic, streamMapping)
	var name, target, cols string
	var paused bool
	if err := conn.QueryRow(ctx, create).Scan(&name, &target, &cols, &paused); err != nil {
		t.Fatal(err)
	}
	if name != "clicks" || target != "events" || paused || !strings.Contains(cols, "customer_id <- user_id") {
		t.Fatalf("create_stream returned %q %q %q %v", name, target, cols, paused)
	}
	if g := scalar[int64](t, conn, `SELECT groups FROM flywheel.create_aggregate('user_totals', 'clicks', group_by => 'customer_id',
		aggregates => 'count(*), sum(amount), max(event_time)')`); g != 1 {
		t.Fatalf("the aggregate started with %d groups, want 1", g)
	}

	// Errors, each with its SQLSTATE; the session stays usable.
	for _, c := range []struct{ sql, code string }{
		{create, "42710"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'no_such_table')", "42P01"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'events', start => 'middle')", "22023"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'events', format => 'avro')", "22023"},
		{`SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'events', mapping => '{"nope": "a"}')`, "42703"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'events', mapping => '[1]')", "22023"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'events', time_zone => 'Mars/Olympus')", "22023"},
		{"SELECT * FROM flywheel.create_stream('x', topic => 't', target => 'events')", "22023"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'a.b.c')", "42602"},
		{"SELECT * FROM flywheel.create_stream('x', brokers => 'b:1', topic => 't', target => 'bad name (')", "42602"},
		{"SELECT * FROM flywheel.drop_stream('nope')", "42704"},
		{"SELECT * FROM flywheel.create_aggregate('events', 'clicks', group_by => 'customer_id')", "42P07"},
		{"SELECT * FROM flywheel.create_aggregate('a2', 'clicks', group_by => 'customer_id', aggregates => 'sum(event_type)')", "42883"},
		{"SELECT * FROM flywheel.pause_stream('nope')", "42704"},
		{"SELECT * FROM flywheel.create_aggregate('a2', 'nope', group_by => 'customer_id')", "42704"},
		{"SELECT * FROM flywheel.create_aggregate('a2', 'clicks', group_by => 'nope')", "42703"},
		{"SELECT * FROM flywheel.create_aggregate('a2', 'clicks', group_by => 'customer_id', aggregates => 'avg(amount)')", "22023"},
		{"SELECT * FROM flywheel.create_aggregate('a2', 'clicks', group_by => 'customer_id', \"window\" => 'soon')", "22023"},
	} {
		if _, err := conn.Exec(ctx, c.sql); code(err) != c.code {
			t.Errorf("%s: %v, want SQLSTATE %s", c.sql, err, c.code)
		}
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.stream"); n != 1 {
		t.Fatalf("%d streams after the failed creates, want 1", n)
	}

	const good = 3000
	var msgs [][]byte
	for i := 1; i <= good; i++ {
		msgs = append(msgs, event(i))
		if i == 1000 {
			msgs = append(msgs,
				[]byte(`{"id": 9001, "user_id": 1, "event": "click", `),                                        // undecodable
				[]byte(`{"id": 9002, "event": "click", "timestamp": "2024-09-09 12:00:00"}`),                   // missing user_id
				[]byte(`{"id": 9003, "user_id": "abc", "event": "click", "timestamp": "2024-09-09 12:00:00"}`), // wrong type
				[]byte(`{"id": 9004, "user_id": 2, "event": "bogus", "timestamp": "2024-09-09 12:00:00"}`),     // CHECK violation
				[]byte(`{"id": 9005, "user_id": 2, "event": "click", "timestamp": "not a time"}`),              // PostgreSQL rejects it
			)
		}
	}
	produce(t, brokers, msgs...)
	consumedAll(t, conn, "clicks", int64(len(msgs)))

	if n := scalar[int64](t, conn, "SELECT count(*) FROM events WHERE event_id > 0"); n != good {
		t.Fatalf("%d events stored, want %d", n, good)
	}
	if n := scalar[int64](t, conn, "SELECT count(DISTINCT event_id) FROM events WHERE event_id > 0"); n != good {
		t.Fatalf("%d distinct events, want %d", n, good)
	}
	if s := scalar[int64](t, conn, "SELECT sum(event_id + customer_id + product_id)::int8 FROM events WHERE event_id > 0"); s != checksum(good) {
		t.Fatalf("checksum %d, want %d", s, checksum(good))
	}
	// Timestamps written without a zone are read in the stream's time_zone.
	if ts := scalar[string](t, conn, "SELECT (event_time AT TIME ZONE 'UTC')::text FROM events WHERE event_id = 1"); ts != "2024-09-09 12:01:00" {
		t.Fatalf("event 1's time %s", ts)
	}
	rows, err := conn.Query(ctx, `SELECT convert_from(raw, 'UTF8'), error FROM flywheel.dead_letters WHERE stream = 'clicks' ORDER BY convert_from(raw, 'UTF8')`)
	if err != nil {
		t.Fatal(err)
	}
	var dead []string
	for rows.Next() {
		var raw, msg string
		if err := rows.Scan(&raw, &msg); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, raw[:12]+" "+msg)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"undecodable JSON", "missing required field \"user_id\"", "is not a number", "violates check constraint", "invalid input syntax for type timestamp"}
	if len(dead) != len(want) {
		t.Fatalf("dead letters:\n%s", strings.Join(dead, "\n"))
	}
	for _, w := range want {
		found := false
		for _, d := range dead {
			found = found || strings.Contains(d, w)
		}
		if !found {
			t.Errorf("no dead letter says %q:\n%s", w, strings.Join(dead, "\n"))
		}
	}
	checkAggregate(t, conn, "user_totals", "customer_id")
	if s := m.Status(); s.Rows != good || s.DeadLetters != 5 {
		t.Fatalf("status %+v", s)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.streams WHERE stream = 'clicks' AND holder = 'a' AND lag = 0 AND last_error IS NULL"); n != 3 {
		t.Fatalf("flywheel.streams: %d partitions held by a, with no lag and no error; want 3", n)
	}

	// Pause: the partitions are given up; resume: consumption goes on
	// from the stored offsets.
	if p := scalar[bool](t, conn, "SELECT paused FROM flywheel.pause_stream('clicks')"); !p {
		t.Fatal("pause_stream did not report paused")
	}
	eventually(t, "the paused stream's partitions to be released", func() bool { return m.Status().Partitions == 0 })
	produce(t, brokers, event(good+1), event(good+2), event(good+3))
	if p := scalar[bool](t, conn, "SELECT paused FROM flywheel.resume_stream('clicks')"); p {
		t.Fatal("resume_stream reported paused")
	}
	consumedAll(t, conn, "clicks", int64(len(msgs)+3))
	if n := scalar[int64](t, conn, "SELECT count(*) FROM events WHERE event_id > 0"); n != good+3 {
		t.Fatalf("%d events after resume, want %d", n, good+3)
	}
	checkAggregate(t, conn, "user_totals", "customer_id")

	// A windowed aggregate, filled from what is there.
	if _, err := conn.Exec(ctx, `SELECT * FROM flywheel.create_aggregate('hourly', 'clicks', group_by => 'event_type',
		aggregates => 'count(*), sum(amount), max(event_time)', "window" => '1 hour', time_column => 'event_time')`); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, event(good+4), event(good+5))
	consumedAll(t, conn, "clicks", int64(len(msgs)+5))
	if n := scalar[int64](t, conn, `SELECT count(*) FROM ((TABLE hourly EXCEPT SELECT event_type, date_bin('1 hour', event_time, '2000-01-01'), count(*), sum(amount), max(event_time) FROM events GROUP BY 1, 2)
		UNION ALL (SELECT event_type, date_bin('1 hour', event_time, '2000-01-01'), count(*), sum(amount), max(event_time) FROM events GROUP BY 1, 2 EXCEPT TABLE hourly)) d`); n != 0 {
		t.Fatalf("the windowed aggregate differs from the GROUP BY in %d rows", n)
	}
	checkAggregate(t, conn, "user_totals", "customer_id")

	if _, err := conn.Exec(ctx, "SELECT * FROM flywheel.drop_stream('clicks')"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dropped stream's partitions to be released", func() bool { return m.Status().Partitions == 0 })
}

// checksum is sum(event_id + customer_id + product_id) over events 1..n.
func checksum(n int) int64 {
	var s int64
	for i := 1; i <= n; i++ {
		s += int64(i) + int64(1+i%17) + int64(100+i%7)
	}
	return s
}

// TestStreamKcatPSQL: kcat, an independent Kafka client, produces JSON
// lines; psql declares the stream (columns matched by name) and reads
// the rows and flywheel.streams.
func TestStreamKcatPSQL(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is not installed (scripts/deps installs it): ", err)
	}
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, _ := streamProxy(t, db, brokers, "k")
	url := pgURL(addr, db)
	out := psqlResult(t, url, `CREATE TABLE clicks (user_id integer NOT NULL, event text NOT NULL, item_id integer, "timestamp" timestamp);
SELECT stream, target, columns FROM flywheel.create_stream('kc', topic => 'user-behavior', target => 'clicks');`)
	if !strings.Contains(out, "kc|clicks|user_id <- user_id, event <- event, item_id <- item_id, timestamp <- timestamp") {
		t.Fatalf("psql create_stream:\n%s", out)
	}
	var lines strings.Builder
	const n = 500
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&lines, `{"user_id":%d,"event":"click","item_id":%d,"timestamp":"2024-09-09 12:00:00"}`+"\n", i, 100+i%3)
	}
	cmd := exec.Command("kcat", "-b", brokers, "-t", streamTopic, "-P", "-X", "broker.address.family=v4")
	cmd.Stdin = strings.NewReader(lines.String())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, b)
	}
	conn := connect(t, addr, db)
	consumedAll(t, conn, "kc", n)
	out = psqlResult(t, url, "SELECT count(*), sum(user_id), count(DISTINCT user_id) FROM clicks;\nSELECT sum(\"offset\"), sum(lag), sum(dead_letters) FROM flywheel.streams WHERE stream = 'kc';")
	want := fmt.Sprintf("count|sum|count\n%d|%d|%d\nsum|sum|sum\n%d|0|0", n, n*(n+1)/2, n, n)
	if out != want {
		t.Fatalf("psql:\n%s\nwant\n%s", out, want)
	}
}

// flywheelProc is a Flywheel binary running `serve` against db.
type flywheelProc struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

// startFlywheel starts the binary and waits for it to serve.
func startFlywheel(t *testing.T, bin, db, brokers, name string) *flywheelProc {
	t.Helper()
	return startFlywheelArgs(t, bin, name, "--upstream", srv.URL(db), "--kafka-brokers", brokers)
}

// startFlywheelArgs starts `flywheel serve` with more arguments.
func startFlywheelArgs(t *testing.T, bin, name string, args ...string) *flywheelProc {
	t.Helper()
	// FLYWHEEL_TEST_LOGDIR keeps the processes' logs (debugging).
	logDir := os.Getenv("FLYWHEEL_TEST_LOGDIR")
	if logDir == "" {
		logDir = t.TempDir()
	}
	logf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--train-workers", "0", "--log-level", "debug"}, args...)...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &flywheelProc{cmd: cmd, log: logf}
	t.Cleanup(func() { p.kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "flywheel is serving on "); ok {
				addr, _, _ := strings.Cut(rest, ";")
				ready <- addr
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			t.Fatalf("flywheel %s exited before serving; its log is %s", name, logf.Name())
		}
		p.addr = addr
	case <-time.After(60 * time.Second):
		t.Fatalf("flywheel %s did not start within 60 s", name)
	}
	return p
}

// kill sends SIGKILL and reaps the process.
func (p *flywheelProc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// TestStreamSIGKILL: two Flywheel processes share a stream's partitions;
// while events are produced, one and then the other is killed with
// SIGKILL (mid-batch or not, wherever it happens to be) and restarted.
// Every event is then in the target exactly once (count, distinct ids and
// checksum), and the running aggregate equals the GROUP BY.
func TestStreamSIGKILL(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	bin := buildFlywheel(t)
	procs := []*flywheelProc{startFlywheel(t, bin, db, brokers, "a"), startFlywheel(t, bin, db, brokers, "b")}
	ctx := context.Background()
	through, err := pgx.Connect(ctx, pgURL(procs[0].addr, db))
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{streamTable,
		fmt.Sprintf("SELECT * FROM flywheel.create_stream('clicks', topic => '%s', target => 'events', mapping => '%s')", streamTopic, streamMapping),
		"SELECT * FROM flywheel.create_aggregate('user_totals', 'clicks', group_by => 'customer_id', aggregates => 'count(*), sum(amount), max(event_time)')",
	} {
		if _, err := through.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	through.Close(ctx)
	direct, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	// Both Flywheels take a share of the three partitions.
	eventually(t, "both Flywheels to hold partitions", func() bool {
		return scalar[int64](t, direct, "SELECT count(DISTINCT holder) FROM flywheel.streams WHERE stream = 'clicks'") == 2
	})

	const total, chunk = 40000, 2000
	produced := make(chan error, 1)
	go func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(streamTopic),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			produced <- err
			return
		}
		defer cl.Close()
		for i := 1; i <= total; i += chunk {
			recs := make([]*kgo.Record, 0, chunk)
			for j := i; j < i+chunk; j++ {
				recs = append(recs, &kgo.Record{Value: event(j)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	// Kill one Flywheel each time another share of the events is stored.
	for round := 1; round <= 4; round++ {
		want := int64(round * total / 8)
		eventually(t, fmt.Sprintf("%d events stored before kill %d", want, round), func() bool {
			return scalar[int64](t, direct, "SELECT count(*) FROM events") >= want
		})
		victim := round % 2
		procs[victim].kill()
		t.Logf("kill %d: SIGKILLed flywheel %d at %d stored events", round, victim, scalar[int64](t, direct, "SELECT count(*) FROM events"))
		procs[victim] = startFlywheel(t, bin, db, brokers, fmt.Sprintf("%c%d", 'a'+victim, round))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	consumedAll(t, direct, "clicks", total)
	if n := scalar[int64](t, direct, "SELECT count(*) FROM events"); n != total {
		t.Fatalf("%d events stored, want %d", n, total)
	}
	if n := scalar[int64](t, direct, "SELECT count(DISTINCT event_id) FROM events"); n != total {
		t.Fatalf("%d distinct events stored, want %d", n, total)
	}
	if s := scalar[int64](t, direct, "SELECT sum(event_id + customer_id + product_id)::int8 FROM events"); s != checksum(total) {
		t.Fatalf("checksum %d, want %d", s, checksum(total))
	}
	if n := scalar[int64](t, direct, "SELECT count(*) FROM flywheel.dead_letters"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	checkAggregate(t, direct, "user_totals", "customer_id")
}

// TestStreamConnectionLoss: the consumers' PostgreSQL connections are
// terminated again and again while events arrive; every batch is retried
// from the stored offsets, and every event is stored exactly once.
func TestStreamConnectionLoss(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, _ := streamProxy(t, db, brokers, "c")
	conn := connect(t, addr, db)
	ctx := context.Background()
	for _, sql := range []string{streamTable,
		fmt.Sprintf("SELECT * FROM flywheel.create_stream('clicks', topic => '%s', target => 'events', mapping => '%s')", streamTopic, streamMapping),
		"SELECT * FROM flywheel.create_aggregate('user_totals', 'clicks', group_by => 'customer_id', aggregates => 'count(*), sum(amount), max(event_time)')",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const total, chunk = 20000, 1000
	var terminated int64
	for i := 1; i <= total; i += chunk {
		var msgs [][]byte
		for j := i; j < i+chunk; j++ {
			msgs = append(msgs, event(j))
		}
		produce(t, brokers, msgs...)
		terminated += scalar[int64](t, conn, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'flywheel stream%') k")
	}
	t.Logf("terminated %d stream connections", terminated)
	consumedAll(t, conn, "clicks", total)
	if n := scalar[int64](t, conn, "SELECT count(*) FROM events"); n != total {
		t.Fatalf("%d events stored, want %d", n, total)
	}
	if s := scalar[int64](t, conn, "SELECT sum(event_id + customer_id + product_id)::int8 FROM events"); s != checksum(total) {
		t.Fatalf("checksum %d, want %d", s, checksum(total))
	}
	checkAggregate(t, conn, "user_totals", "customer_id")
}

// TestStreamRetention: a stored offset the broker has deleted is reported
// in flywheel.streams' last_error and nothing is skipped; moving the
// offset on (accepting the loss) resumes the partition.
func TestStreamRetention(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, _ := streamProxy(t, db, brokers, "r")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, streamTable); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := 1; i <= 10; i++ {
		recs = append(recs, &kgo.Record{Topic: streamTopic, Partition: 0, Value: event(i)})
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Retention deletes offsets 0-5 of partition 0 before the stream starts.
	var del kadm.Offsets
	del.AddOffset(streamTopic, 0, 6, -1)
	if _, err := kadm.NewClient(cl).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT * FROM flywheel.create_stream('clicks', topic => '%s', target => 'events', mapping => '%s')", streamTopic, streamMapping)); err != nil {
		t.Fatal(err)
	}
	// start => 'earliest' is the log start as the stream first sees it: 6.
	eventually(t, "offsets 6-9 stored", func() bool { return scalar[int64](t, conn, "SELECT count(*) FROM events") == 4 })
	// An offset below the log start (as after a long outage): reported, not skipped.
	if _, err := conn.Exec(ctx, "UPDATE flywheel.stream_offset SET next_offset = 2 WHERE stream = 'clicks' AND partition = 0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the out-of-range offset reported", func() bool {
		return scalar[int64](t, conn, `SELECT count(*) FROM flywheel.streams WHERE stream = 'clicks' AND partition = 0 AND "offset" = 2
			AND last_error LIKE '%offset 2 of partition 0 is no longer on the broker%'`) == 1
	})
	if n := scalar[int64](t, conn, "SELECT count(*) FROM events"); n != 4 {
		t.Fatalf("%d events after the out-of-range offset, want 4", n)
	}
	// Back to where it was (offsets 6-9 are stored already).
	if _, err := conn.Exec(ctx, "UPDATE flywheel.stream_offset SET next_offset = 10 WHERE stream = 'clicks' AND partition = 0"); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, event(11))
	eventually(t, "the partition resumed", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.streams WHERE stream = 'clicks' AND last_error IS NULL") == 3 &&
			scalar[int64](t, conn, "SELECT count(*) FROM events") == 5
	})
}

// TestStreamDemo: serve --demo runs the embedded broker on 127.0.0.1:9092
// with the topic user-behavior and a stream of it into the demo's events
// table; demo produce publishes to it, and the events land.
func TestStreamDemo(t *testing.T) {
	db := srv.NewDatabase(t)
	bin := buildFlywheel(t)
	startFlywheelArgs(t, bin, "demo", "--demo", "--upstream", srv.URL(db), "--data-dir", t.TempDir())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// start => 'latest': produce once every partition has its offset.
	eventually(t, "the demo stream's partitions", func() bool {
		return scalar[int64](t, conn, `SELECT count("offset") FROM flywheel.streams WHERE stream = 'user_behavior' AND topic = 'user-behavior'`) == 3
	})
	before := scalar[int64](t, conn, "SELECT count(*) FROM events")
	out, err := exec.Command(bin, "demo", "produce", "--rate", "5000", "--count", "3000").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "produced 3000 events to user-behavior") {
		t.Fatalf("demo produce: %v\n%s", err, out)
	}
	eventually(t, "3000 more events", func() bool { return scalar[int64](t, conn, "SELECT count(*) FROM events") == before+3000 })
	if n := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.dead_letters"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
}

// TestStreamRefreshesModel: a model trained with refresh => 'on_change'
// on a stream's target retrains once the stream has landed new events,
// and the new version serves them (the loop: events in, model follows).
func TestStreamRefreshesModel(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	store, err := models.Open(context.Background(), models.Config{URL: srv.URL(db), Decode: catalog.DecodeModel,
		Refresh: models.RefreshConfig{Workers: 1, Tick: 50 * time.Millisecond, LeaseRetry: 100 * time.Millisecond,
			ChangeCheck: 100 * time.Millisecond, ID: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	m, err := streams.Open(context.Background(), streams.Config{URL: srv.URL(db), Brokers: brokers, Logger: testLogger(t),
		Tick: 100 * time.Millisecond, Idle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	addr := serveProxy(t, db, planner.Options{Models: store}, catalog.BuiltinWithStreams(m))
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, modelSetup); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT * FROM flywheel.create_stream('ratings', topic => '%s', target => 'ratings')", streamTopic)); err != nil {
		t.Fatal(err)
	}
	scalar[int32](t, conn, fmt.Sprintf(refreshTrain, "'on_change'"))
	predict := "SELECT count(*) FROM recommend(4, 5, model => 'recs')"
	if n := scalar[int64](t, conn, predict); n != 0 {
		t.Fatalf("%d recommendations for user 4 before they rated anything", n)
	}
	produce(t, brokers, []byte(`{"user_id": 4, "product_id": 101, "rating": 5}`), []byte(`{"user_id": 4, "product_id": 102, "rating": 4}`))
	eventually(t, "a refreshed version trained on the streamed ratings", func() bool {
		return scalar[int64](t, conn, "SELECT count(*) FROM flywheel.model_versions WHERE model = 'recs' AND rows = 10") > 0
	})
	eventually(t, "a recommendation for user 4", func() bool { return scalar[int64](t, conn, predict) > 0 })
}

// TestStreamSoak streams a million events (100,000 with -short) through
// the Flywheel binary: every one is stored exactly once, and the
// process's peak resident memory (VmHWM) stays under 400 MiB. Measured:
// about 125 MiB for 100,000 events, 310-350 MiB for a million. With
// GODEBUG=gctrace=1 (and FLYWHEEL_TEST_LOGDIR to keep the log) the live
// heap is about 145 MB while a backlog is worked off, whatever its
// length (per partition: a fetch buffer and a batch of MaxBatch decoded
// rows), and 30 MB once caught up; RSS follows Go's heap goal, twice
// the live heap.
func TestStreamSoak(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	const maxRSS = 400 << 20
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	bin := buildFlywheel(t)
	p := startFlywheel(t, bin, db, brokers, "soak")
	ctx := context.Background()
	through, err := pgx.Connect(ctx, pgURL(p.addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer through.Close(ctx)
	for _, sql := range []string{streamTable,
		fmt.Sprintf("SELECT * FROM flywheel.create_stream('clicks', topic => '%s', target => 'events', mapping => '%s')", streamTopic, streamMapping),
		"SELECT * FROM flywheel.create_aggregate('user_totals', 'clicks', group_by => 'customer_id', aggregates => 'count(*), sum(amount), max(event_time)')",
	} {
		if _, err := through.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(streamTopic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const chunk = 50000
	for i := 1; i <= total; i += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for j := i; j < i+chunk && j <= total; j++ {
			recs = append(recs, &kgo.Record{Value: event(j)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	direct, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	consumedAll(t, direct, "clicks", int64(total))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var hwm int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &hwm)
		}
	}
	t.Logf("%d events; the Flywheel's peak RSS %d MiB", total, hwm>>10)
	if hwm<<10 > maxRSS || hwm == 0 {
		t.Fatalf("peak RSS %d KiB, want below %d MiB", hwm, maxRSS>>20)
	}
	if n := scalar[int64](t, direct, "SELECT count(*) FROM events"); n != int64(total) {
		t.Fatalf("%d events stored, want %d", n, total)
	}
	if s := scalar[int64](t, direct, "SELECT sum(event_id + customer_id + product_id)::int8 FROM events"); s != checksum(total) {
		t.Fatalf("checksum %d, want %d", s, checksum(total))
	}
	checkAggregate(t, direct, "user_totals", "customer_id")
}

// TestStreamRebalance: a second Flywheel on the database takes its share
// of the partitions from the first; when the first stops, the second
// takes them all, from the stored offsets.
func TestStreamRebalance(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, a := streamProxy(t, db, brokers, "a")
	conn := connect(t, addr, db)
	ctx := context.Background()
	for _, sql := range []string{streamTable,
		fmt.Sprintf("SELECT * FROM flywheel.create_stream('clicks', topic => '%s', target => 'events', mapping => '%s')", streamTopic, streamMapping),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	eventually(t, "a to take the 3 partitions", func() bool { return a.Status().Partitions == 3 })
	var msgs [][]byte
	for i := 1; i <= 300; i++ {
		msgs = append(msgs, event(i))
	}
	produce(t, brokers, msgs[:100]...)
	consumedAll(t, conn, "clicks", 100)
	b, err := streams.Open(ctx, streams.Config{URL: srv.URL(db), Brokers: brokers, ID: "b", Tick: 100 * time.Millisecond, Idle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	eventually(t, "a share for b", func() bool { return a.Status().Partitions == 2 && b.Status().Partitions == 1 })
	produce(t, brokers, msgs[100:200]...)
	consumedAll(t, conn, "clicks", 200)
	a.Close()
	eventually(t, "b to take every partition", func() bool { return b.Status().Partitions == 3 })
	produce(t, brokers, msgs[200:]...)
	consumedAll(t, conn, "clicks", 300)
	if n := scalar[int64](t, conn, "SELECT count(DISTINCT event_id) FROM events"); n != 300 {
		t.Fatalf("%d distinct events, want 300", n)
	}
	if n := scalar[int64](t, conn, "SELECT count(*) FROM events"); n != 300 {
		t.Fatalf("%d events, want 300", n)
	}
	if h := scalar[string](t, conn, "SELECT string_agg(DISTINCT holder, ',') FROM flywheel.streams WHERE stream = 'clicks'"); h != "b" {
		t.Fatalf("holders %q after a stopped, want b", h)
	}
}

// TestStreamPostgresRestart: a PostgreSQL of the test's own is killed
// (SIGKILL, crash recovery on restart) while events arrive, stays down a
// while, and comes back: the stream stops, resumes by itself, and every
// event is stored exactly once.
func TestStreamPostgresRestart(t *testing.T) {
	brokers := startBroker(t)
	ctx := context.Background()
	// Not t.TempDir: postgres runs as its own user and must reach the directory.
	dir, err := os.MkdirTemp("", "flywheel-streams-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pg, err := pgserver.Start(ctx, pgserver.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	url := pg.URL("postgres")
	m, err := streams.Open(ctx, streams.Config{URL: url, Brokers: brokers, ID: "p", Logger: testLogger(t),
		Tick: 100 * time.Millisecond, Idle: 300 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, streamTable); err != nil {
		t.Fatal(err)
	}
	// Declared directly: this test has no proxy in front of its PostgreSQL.
	if _, err := conn.Exec(ctx, `INSERT INTO flywheel.stream (name, topic, target, mapping) VALUES ('clicks', $1, 'events', $2)`, streamTopic, streamMapping); err != nil {
		t.Fatal(err)
	}
	const total = 30000
	var msgs [][]byte
	for i := 1; i <= total; i++ {
		msgs = append(msgs, event(i))
	}
	produce(t, brokers, msgs[:10000]...)
	eventually(t, "some events stored", func() bool { return scalar[int64](t, conn, "SELECT count(*) FROM events") > 0 })
	conn.Close(ctx)
	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	// Events keep arriving while PostgreSQL is down.
	produce(t, brokers, msgs[10000:20000]...)
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, msgs[20000:]...)
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	consumedAll(t, conn, "clicks", total)
	if n := scalar[int64](t, conn, "SELECT count(*) FROM events"); n != total {
		t.Fatalf("%d events stored, want %d", n, total)
	}
	if s := scalar[int64](t, conn, "SELECT sum(event_id + customer_id + product_id)::int8 FROM events"); s != checksum(total) {
		t.Fatalf("checksum %d, want %d", s, checksum(total))
	}
}

// TestStreamMissingTopic: a stream whose topic does not exist says so in
// flywheel.streams, and starts once the topic is there.
func TestStreamMissingTopic(t *testing.T) {
	brokers := startBroker(t)
	db := srv.NewDatabase(t)
	addr, _ := streamProxy(t, db, brokers, "t")
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE TABLE later (user_id integer)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT * FROM flywheel.create_stream('later', topic => 'later', target => 'later')"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing topic reported", func() bool {
		return scalar[int64](t, conn, `SELECT count(*) FROM flywheel.streams WHERE stream = 'later' AND partition IS NULL AND last_error LIKE '%topic "later"%'`) == 1
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic("later"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "later"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(`{"user_id": 7}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the row from the new topic", func() bool { return scalar[int64](t, conn, "SELECT count(*) FROM later WHERE user_id = 7") == 1 })
	if e := scalar[*string](t, conn, "SELECT last_error FROM flywheel.stream WHERE name = 'later'"); e != nil {
		t.Fatalf("last_error %q after the topic appeared", *e)
	}
}
