package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

var srv *Server

func TestMain(m *testing.M) { Main(m, &srv) }

func TestDatabasePerTest(t *testing.T) {
	db := srv.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.TCPURL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var got string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != db {
		t.Fatalf("current_database() = %q, want %q", got, db)
	}
}
