package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The demo's event loop: serve --demo runs an in-process Kafka-protocol
// broker (franz-go's kfake) with the topic user-behavior and a stream of
// it into the demo's events table, so the loop runs with no external
// services; demo produce publishes simulated behaviour to it.

const (
	demoBrokerAddr = "127.0.0.1:9092"
	demoTopic      = "user-behavior"
	demoStream     = "user_behavior"
)

// demoMapping maps the events table's columns to the messages' fields
// (the reference architecture's JSON, plus an event_id).
const demoMapping = `{"event_id": "event_id", "customer_id": "user_id", "event_type": "event", "product_id": "item_id", "event_time": "timestamp"}`

// startDemoBroker starts the embedded broker, its log kept in dir so that
// after a restart the stream's stored offsets still exist on it.
func startDemoBroker(log *slog.Logger, dir string) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.Ports(9092), kfake.SeedTopics(3, demoTopic), kfake.AllowAutoTopicCreation(), kfake.DataDir(dir))
	if err != nil {
		return nil, fmt.Errorf("embedded Kafka broker on %s: %w", demoBrokerAddr, err)
	}
	log.Info("embedded Kafka broker running", "addr", demoBrokerAddr, "topic", demoTopic)
	return c, nil
}

// createDemoStream declares the demo stream unless it exists. It uses
// the Flywheel's --kafka-brokers (the embedded broker).
func createDemoStream(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO flywheel.stream (name, topic, target, mapping, start)
SELECT $1, $2, 'public.events'::regclass, $3::jsonb, 'latest' WHERE to_regclass('public.events') IS NOT NULL
ON CONFLICT (name) DO NOTHING`, demoStream, demoTopic, demoMapping)
	return err
}

// demoEvent is one simulated behaviour event.
type demoEvent struct {
	EventID   int64  `json:"event_id"`
	UserID    int    `json:"user_id"`
	Event     string `json:"event"`
	ItemID    int    `json:"item_id"`
	Timestamp string `json:"timestamp"`
}

// demoProduce is `flywheel demo produce`.
func demoProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flywheel demo produce", flag.ContinueOnError)
	rate := fs.Int("rate", 100, "events per second")
	count := fs.Int64("count", 0, "stop after this many events (0: until interrupted)")
	brokers := fs.String("brokers", demoBrokerAddr, "Kafka brokers, host:port,...")
	topic := fs.String("topic", demoTopic, "the topic")
	customers := fs.Int("customers", 1000, "customer ids are 1..N (the demo warehouse at scale 1 has 1,000)")
	products := fs.Int("products", 200, "product ids are 1..N (scale 1 has 200)")
	seed := fs.Uint64("seed", 1, "random seed")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: flywheel demo produce [flags]\n\nPublishes simulated behaviour events (JSON: event_id, user_id, event, item_id, timestamp)\nto the topic that serve --demo streams into the events table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *rate < 1 {
		return fmt.Errorf("--rate must be at least 1")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitList(*brokers)...), kgo.DefaultProduceTopic(*topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(*seed, 13))
	kinds := []string{"view", "view", "view", "click", "click", "cart", "purchase"}
	// Ids after the loaded events' (which are small), unique per run.
	id := time.Now().UnixMicro()
	var sent int64
	errs := make(chan error, 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for *count == 0 || sent < *count {
		select {
		case <-ctx.Done():
			return cl.Flush(context.Background())
		case err := <-errs:
			return fmt.Errorf("producing: %w", err)
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*float64(*rate)) - sent
		for ; due > 0 && (*count == 0 || sent < *count); due-- {
			id++
			b, _ := json.Marshal(demoEvent{EventID: id, UserID: 1 + rng.IntN(*customers), Event: kinds[rng.IntN(len(kinds))],
				ItemID: 1 + rng.IntN(*products), Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05.000")})
			cl.Produce(ctx, &kgo.Record{Value: b}, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
			sent++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d events to %s\n", sent, *topic)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
