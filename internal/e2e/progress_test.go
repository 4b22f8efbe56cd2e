package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/clients"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestTrainingProgress: a call that runs a while tells the client how it
// goes with NOTICEs (rows read, iterations, elapsed), through pgx and
// psql; here every report is sent (ProgressAfter < 0).
func TestTrainingProgress(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := serveProxy(t, db, planner.Options{ProgressAfter: -1}, catalog.Builtin())
	cfg, err := pgx.ParseConfig(pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Severity+" "+n.Message)
		mu.Unlock()
	}
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE r AS SELECT u, i, 1 + (u * i) % 5 AS v FROM generate_series(1, 60) u, generate_series(1, 30) i WHERE (u + i) % 4 = 0`); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		mu.Lock()
		notices = nil
		mu.Unlock()
		var v int32
		if err := conn.QueryRow(ctx, "SELECT version FROM flywheel.train('mf', 'recommend', (SELECT u, i, v FROM r), method => 'nmf', k => 3)", mode).Scan(&v); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := strings.Join(notices, "\n")
		mu.Unlock()
		for _, want := range []string{"NOTICE train: read 450 rows of input", "NOTICE train: fitting recommend model \"mf\" on 450 rows", "recommend: nmf iteration 1,", "NOTICE train: fitted in"} {
			if !strings.Contains(got, want) {
				t.Fatalf("%v: notices lack %q:\n%s", mode, want, got)
			}
		}
	}
	out, _ := clients.PSQL(t, pgURL(addr, db), "SELECT version FROM flywheel.train('cf', 'recommend', (SELECT u, i, v FROM r));\n")
	if !strings.Contains(out, "NOTICE:  train: fitting recommend model \"cf\" on 450 rows") {
		t.Fatalf("psql shows no progress:\n%s", out)
	}
}
