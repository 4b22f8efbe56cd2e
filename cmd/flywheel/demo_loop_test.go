package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestDemoLoop runs `flywheel demo loop` on a small demo warehouse for a
// fixed seed (real PostgreSQL, the in-process proxy, pgx): the last
// version's hit rate beats the popularity baseline and the first version,
// the SVG parses, and flywheel.outcomes' numbers equal a hand-written SQL
// count over flywheel.decisions and events on the same database.
func TestDemoLoop(t *testing.T) {
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	db := pg.NewDatabase(t)
	ctx := context.Background()
	plot := filepath.Join(t.TempDir(), "loop.svg")
	args := []string{"demo", "loop", "--upstream", pg.URL(db), "--rounds", "5", "--customers", "200", "--seed", "1", "--plot", plot}
	var out bytes.Buffer
	if err := run(ctx, args, &out, &out); err != nil {
		t.Fatalf("demo loop: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	// The numbers, again from flywheel.outcomes, beside the hand-written
	// SQL, through a proxy of our own on the same database.
	addr, stop, err := startLoopProxy(ctx, pg.URL(db), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT o.version, o.decisions, o.hits, o.hit_rate, o.baseline_hits, o.baseline_hit_rate
FROM flywheel.outcomes('recs', events => (SELECT customer_id, product_id, event_time FROM events), within => '7 days') o
ORDER BY o.version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []loopRound
	for rows.Next() {
		var r loopRound
		var v int32
		if err := rows.Scan(&v, &r.Decisions, &r.Hits, &r.HitRate, &r.BaseHits, &r.BaseHitRate); err != nil {
			t.Fatal(err)
		}
		r.Version = int(v)
		got = append(got, r)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(got) != 5 {
		t.Fatalf("outcomes has %d versions, want 5 (one per week)", len(got))
	}

	// Hand-computed: a decision is a hit when its customer has an event on
	// its product after it was served and at most 7 days later; the
	// baseline serves each list (a customer's decisions of one call) the
	// most frequent products of events, ties by id, as many as the list
	// has, and counts their hits the same way. events.event_time is a
	// timestamp, read as UTC.
	want, err := conn.Query(ctx, `WITH d AS (
	SELECT version, user_key::int AS customer, item::int AS product, served_at FROM flywheel.decisions WHERE model = 'recs'),
lists AS (SELECT version, customer, served_at, count(*) AS k FROM d GROUP BY 1, 2, 3),
pop AS (SELECT product_id, row_number() OVER (ORDER BY count(*) DESC, product_id) AS pos FROM events GROUP BY product_id),
hits AS (SELECT d.version, count(*) AS decisions, count(*) FILTER (WHERE EXISTS (
		SELECT 1 FROM events e WHERE e.customer_id = d.customer AND e.product_id = d.product
		AND e.event_time AT TIME ZONE 'UTC' > d.served_at AND e.event_time AT TIME ZONE 'UTC' <= d.served_at + interval '7 days')) AS hits
	FROM d GROUP BY d.version),
base AS (SELECT l.version, count(*) FILTER (WHERE EXISTS (
		SELECT 1 FROM events e WHERE e.customer_id = l.customer AND e.product_id = p.product_id
		AND e.event_time AT TIME ZONE 'UTC' > l.served_at AND e.event_time AT TIME ZONE 'UTC' <= l.served_at + interval '7 days')) AS hits
	FROM lists l JOIN pop p ON p.pos <= l.k GROUP BY l.version)
SELECT hits.version, hits.decisions, hits.hits, base.hits FROM hits JOIN base USING (version) ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for want.Next() {
		var v int32
		var decisions, hits, baseHits int64
		if err := want.Scan(&v, &decisions, &hits, &baseHits); err != nil {
			t.Fatal(err)
		}
		if i >= len(got) {
			t.Fatalf("SQL has more versions than outcomes (%d)", len(got))
		}
		g := got[i]
		if g.Version != int(v) || g.Decisions != decisions || g.Hits != hits || g.BaseHits != baseHits ||
			g.HitRate != float64(hits)/float64(decisions) || g.BaseHitRate != float64(baseHits)/float64(decisions) {
			t.Errorf("version %d: outcomes says %d decisions, %d hits, %d baseline hits (rates %g, %g); SQL says version %d: %d, %d, %d",
				g.Version, g.Decisions, g.Hits, g.BaseHits, g.HitRate, g.BaseHitRate, v, decisions, hits, baseHits)
		}
		i++
	}
	if want.Err() != nil || i != len(got) {
		t.Fatalf("SQL gave %d versions, outcomes %d (%v)", i, len(got), want.Err())
	}

	// The loop learns: the last version beats the baseline and the first.
	first, last := got[0], got[len(got)-1]
	if !(last.HitRate > last.BaseHitRate) || !(last.HitRate > first.HitRate) {
		t.Errorf("hit rate: version %d %.4f (baseline %.4f); version %d %.4f: want the last above its baseline and above the first",
			last.Version, last.HitRate, last.BaseHitRate, first.Version, first.HitRate)
	}
	// The printed table is outcomes' numbers.
	for _, r := range got {
		line := " | " + strconv.FormatInt(r.Decisions, 10) + " | " + strconv.FormatInt(r.Hits, 10) + " | "
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), line) {
			t.Errorf("the printed table has no row with %q for version %d", line, r.Version)
		}
	}
	// Every decision is dated to its week, and came from the loop's sessions.
	var weeks, apps int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT served_at), count(DISTINCT application_name) FROM flywheel.decisions WHERE application_name = $1", loopApp).Scan(&weeks, &apps); err != nil || weeks != 5 || apps != 1 {
		t.Errorf("decisions: %d distinct served_at, %d application names from %s (%v); want 5 and 1", weeks, apps, loopApp, err)
	}

	checkSVG(t, plot, len(got))

	// A second run, through a running Flywheel (the proxy above), starts
	// over and prints the same table: deterministic.
	var again bytes.Buffer
	args = []string{"demo", "loop", "--flywheel", "postgres://postgres@" + addr + "/" + db + "?sslmode=disable",
		"--rounds", "5", "--customers", "200", "--seed", "1", "--plot", plot}
	if err := run(ctx, args, &again, &again); err != nil {
		t.Fatalf("demo loop again: %v\n%s", err, again.String())
	}
	if a, b := loopTable(out.String()), loopTable(again.String()); a != b || a == "" {
		t.Errorf("a second run printed another table:\n%s\nfirst:\n%s", b, a)
	}
	if !strings.Contains(again.String(), "starting over: dropped 5 versions of recs, 5000 decisions") {
		t.Errorf("the second run did not say it removed the first's rows:\n%s", again.String())
	}
}

// loopTable is the printed table: the lines from the header on.
func loopTable(s string) string {
	i := strings.Index(s, " week | version")
	j := strings.Index(s, "plot written")
	if i < 0 || j < i {
		return ""
	}
	return s[i:j]
}

// checkSVG parses the plot as XML and counts its two series' points.
func checkSVG(t *testing.T, path string, versions int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	polylines, circles := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			switch se.Name.Local {
			case "polyline":
				polylines++
			case "circle":
				circles++
			}
		}
	}
	if root != "svg" || polylines != 2 || circles != 2*versions {
		t.Errorf("%s: root <%s>, %d polylines, %d points; want <svg>, 2 and %d", path, root, polylines, circles, 2*versions)
	}
}
