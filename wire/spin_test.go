package wire_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
)

// TestBusyPolling runs request/response traffic and a large pipeline
// through a session that busy-polls: the spinner relays the client's plain
// requests itself, answers stay right, and a pipeline whose answers fill
// the sockets both ways still completes (the spinner releases the client
// goroutine before any write that would block).
func TestBusyPolling(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("busy polling needs two Ps")
	}
	db := srv.NewDatabase(t)
	s, addr := proxyServer(t, wire.Config{Upstream: srv.URL(db)})
	ctx := context.Background()
	c := connect(t, clientURL(addr, "postgres", db))

	for i := 0; i < 300; i++ {
		var got int
		mode := pgx.QueryExecModeSimpleProtocol
		if i%2 == 1 {
			mode = pgx.QueryExecModeCacheStatement
		}
		if err := c.QueryRow(ctx, "SELECT $1::int + 1", mode, i).Scan(&got); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if got != i+1 {
			t.Fatalf("query %d: got %d", i, got)
		}
	}
	if n := wire.BusyPollInlined(s); n == 0 {
		t.Errorf("no client batch was relayed by the spinning upstream goroutine")
	}

	b := &pgx.Batch{}
	for i := 0; i < 200; i++ {
		b.Queue("SELECT repeat(chr(65 + $1::int % 26), 10000) FROM generate_series(1, 20)", i)
	}
	res := c.SendBatch(ctx, b)
	for i := 0; i < 200; i++ {
		rows, err := res.Query()
		if err != nil {
			t.Fatalf("batch query %d: %v", i, err)
		}
		n := 0
		want := strings.Repeat(string(rune('A'+i%26)), 10000)
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != want {
				t.Fatalf("batch query %d: wrong value", i)
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 20 {
			t.Fatalf("batch query %d: %d rows, %v", i, n, err)
		}
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBusyPollingSkipsModelWork: a session whose statements call model
// functions does not spin (its round trips are the proxy's own computing,
// which a spinner slows), and spins again once it runs plain statements.
func TestBusyPollingSkipsModelWork(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("busy polling needs two Ps")
	}
	db := srv.NewDatabase(t)
	s, addr := proxyServer(t, wire.Config{Upstream: srv.URL(db), Planner: planner.New(catalog.Builtin(), planner.Options{})})
	ctx := context.Background()
	c := connect(t, clientURL(addr, "postgres", db))
	modes := [2]pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}

	before := wire.BusyPollSpins(s)
	for i := 0; i < 40; i++ {
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM kmeans((VALUES (1, 1.0), (2, 2.0), (3, 10.0)), 2)", modes[i%2]).Scan(&n); err != nil || n != 3 {
			t.Fatalf("model call %d: %d rows, %v", i, n, err)
		}
	}
	// The session's first read, before any statement, may spin.
	if d := wire.BusyPollSpins(s) - before; d > 2 {
		t.Errorf("40 model calls began %d spins, want none after the first", d)
	}

	before = wire.BusyPollSpins(s)
	for i := 0; i < 40; i++ {
		var got int
		if err := c.QueryRow(ctx, "SELECT $1::int + 1", modes[i%2], i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d: got %d, %v", i, got, err)
		}
	}
	if d := wire.BusyPollSpins(s) - before; d < 20 {
		t.Errorf("40 plain queries began %d spins, want one or more each", d)
	}
}
