package wire_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/clients"
	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestPSQL(t *testing.T) {
	url, _ := proxyURL(t)
	script := `CREATE TABLE items (id int PRIMARY KEY, label text);
INSERT INTO items VALUES (1, 'one'), (2, 'two');
\d items
SELECT 1/0;
SELECT count(*) AS n FROM items;
`
	out, err := clients.PSQL(t, url, script)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	for _, want := range []string{`Table "public.items"`, "id|integer", "ERROR:  division by zero", "n\n2\n(1 row)"} {
		if !strings.Contains(out, want) {
			t.Errorf("psql output lacks %q:\n%s", want, out)
		}
	}
	// A multi-statement string in one -c, and \copy both ways.
	dir := t.TempDir()
	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte("3,three\n4,four\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outCSV := filepath.Join(dir, "out.csv")
	out, err = clients.PSQL(t, url, "",
		"-c", "INSERT INTO items VALUES (5, 'five'); SELECT max(id) FROM items",
		"-c", `\copy items FROM '`+csv+`' WITH (FORMAT csv)`,
		"-c", `\copy (SELECT * FROM items ORDER BY id) TO '`+outCSV+`' WITH (FORMAT csv)`)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if !strings.Contains(out, "max\n5") || !strings.Contains(out, "COPY 2") {
		t.Fatalf("psql output:\n%s", out)
	}
	got, err := os.ReadFile(outCSV)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "1,one\n2,two\n3,three\n4,four\n5,five\n" {
		t.Fatalf("\\copy out: %q", got)
	}
}

func TestJDBC(t *testing.T) {
	db := srv.NewDatabase(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db)})
	srv.Exec(t, db, "CREATE TABLE people (id int PRIMARY KEY, name text)")
	url := fmt.Sprintf("jdbc:postgresql://%s/%s?user=postgres&prepareThreshold=5", addr, db)
	out := clients.JDBC(t, url, `batch people 100
prepare 10 SELECT id, name FROM people WHERE id = ?
tables peop%
columns people
query SELECT 1/0
query SELECT count(*) FROM people
`)
	want := []string{"batched 100"}
	for i := 1; i <= 10; i++ {
		want = append(want, fmt.Sprintf("%d\trow %d", i, i), "(1 rows)")
	}
	want = append(want, "people", "id:int4", "name:text", "ERROR 22012 ERROR: division by zero", "100", "(1 rows)")
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("JDBC output:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
}

func TestTLS(t *testing.T) {
	db := srv.NewDatabase(t)
	cert := testCertificate(t)
	addr := proxy(t, wire.Config{Upstream: srv.URL(db), TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	ctx := context.Background()
	c := connect(t, fmt.Sprintf("postgres://postgres@%s/%s?sslmode=require", addr, db))
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatal("connection is not TLS")
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 40 + $1::int", 2).Scan(&n); err != nil || n != 42 {
		t.Fatalf("query over TLS: %d %v", n, err)
	}
	// psql over TLS too.
	out, err := clients.PSQL(t, fmt.Sprintf("postgres://postgres@%s/%s?sslmode=require", addr, db), "", "-c", "SELECT 'tls ok'")
	if err != nil || !strings.Contains(out, "tls ok") {
		t.Fatalf("psql over TLS: %v\n%s", err, out)
	}
}

func testCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestUpstreamDeath(t *testing.T) {
	// A PostgreSQL of this test's own: it gets killed.
	dir, err := os.MkdirTemp("", "flywheel-death-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pg, err := pgserver.Start(ctx, pgserver.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	addr := proxy(t, wire.Config{Upstream: pg.URL("postgres")})
	url := clientURL(addr, "postgres", "postgres")
	victim := connect(t, url)
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		if err := waitActive(ctx, pg.URL("postgres"), "SELECT pg_sleep(30)"); err != nil {
			t.Error(err)
		}
		pg.Kill()
	}()
	_, err = victim.Exec(ctx, "SELECT pg_sleep(30)")
	var pgErr *pgconn.PgError
	if err == nil {
		t.Fatal("query survived the upstream's death")
	}
	if errors.As(err, &pgErr) && pgErr.Code[:2] != "08" && pgErr.Code[:2] != "57" {
		t.Fatalf("unexpected error class: %v", err)
	}
	// New sessions fail clearly while it is down...
	_, err = pgx.Connect(ctx, url)
	if !errors.As(err, &pgErr) || pgErr.Code != "08006" {
		t.Fatalf("connect while upstream is down: want 08006, got %v", err)
	}
	// ...and work again once it is back.
	<-killed
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	c := connect(t, url)
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
