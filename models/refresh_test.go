package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv) }

// openTest opens a store without a worker and a direct connection on a
// fresh database with a small ratings table.
func openTest(t *testing.T) (*Store, *pgx.Conn, pgxDB) {
	t.Helper()
	ctx := context.Background()
	db := srv.NewDatabase(t)
	srv.Exec(t, db, `CREATE TABLE ratings (user_id int, product_id int, rating int);
INSERT INTO ratings VALUES (1,101,5), (1,102,4), (2,101,4), (2,103,5), (3,102,2), (3,103,3)`)
	s, err := Open(ctx, Config{URL: srv.URL(db), Decode: catalog.DecodeModel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	conn, err := pgx.Connect(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return s, conn, pgxDB{conn.PgConn()}
}

const ratingsSQL = "SELECT user_id, product_id, rating FROM ratings"

func TestReadRelationThroughPgxDB(t *testing.T) {
	_, _, db := openTest(t)
	rel, err := catalog.ReadRelation(context.Background(), db, "SELECT user_id, product_id, nullif(rating, 3) AS rating FROM ratings ORDER BY user_id, product_id", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Rows() != 6 || len(rel.Columns) != 3 || rel.Columns[2].Name != "rating" || rel.Columns[2].Type != 23 {
		t.Fatalf("%d rows, columns %+v", rel.Rows(), rel.Columns)
	}
	if rel.Columns[1].Text(2) != "101" || !rel.Columns[2].Null(5) {
		t.Fatalf("values: %q, NULL %v", rel.Columns[1].Text(2), rel.Columns[2].Null(5))
	}
	_, err = catalog.ReadRelation(context.Background(), db, ratingsSQL, 5, 0)
	var ce *catalog.Error
	if !errors.As(err, &ce) || ce.Code != "53200" {
		t.Fatalf("over the row cap: %v", err)
	}
	// The connection is usable after the cap stopped a read.
	if _, err := catalog.ReadRelation(context.Background(), db, "SELECT 1 AS one", 0, 0); err != nil {
		t.Fatal(err)
	}
}

// policy trains version 1 as a user's train would and sets an hourly
// policy on it, and returns the policy as the worker reads it.
func policy(t *testing.T, s *Store, conn *pgx.Conn, db pgxDB) (*catalog.Refresh, *catalog.Relation) {
	t.Helper()
	ctx := context.Background()
	rel, err := catalog.ReadRelation(ctx, db, ratingsSQL, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &catalog.Refresh{Name: "recs", Kind: "recommend", Options: map[string]any{"method": "user_cf"}, Source: ratingsSQL,
		Inputs:  []catalog.InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 23}, {Name: "rating", Type: 23}},
		Promote: "always", Every: "1 hour"}
	first := *r
	tr, err := catalog.Retrain(ctx, &first, rel)
	if err != nil {
		t.Fatal(err)
	}
	tr.Refresh = nil // a user's train
	if _, err := s.Save(ctx, db, tr); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRefresh(ctx, db, "recs", r); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT generation, next_refresh, role, search_path FROM flywheel.model_refresh WHERE model = 'recs'").
		Scan(&r.Generation, &r.Due, &r.Role, &r.SearchPath); err != nil {
		t.Fatal(err)
	}
	return r, rel
}

func versions(t *testing.T, conn *pgx.Conn, status string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM flywheel.model_version WHERE model = 'recs' AND status = $1", status).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefreshStoredOnce: a refresh stores its version only while the
// policy is at the generation it read, so two runs of one due refresh
// (two Flywheels, or one that lost its lease) store one version.
func TestRefreshStoredOnce(t *testing.T) {
	s, conn, db := openTest(t)
	ctx := context.Background()
	p, rel := policy(t, s, conn, db)
	t1, err := catalog.Retrain(ctx, p, rel)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := catalog.Retrain(ctx, p, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, db, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, db, t2); !errors.Is(err, errStale) {
		t.Fatalf("the same due refresh stored twice: %v", err)
	}
	if n := versions(t, conn, "ready"); n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
	// A failure of the stale run is not recorded either.
	if s.recordFailed(ctx, t2, errors.New("boom")) {
		t.Fatal("a stale refresh's failure was recorded")
	}
	var gen int64
	if err := conn.QueryRow(ctx, "SELECT generation FROM flywheel.model_refresh WHERE model = 'recs'").Scan(&gen); err != nil {
		t.Fatal(err)
	}
	// The same failure twice: one failed version, two failures counted.
	for i := range 2 {
		p.Generation = gen + int64(i)
		if !s.recordFailed(ctx, &catalog.Trained{Name: "recs", Kind: "recommend", Refresh: p}, errors.New("boom")) {
			t.Fatal("a refresh's failure was not recorded")
		}
	}
	var failures int
	var last string
	if err := conn.QueryRow(ctx, "SELECT failures, last_error FROM flywheel.model_refresh WHERE model = 'recs'").Scan(&failures, &last); err != nil {
		t.Fatal(err)
	}
	if n := versions(t, conn, "failed"); n != 1 || failures != 2 || last != "boom" {
		t.Fatalf("%d failed versions, %d failures, last error %q; want 1, 2, boom", n, failures, last)
	}
	// A user's train ends the policy.
	if err := s.SetRefresh(ctx, db, "recs", nil); err != nil {
		t.Fatal(err)
	}
	p.Generation = gen + 2
	t3, _ := catalog.Retrain(ctx, p, rel)
	if _, err := s.Save(ctx, db, t3); !errors.Is(err, errStale) {
		t.Fatalf("a refresh of a removed policy: %v", err)
	}
}

// TestRefreshReadsAsTrainingRole: the input is read again as the role
// that set the policy, not as the store's own.
func TestRefreshReadsAsTrainingRole(t *testing.T) {
	s, conn, db := openTest(t)
	ctx := context.Background()
	p, _ := policy(t, s, conn, db)
	if _, err := conn.Exec(ctx, "CREATE ROLE refresh_reader"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	r := &refresher{s: s}
	if _, _, err := r.read(ctx, conn, p, nil); err != nil {
		t.Fatalf("as %s: %v", p.Role, err)
	}
	p.Role = "refresh_reader"
	if _, _, err := r.read(ctx, conn, p, nil); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("as a role without SELECT on the table: %v", err)
	}
	// The role does not outlive the read.
	var user string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user == "refresh_reader" {
		t.Fatalf("current_user after the read: %q, %v", user, err)
	}
}

// TestRefreshChargesMemory: a refresh's input is charged to the memory
// budget as it is read, and one that does not fit fails.
func TestRefreshChargesMemory(t *testing.T) {
	s, conn, db := openTest(t)
	ctx := context.Background()
	p, _ := policy(t, s, conn, db)
	r := &refresher{s: s}
	mem := membudget.New(1<<20, time.Millisecond)
	res := mem.Reserve()
	if _, _, err := r.read(ctx, conn, p, res); err != nil {
		t.Fatal(err)
	}
	if res.Held() == 0 || mem.Stats().Used != res.Held() {
		t.Fatalf("held %d, budget used %d: the input was not charged", res.Held(), mem.Stats().Used)
	}
	res.Release()
	tiny := membudget.New(10, time.Millisecond).Reserve()
	var ee *membudget.ExceededError
	if _, _, err := r.read(ctx, conn, p, tiny); !errors.As(err, &ee) {
		t.Fatalf("a refresh over the budget: %v", err)
	}
}
