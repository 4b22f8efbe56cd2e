package status_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/demo"
	"github.com/jackc/pgx/v5"
)

// updateScreenshot rewrites the README's screenshot from the demo:
//
//	go test ./status -run StatusScreenshot -update-screenshot
var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/status.png from the demo warehouse with the loop running")

// chromium finds Debian's chromium (scripts/deps installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (scripts/deps installs it)")
	return ""
}

// headless runs chromium on url with args and returns its stdout.
func headless(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// A profile of its own: concurrent runs must not share one.
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=1200,1600"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// The page as a browser renders it: the DOM has the models and their
// plots, and the screenshot is a real picture, not a blank page.
func TestStatusScreenshot(t *testing.T) {
	bin := chromium(t)
	s := startStack(t, srv.NewDatabase(t), stackOptions{refreshWorkers: 1})
	out := filepath.Join(t.TempDir(), "page.png")
	if *updateScreenshot {
		demoLoop(t, s)
		out = filepath.Join("..", "docs", "status.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		trainModels(t, s.connect(t, "status-test-trainer"))
	}

	dom := string(headless(t, bin, s.httpURL+"/", "--dump-dom"))
	for _, want := range []string{"segments", "recs", "<svg", "<polyline class=\"holdout\" points=\""} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, `points=""`) {
		t.Error("an empty plot")
	}
	// The demo's trial is judged before the screenshot: recs's plot has
	// the versions' online hit rates too.
	if *updateScreenshot && (!strings.Contains(dom, `<polyline class="online" points="`) || !strings.Contains(dom, "online hit rate")) {
		t.Error("the rendered DOM lacks the judged trial's online series")
	}

	headless(t, bin, s.httpURL+"/", "--screenshot="+out)
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 1600 {
		t.Errorf("screenshot is %v, want 1200x1600", b)
	}
	// Text, tables and plots give many colours; a blank or error page a
	// handful.
	if n := colours(img); n < 50 {
		t.Errorf("the screenshot has %d colours: blank?", n)
	}
	t.Logf("screenshot: %s", out)
}

func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}

// demoLoop loads the demo warehouse and turns the loop: models trained
// and retrained on it, one refreshed in the background, one whose refresh
// fails, and a few client sessions, as in a running deployment.
func demoLoop(t *testing.T, s *stack) {
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, srv.URL(s.db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Load(ctx, direct, demo.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	direct.Close(ctx)
	conn := s.connect(t, "flywheel-demo")
	for _, k := range []int{4, 8, 12, 16} {
		run(t, conn, fmt.Sprintf(`SELECT * FROM flywheel.train('recs', 'recommend',
	(SELECT customer_id, product_id, rating FROM fact_ratings), method => 'nmf', k => %d, holdout => 0.2, promote => 'if_better')`, k))
	}
	for _, k := range []int{2, 3, 4, 5, 6} {
		run(t, conn, fmt.Sprintf(`SELECT * FROM flywheel.train('segments', 'kmeans',
	(SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer), k => %d, scale => 'standard', holdout => 0.2, promote => 'if_better')`, k))
	}
	for _, alpha := range []string{"0.1", "0.01", "0.001"} {
		// Standardised features: SGD's default step suits them.
		run(t, conn, `SELECT * FROM flywheel.train('spend', 'sgd_regress',
	(SELECT (purchase_frequency - avg(purchase_frequency) OVER ()) / stddev(purchase_frequency) OVER (),
		(last_purchase_days_ago - avg(last_purchase_days_ago) OVER ()) / stddev(last_purchase_days_ago) OVER (),
		avg_spend FROM dim_customer ORDER BY customer_id), alpha => `+alpha+`, holdout => 0.2)`)
	}
	// The loop: segments retrains every few seconds in the background; a
	// model over a table that then goes away fails its refreshes.
	run(t, conn, `SELECT * FROM flywheel.train('segments', 'kmeans',
	(SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer), k => 4, scale => 'standard', holdout => 0.2,
	promote => 'if_better', refresh => '3 seconds')`)
	run(t, conn, `CREATE TABLE promo_clicks AS SELECT customer_id, count(*)::float8 AS clicks FROM events WHERE event_type = 'click' GROUP BY 1`)
	run(t, conn, `SELECT * FROM flywheel.train('promo', 'kmeans', (SELECT customer_id, clicks FROM promo_clicks), k => 3, holdout => 0.2, refresh => '2 seconds')`)
	run(t, conn, `DROP TABLE promo_clicks`)
	// An online trial: a challenger serves 30% of the customers, their
	// clicks come back, and after its window the worker judges it.
	run(t, conn, `CREATE TABLE web_clicks (customer_id int, product_id int, clicked_at timestamptz)`)
	run(t, conn, `SELECT * FROM flywheel.train('recs', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings),
	method => 'nmf', k => 24, holdout => 0.2, promote => 'if_better_online', traffic => 0.3,
	events => (SELECT customer_id, product_id, clicked_at FROM web_clicks), within => '4 seconds')`)
	run(t, conn, `SELECT count(*) FROM generate_series(1, 400) u CROSS JOIN LATERAL recommend(u, 5, model => 'recs', log => true) x`)
	run(t, conn, `INSERT INTO web_clicks SELECT user_key::int, item::int, served_at + interval '1 second' FROM flywheel.decisions
	WHERE rank = 1 AND (version = 5 OR user_key::int % 5 = 0)`)
	// Calls from applications: a dashboard, an API, a session in a
	// transaction.
	for i := 0; i < 20; i++ {
		run(t, conn, `SELECT * FROM recommend($1::int, 5, model => 'recs')`, 1+i)
	}
	bi := s.connect(t, "metabase")
	run(t, bi, `SELECT * FROM kmeans((SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer), model => 'segments') LIMIT 5`)
	for i := 0; i < 3; i++ {
		api := s.connect(t, "recs-api")
		run(t, api, `SELECT * FROM recommend($1::int, 10, model => 'recs')`, 100+i)
	}
	tx := s.connect(t, "psql")
	run(t, tx, "BEGIN")
	run(t, tx, "SELECT count(*) FROM fact_sales")
	// Long enough for a refresh of each policy.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var refreshed, failed int
		if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE refreshed_by IS NOT NULL AND status <> 'failed'),
	count(*) FILTER (WHERE refreshed_by IS NOT NULL AND status = 'failed') FROM flywheel.model_versions`).Scan(&refreshed, &failed); err != nil {
			t.Fatal(err)
		}
		var judged bool
		if err := conn.QueryRow(ctx, `SELECT count(*) > 0 FROM flywheel.trials WHERE decided_at IS NOT NULL`).Scan(&judged); err != nil {
			t.Fatal(err)
		}
		if refreshed >= 2 && failed >= 1 && judged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d refreshed versions, %d failed refreshes, trial judged %v", refreshed, failed, judged)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
