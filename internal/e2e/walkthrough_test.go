package e2e

import (
	"context"
	"os"
	"testing"

	"github.com/flywheeldb/flywheel/internal/demo"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestWalkthrough runs the README walkthrough (testdata/demo/walkthrough.sql)
// through the proxy against the demo warehouse at scale 1: every statement,
// the model functions' included, must give the documented shape and values.
func TestWalkthrough(t *testing.T) {
	addr, db := startProxy(t)
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Load(ctx, direct, demo.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	direct.Close(ctx)
	cases := walkthroughCases(t)
	conn, err := pgconn.Connect(ctx, pgURL(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	models := 0
	for _, c := range cases {
		if c.NeedsFlywheel {
			models++
		}
		if err := c.Run(ctx, conn); err != nil {
			t.Errorf("%s\n%v", c.SQL, err)
		}
	}
	if models < 6 {
		t.Fatalf("walkthrough has %d model-function statements, want one per function at least", models)
	}
}

// walkthroughCases is testdata/demo/walkthrough.sql, statement by statement.
func walkthroughCases(t *testing.T) []demo.Case {
	t.Helper()
	data, err := os.ReadFile("../../testdata/demo/walkthrough.sql")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := demo.ParseWalkthrough(data)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}
