package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/clients"
	"github.com/flywheeldb/flywheel/internal/datadriven"
	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv) }

// startProxy runs Flywheel with the built-in catalog in front of a fresh
// database (stubs installed, as serve does) and returns the proxy's
// address and the database's name.
func startProxy(t testing.TB) (string, string) {
	t.Helper()
	db := srv.NewDatabase(t)
	return serveProxy(t, db, planner.Options{}, catalog.Builtin()), db
}

// startProxyWithCap serves a database through a proxy whose calls may
// read at most maxRows input rows, and returns the client URL.
func startProxyWithCap(t testing.TB, db string, maxRows int64) (string, string) {
	addr := serveProxy(t, db, planner.Options{MaxInputRows: maxRows}, catalog.Builtin())
	return addr, pgURL(addr, db)
}

func serveProxy(t testing.TB, db string, opts planner.Options, cat *catalog.Catalog) string {
	t.Helper()
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, direct, func(tx pgx.Tx) error {
		for _, stmt := range catalog.StubDDL(cat) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	direct.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Models == nil {
		store, err := models.Open(ctx, models.Config{URL: srv.URL(db), Decode: catalog.DecodeModel})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close) // after the proxy's cleanup below: cleanups run last first
		opts.Models = store
	}
	s, err := wire.NewServer(wire.Config{Upstream: srv.URL(db), Planner: planner.New(cat, opts)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

func pgURL(addr, db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", addr, db)
}

// TestGolden runs every golden file through every client.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../../testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			f, err := datadriven.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			runGolden(t, f)
		})
	}
}

func runGolden(t *testing.T, f *datadriven.File) {
	addr, db := startProxy(t)
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var jdbcScript strings.Builder
	var checked []datadriven.Case
	for _, c := range f.Cases {
		if len(c.Args) > 0 || c.Cmd != "exec" && c.Cmd != "query" && c.Cmd != "error" {
			t.Fatalf("%s:%d: unknown directive %q", f.Path, c.Line, strings.Join(append([]string{c.Cmd}, c.Args...), " "))
		}
		c.Input = strings.TrimSpace(c.Input)
		if c.Cmd == "exec" {
			if _, err := conn.Exec(ctx, c.Input).ReadAll(); err != nil {
				t.Fatalf("%s:%d: %v", f.Path, c.Line, err)
			}
			continue
		}
		want := c.Expected
		if c.Cmd == "error" {
			want = strings.SplitN(want, "\n", 2)[0]
		}
		check := func(client, got string) {
			t.Helper()
			if got != want {
				t.Errorf("%s:%d via %s:\n%s\ngot:\n%s\nwant:\n%s", f.Path, c.Line, client, c.Input, got, want)
			}
		}
		check("pgx simple protocol", simpleResult(ctx, conn, c.Input))
		check("pgx extended protocol (Parse, Describe, Bind)", preparedResult(ctx, conn, c.Input))
		check("psql", psqlResult(t, pgURL(addr, db), c.Input))
		jdbcScript.WriteString("table " + strings.Join(strings.Fields(c.Input), " ") + "\n")
		checked = append(checked, c)
	}
	if len(checked) == 0 {
		return
	}
	out := clients.JDBC(t, fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres", addr, db), jdbcScript.String())
	results := strings.Split(strings.TrimSuffix(out, "----\n"), "----\n")
	if len(results) != len(checked) {
		t.Fatalf("JDBC gave %d results for %d statements:\n%s", len(results), len(checked), out)
	}
	for i, c := range checked {
		got := strings.TrimSuffix(results[i], "\n")
		want := c.Expected
		if c.Cmd == "error" {
			want = strings.SplitN(want, "\n", 2)[0]
			if m := regexp.MustCompile(`^ERROR (\w+) `).FindStringSubmatch(got); m != nil {
				got = m[1]
			}
		}
		if got != want {
			t.Errorf("%s:%d via pgJDBC:\n%s\ngot:\n%s\nwant:\n%s", f.Path, c.Line, c.Input, got, want)
		}
	}
}

func formatResult(fields []pgconn.FieldDescription, rows [][][]byte) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(f.Name)
	}
	for _, r := range rows {
		b.WriteByte('\n')
		for i, v := range r {
			if i > 0 {
				b.WriteByte('|')
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.Write(v)
			}
		}
	}
	return b.String()
}

func errorCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return "client error: " + err.Error()
}

func simpleResult(ctx context.Context, conn *pgconn.PgConn, sql string) string {
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return errorCode(err)
	}
	last := res[len(res)-1]
	return formatResult(last.FieldDescriptions, last.Rows)
}

func preparedResult(ctx context.Context, conn *pgconn.PgConn, sql string) string {
	sd, err := conn.Prepare(ctx, "", sql, nil)
	if err != nil {
		return errorCode(err)
	}
	res := conn.ExecPrepared(ctx, "", nil, nil, nil).Read()
	if res.Err != nil {
		return errorCode(res.Err)
	}
	if len(sd.Fields) != len(res.FieldDescriptions) {
		return fmt.Sprintf("Describe gave %d columns, execution %d", len(sd.Fields), len(res.FieldDescriptions))
	}
	return formatResult(res.FieldDescriptions, res.Rows)
}

var psqlError = regexp.MustCompile(`(?m)^(?:psql:[^ ]* )?ERROR:  (\w{5}):`)

func psqlResult(t *testing.T, url, sql string) string {
	out, _ := clients.PSQL(t, url, sql+"\n", "-v", "VERBOSITY=verbose", "-P", "footer=off", "-P", "null=NULL")
	if m := psqlError.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return strings.TrimSuffix(out, "\n")
}
