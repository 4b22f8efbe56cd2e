// Package pgtest starts a throwaway PostgreSQL for a test package and hands
// each test its own database.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL started for one test package.
type Server struct {
	*pgserver.Server
	dir string
	seq atomic.Int64
}

// Start runs initdb into a fresh temporary directory and starts postgres on
// a free port, listening on 127.0.0.1 and a unix socket. Call it from
// TestMain; a missing PostgreSQL is an error, never a skip.
func Start() (*Server, error) {
	dir, err := os.MkdirTemp("", "flywheel-pgtest-")
	if err != nil {
		return nil, err
	}
	// The postgres user must be able to enter the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgserver.Start(ctx, pgserver.Config{DataDir: filepath.Join(dir, "data"), ListenTCP: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Server{Server: srv, dir: dir}, nil
}

// Main is a TestMain body: start the server, run the tests, stop it.
func Main(m *testing.M, srv **Server) {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// Close stops the server and removes its files.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// NewDatabase creates a database for one test and drops it when the test
// ends. It returns the database's name.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.seq.Add(1), sanitize(t.Name()))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return name
}

// Exec runs statements directly on a database, failing the test on error.
func (s *Server) Exec(t testing.TB, database string, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL(database))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

func sanitize(name string) string {
	name = strings.ToLower(name)
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}
