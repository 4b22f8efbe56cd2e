package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkStreamIngest measures events/s from the embedded broker (kfake,
// 3 partitions) into PostgreSQL through a stream, without and with one
// running aggregate, against the ceiling: plain COPY of the same rows
// into the same table. Each op ingests benchEvents events, produced
// beforehand (outside the timer); the clock runs from create_stream until
// the stored offsets cover every event.
//
//	go test ./internal/e2e -run '^$' -bench StreamIngest -benchtime 3x
func BenchmarkStreamIngest(b *testing.B) {
	const benchEvents = 100000
	brokers := startBroker(b)
	db := srv.NewDatabase(b)
	addr, _ := streamProxy(b, db, brokers, "bench")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL(addr, db))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, streamTable); err != nil {
		b.Fatal(err)
	}
	msgs := make([][]byte, benchEvents)
	for i := range msgs {
		msgs[i] = event(i + 1)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := 0
	// topic makes a fresh topic holding every event.
	topic := func() string {
		topics++
		name := fmt.Sprintf("bench-%d", topics)
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, name); err != nil {
			b.Fatal(err)
		}
		recs := make([]*kgo.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = &kgo.Record{Topic: name, Value: m}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return name
	}
	reset := func() {
		for _, sql := range []string{"TRUNCATE events", "DELETE FROM flywheel.stream", "DROP TABLE IF EXISTS user_totals", "VACUUM ANALYZE events"} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
	}
	stored := func() int64 {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT coalesce(sum("offset"), 0)::int8 FROM flywheel.streams WHERE stream = 's'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	stream := func(b *testing.B, aggregate bool) {
		for b.Loop() {
			b.StopTimer()
			reset()
			name := topic()
			b.StartTimer()
			if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT * FROM flywheel.create_stream('s', topic => '%s', target => 'events', mapping => '%s')", name, streamMapping)); err != nil {
				b.Fatal(err)
			}
			if aggregate {
				if _, err := conn.Exec(ctx, "SELECT * FROM flywheel.create_aggregate('user_totals', 's', group_by => 'customer_id', aggregates => 'count(*), sum(amount), max(event_time)')"); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Minute)
			for stored() < benchEvents {
				if time.Now().After(deadline) {
					b.Fatalf("after 10 minutes %d of %d events stored", stored(), benchEvents)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("copy", func(b *testing.B) {
		// The rows as the stream stores them, in COPY's text format.
		var data bytes.Buffer
		for _, m := range msgs {
			var e map[string]any
			json.Unmarshal(m, &e)
			fmt.Fprintf(&data, "%v\t%v\t%v\t%v\t%v\t%v+00\n", e["id"], e["user_id"], e["event"], e["item_id"], e["amount"], e["timestamp"])
		}
		for b.Loop() {
			b.StopTimer()
			reset()
			b.StartTimer()
			if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(data.Bytes()),
				"COPY events (event_id, customer_id, event_type, product_id, amount, event_time) FROM STDIN"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("stream", func(b *testing.B) { stream(b, false) })
	b.Run("stream+aggregate", func(b *testing.B) { stream(b, true) })
}

// BenchmarkStreamLag produces 10,000 events/s for 3 s and reports the
// lag from produce to the row's insertion (clock_timestamp() in the
// batch's transaction, a few milliseconds before its commit): p50, p99
// and max in milliseconds.
//
//	go test ./internal/e2e -run '^$' -bench StreamLag -benchtime 1x
func BenchmarkStreamLag(b *testing.B) {
	const rate, seconds = 10000, 3
	brokers := startBroker(b)
	db := srv.NewDatabase(b)
	addr, _ := streamProxy(b, db, brokers, "lag")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL(addr, db))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"CREATE TABLE lag (id bigint NOT NULL, sent timestamptz NOT NULL, received timestamptz NOT NULL DEFAULT clock_timestamp())",
		fmt.Sprintf("SELECT * FROM flywheel.create_stream('lag', topic => '%s', target => 'lag', start => 'latest')", streamTopic),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	var parts int64
	for deadline := time.Now().Add(time.Minute); parts < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the stream did not take its partitions")
		}
		conn.QueryRow(ctx, `SELECT count("offset") FROM flywheel.streams WHERE stream = 'lag'`).Scan(&parts)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(streamTopic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var p50, p99, pmax float64
	for b.Loop() {
		if _, err := conn.Exec(ctx, "TRUNCATE lag"); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		sent := 0
		for time.Since(start) < seconds*time.Second {
			due := int(time.Since(start).Seconds()*rate) - sent
			for ; due > 0; due-- {
				sent++
				v := fmt.Appendf(nil, `{"id": %d, "sent": "%s"}`, sent, time.Now().UTC().Format(time.RFC3339Nano))
				cl.Produce(ctx, &kgo.Record{Value: v}, nil)
			}
			time.Sleep(time.Millisecond)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			var n int
			conn.QueryRow(ctx, "SELECT count(*) FROM lag").Scan(&n)
			if n >= sent {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events after a minute", n, sent)
			}
		}
		if err := conn.QueryRow(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l)
FROM (SELECT extract(epoch FROM received - sent) * 1000 AS l FROM lag) x`).Scan(&p50, &p99, &pmax); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(pmax, "max-ms")
}
