package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "flywheel serve") {
		t.Fatalf("help: %s", out.String())
	}
	err := run(context.Background(), []string{"serve", "--help"}, &out, &errOut)
	if !errors.Is(err, errHelp) || !strings.Contains(errOut.String(), "--upstream") && !strings.Contains(errOut.String(), "-upstream") {
		t.Fatalf("serve --help: %v\n%s", err, errOut.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestEnvironmentFlags(t *testing.T) {
	t.Setenv("FLYWHEEL_LISTEN", "127.0.0.1:7000")
	t.Setenv("FLYWHEEL_MAX_CONNECTIONS", "7")
	var f serveFlags
	fs := newServeFlagSet(&f)
	if err := parseFlags(fs, []string{"--max-connections", "9"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if f.listen != "127.0.0.1:7000" || f.maxConns != 9 {
		t.Fatalf("listen %q (from the environment), max-connections %d (command line wins)", f.listen, f.maxConns)
	}
	// The planner's byte cap has a flag: its 53200 error's HINT names it.
	if err := parseFlags(fs, []string{"--max-input-bytes", "4096", "--max-input-rows", "12"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if o := f.plannerOptions(nil); o.MaxInputBytes != 4096 || o.MaxInputRows != 12 {
		t.Fatalf("planner options %+v, want MaxInputBytes 4096 and MaxInputRows 12", o)
	}
	t.Setenv("FLYWHEEL_MAX_CONNECTIONS", "lots")
	if err := parseFlags(newServeFlagSet(&serveFlags{}), nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "FLYWHEEL_MAX_CONNECTIONS") {
		t.Fatalf("bad environment value: %v", err)
	}
}

// TestServeManaged runs `flywheel serve` with no upstream twice on the same
// data directory: it initialises a managed PostgreSQL, serves, stops it on
// shutdown (no orphan), and reuses the data on the next start.
func TestServeManaged(t *testing.T) {
	dir, err := os.MkdirTemp("", "flywheel-serve-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for round := 0; round < 2; round++ {
		port := freePortT(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn"}, &out, &out)
		}()
		url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		var conn *pgx.Conn
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			if conn, err = pgx.Connect(context.Background(), url); err == nil {
				break
			}
			if time.Since(start) > 60*time.Second {
				cancel()
				t.Fatalf("serve never answered: %v\n%s", err, out.String())
			}
		}
		if round == 0 {
			_, err = conn.Exec(context.Background(), "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
		} else {
			var x int
			err = conn.QueryRow(context.Background(), "SELECT x FROM kept").Scan(&x)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var stubs int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_proc WHERE pronamespace = 'flywheel'::regnamespace").Scan(&stubs); err != nil || stubs < 8 {
			t.Fatalf("stubs: %d %v", stubs, err)
		}
		conn.Close(context.Background())
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v\n%s", err, out.String())
		}
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); !os.IsNotExist(err) {
			t.Fatalf("postgres still running after serve returned (postmaster.pid: %v)", err)
		}
	}
}

func freePortT(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
