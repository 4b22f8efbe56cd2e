package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A non-loopback --http without --http-auth is refused before anything
// starts (no PostgreSQL is started for it).
func TestServeRefusesOpenStatusPage(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--http", "0.0.0.0:0", "--data-dir", t.TempDir()}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--http-auth") {
		t.Fatalf("serve --http 0.0.0.0:0: %v\n%s", err, out.String())
	}
	err = run(context.Background(), []string{"serve", "--http", "0.0.0.0:0", "--http-auth", "nocolon", "--data-dir", t.TempDir()}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "user:password") {
		t.Fatalf("serve --http-auth nocolon: %v", err)
	}
}

// serve wires the status page, /metrics and the health checks to the
// proxy it runs.
func TestServeStatusPage(t *testing.T) {
	dir, err := os.MkdirTemp("", "flywheel-status-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, httpPort := freePortT(t), freePortT(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--log-level", "warn"}, &out, &out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, out.String())
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("/readyz never answered 200 (%v)\n%s", err, out.String())
		}
	}
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&application_name=cmd-test", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{{"/", "cmd-test"}, {"/metrics", "flywheel_sessions 1"},
		{"/metrics", "flywheel_memory_limit_bytes "}, {"/healthz", "ok"}} {
		path, want := c.path, c.want
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, want %q in\n%s", path, resp.StatusCode, want, b)
		}
	}
}

// syncBuffer is a bytes.Buffer that serve's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
