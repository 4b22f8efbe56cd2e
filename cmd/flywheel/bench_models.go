package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/functions"
	"github.com/flywheeldb/flywheel/models"
	"github.com/jackc/pgx/v5"
)

// benchModels measures stored models end to end: training through
// flywheel.train against the one-shot calls (and scikit-learn's NMF),
// recommend(user, 10, model => ...) under pgbench against the one-shot call
// and a plain SELECT of the same shape direct to PostgreSQL (the floor),
// LATERAL recommend for 1,000 customers, and loading a model after a
// restart.
func benchModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flywheel bench models", flag.ContinueOnError)
	scale := fs.Int("scale", 50, "demo scale (1 = 1,000 customers; 50 = 50,000 customers, ~871,000 ratings)")
	dataDir := fs.String("data-dir", "", "PostgreSQL data directory to keep the demo in between runs (empty: a temporary one, loaded each run)")
	duration := fs.Duration("duration", 10*time.Second, "length of each pgbench run")
	clientList := fs.String("clients", "1,8", "pgbench client counts")
	modes := fs.String("modes", "extended,simple", "pgbench query modes")
	oneShot := fs.Bool("one-shot", true, "also run the one-shot recommend(..., ratings => (SELECT ...)) under pgbench")
	runs := fs.Int("runs", 5, "runs of the LATERAL, decode and cheap training measurements (the median is reported)")
	python := fs.String("python", "/usr/bin/python3", "Python with scikit-learn for the NMF reference (empty skips it)")
	cpuProfile := fs.String("cpu-profile", "", "pass --cpu-profile to the Flywheel under test (restarted ones write FILE.restart-<model>)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: flywheel bench models [flags]\n\nStarts a PostgreSQL with the demo warehouse and Flywheel (this binary), trains\nmodels through flywheel.train, and prints training times, pgbench latencies of\nrecommend(user, 10, model => ...) against the one-shot call and a direct plain\nSELECT, LATERAL recommend for 1,000 customers, and model load time after a restart.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	pgbench, dir, pg, stop, err := benchPostgres(ctx, "flywheel-bench-models-", *dataDir, map[string]string{"max_connections": "100", "shared_buffers": "256MB"})
	if err != nil {
		return err
	}
	defer stop()
	direct := pg.URL("postgres")
	start := time.Now()
	if err := loadDemo(ctx, direct, *scale, false, false, stdout); err != nil {
		return fmt.Errorf("demo load: %w", err)
	}
	fmt.Fprintf(stdout, "demo ready in %s\n", time.Since(start).Round(100*time.Millisecond))

	b := &modelBench{stdout: stdout, stderr: stderr, pgbench: pgbench, dir: dir, direct: direct, pgPort: pg.Port, runs: max(1, *runs)}
	if err := b.counts(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scale %d: %s customers (ids 1..%d), %s ratings, %d cores, load average %s\n\n",
		*scale, group(b.customers), b.maxUser, group(b.ratings), numCPU(), loadAverage())

	profile := func(suffix string) []string {
		if *cpuProfile == "" {
			return nil
		}
		return []string{"--cpu-profile", *cpuProfile + suffix}
	}
	fw, port, err := startFlywheel(ctx, direct, stderr, profile("")...)
	if err != nil {
		return err
	}
	defer func() {
		if fw != nil {
			fw.stop()
		}
	}()
	b.fwPort, b.fwPid = port, fw.pid()
	conn, err := pgx.Connect(ctx, b.fwURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	if err := b.training(ctx, conn, *python); err != nil {
		return err
	}
	var clients []int
	for _, cs := range strings.Split(*clientList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil {
			return fmt.Errorf("--clients: %w", err)
		}
		clients = append(clients, c)
	}
	if err := b.latency(ctx, strings.Split(*modes, ","), clients, *duration, *oneShot); err != nil {
		return err
	}
	if err := b.lateral(ctx, conn); err != nil {
		return err
	}
	conn.Close(ctx)
	fw.stop()
	fw = nil
	return b.restart(ctx, func(model string) (*flywheelProc, int, error) {
		return startFlywheel(ctx, direct, stderr, profile(".restart-"+model)...)
	})
}

type modelBench struct {
	stdout, stderr     io.Writer
	pgbench, dir       string
	direct             string
	pgPort, fwPort     int
	fwPid              int
	runs               int
	customers, ratings int64
	maxUser            int64
}

func (b *modelBench) fwURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", b.fwPort)
}

func (b *modelBench) counts(ctx context.Context) error {
	c, err := pgx.Connect(ctx, b.direct)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	err = c.QueryRow(ctx, "SELECT (SELECT count(*) FROM dim_customer), (SELECT max(customer_id) FROM dim_customer), (SELECT count(*) FROM fact_ratings)").
		Scan(&b.customers, &b.maxUser, &b.ratings)
	if err != nil {
		return fmt.Errorf("demo counts: %w", err)
	}
	return nil
}

// The demo's model inputs. sgd's features are scaled in SQL: SGD with the
// default learning rate diverges on raw day counts.
const (
	benchRatings  = "(SELECT customer_id, product_id, rating FROM fact_ratings)"
	benchSegments = "(SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer)"
	benchSGDTrain = "(SELECT purchase_frequency::float8, last_purchase_days_ago / 365.0, avg_spend / 100 FROM dim_customer ORDER BY customer_id)"
	benchSGDPred  = "(SELECT customer_id, purchase_frequency::float8, last_purchase_days_ago / 365.0 FROM dim_customer)"
)

type trainCase struct {
	label, model, kind, input, options string
	inline                             string // the one-shot call that fits (and predicts) the same
}

var trainCases = []trainCase{
	{"recommend nmf", "bench_nmf", "recommend", benchRatings, ", method => 'nmf'",
		"SELECT count(*) FROM recommend(1, 10, method => 'nmf', ratings => " + benchRatings + ")"},
	{"recommend user_cf", "bench_cf", "recommend", benchRatings, ", method => 'user_cf'",
		"SELECT count(*) FROM recommend(1, 10, ratings => " + benchRatings + ")"},
	{"kmeans k=4 standard", "bench_kmeans", "kmeans", benchSegments, ", k => 4, scale => 'standard'",
		"SELECT count(*) FROM kmeans(" + benchSegments + ", 4, scale => 'standard')"},
	{"sgd_regress", "bench_sgd", "sgd_regress", benchSGDTrain, "",
		"SELECT count(*) FROM sgd_regress(" + benchSGDTrain + ", " + benchSGDPred + ")"},
}

// training trains every case through flywheel.train and times the
// one-shot call beside it; cheap cases repeat (median of b.runs).
func (b *modelBench) training(ctx context.Context, conn *pgx.Conn, python string) error {
	fmt.Fprintf(b.stdout, "training through flywheel.train (wall: the client's; fit: train_ms, the fit alone) vs the one-shot call (fits and predicts)\n\n")
	fmt.Fprintf(b.stdout, "%-22s %5s %12s %12s %12s %12s %10s\n", "kind", "runs", "train wall", "fit", "one-shot", "wall/1-shot", "state")
	var nmfFit float64
	var nmfMetrics map[string]float64
	for _, tc := range trainCases {
		var wall, fit, inline []float64
		var metrics map[string]float64
		for run := 0; run < b.runs; run++ {
			t0 := time.Now()
			var ms float64
			var raw []byte
			q := fmt.Sprintf("SELECT train_ms, metrics::text FROM flywheel.train('%s', '%s', %s%s)", tc.model, tc.kind, tc.input, tc.options)
			if err := conn.QueryRow(ctx, q).Scan(&ms, &raw); err != nil {
				return fmt.Errorf("train %s: %w", tc.label, err)
			}
			wall = append(wall, msSince(t0))
			fit = append(fit, ms)
			if err := json.Unmarshal(raw, &metrics); err != nil {
				return fmt.Errorf("train %s: metrics: %w", tc.label, err)
			}
			t0 = time.Now()
			var n int64
			if err := conn.QueryRow(ctx, tc.inline).Scan(&n); err != nil {
				return fmt.Errorf("one-shot %s: %w", tc.label, err)
			}
			inline = append(inline, msSince(t0))
			// Slow fits run once: the median of more would not change the picture.
			if wall[0]+inline[0] > 5000 {
				break
			}
		}
		var size int64
		if err := conn.QueryRow(ctx, `SELECT length(v.state) FROM flywheel.model m JOIN flywheel.model_version v
ON v.model = m.name AND v.version = m.deployed_version WHERE m.name = $1`, tc.model).Scan(&size); err != nil {
			return fmt.Errorf("state size %s: %w", tc.model, err)
		}
		fmt.Fprintf(b.stdout, "%-22s %5d %9.1f ms %9.1f ms %9.1f ms %12.3f %10s\n", tc.label, len(wall), median(wall), median(fit),
			median(inline), median(wall)/median(inline), mib(size))
		if tc.model == "bench_nmf" {
			nmfFit, nmfMetrics = median(fit), metrics
		}
	}
	fmt.Fprintf(b.stdout, "\nflywheel nmf (k=10, nndsvda): n_iter %.0f, reconstruction_err %.6g\n", nmfMetrics["n_iter"], nmfMetrics["reconstruction_err"])
	sk, err := b.sklearnNMF(ctx, python)
	if err != nil {
		fmt.Fprintf(b.stdout, "scikit-learn NMF: not measured (%v)\n\n", err)
		return nil
	}
	fmt.Fprintf(b.stdout, "scikit-learn NMF (same %d×%d CSR matrix, %d nonzeros, k=10, nndsvda): %.1f ms best of %d, n_iter %d, reconstruction_err %.6g\n",
		sk.Rows, sk.Cols, sk.NNZ, sk.MS, nmfRuns, sk.NIter, sk.Err)
	goFit, err := goNMF(ctx, filepath.Join(b.dir, "ratings.csv"))
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stdout, "flywheel functions.NMF on the same matrix, in this process: %.1f ms best of %d, n_iter %d, reconstruction_err %.6g\n",
		goFit.MS, nmfRuns, goFit.NIter, goFit.Err)
	fmt.Fprintf(b.stdout, "fit / scikit-learn fit (below 1: Flywheel is faster): the same matrix %.3f; flywheel.train's whole fit (keys, matrix, state) %.3f\n\n",
		goFit.MS/sk.MS, nmfFit/sk.MS)
	return nil
}

// nmfRuns is how many fits of the scale-50 matrix each side times (the
// best is reported, as timeit does).
const nmfRuns = 3

// goNMF times functions.NMF on the ratings CSV that sklearnNMF reads, with
// the matrix built the same way (users and items in key order), so the
// two fits start from the same matrix.
func goNMF(ctx context.Context, csvPath string) (*sklearnResult, error) {
	data, err := os.ReadFile(csvPath)
	if err != nil {
		return nil, err
	}
	var us, is []int
	var vs []float64
	for line := range strings.Lines(string(data)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", csvPath, line)
		}
		u, err1 := strconv.Atoi(f[0])
		i, err2 := strconv.Atoi(f[1])
		v, err3 := strconv.ParseFloat(f[2], 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s: %w", csvPath, err)
		}
		us, is, vs = append(us, u), append(is, i), append(vs, v)
	}
	rows, n := denseRanks(us)
	cols, m := denseRanks(is)
	r := &sklearnResult{Rows: n, Cols: m, NNZ: len(vs)}
	for range nmfRuns {
		t0 := time.Now()
		model, err := functions.NMF(ctx, rows, cols, vs, n, m, functions.NMFOptions{K: 10, Init: "nndsvda"})
		if err != nil {
			return nil, err
		}
		if ms := msSince(t0); r.MS == 0 || ms < r.MS {
			r.MS, r.NIter, r.Err = ms, model.NIter, model.ReconstructionErr
		}
	}
	return r, nil
}

// denseRanks numbers keys 0, 1, ... in ascending order, as numpy's unique
// with return_inverse does, and returns how many distinct keys there are.
func denseRanks(keys []int) ([]int, int) {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := make([]int, len(keys))
	for p, k := range keys {
		out[p], _ = slices.BinarySearch(sorted, k)
	}
	return out, len(sorted)
}

type sklearnResult struct {
	MS    float64 `json:"ms"`
	NIter int     `json:"n_iter"`
	Err   float64 `json:"reconstruction_err"`
	Rows  int     `json:"rows"`
	Cols  int     `json:"cols"`
	NNZ   int     `json:"nnz"`
}

// sklearnNMF times scikit-learn's NMF on fact_ratings, written to a CSV
// for testdata/reference/bench_nmf_ratings.py.
func (b *modelBench) sklearnNMF(ctx context.Context, python string) (*sklearnResult, error) {
	if python == "" {
		return nil, fmt.Errorf("--python is empty")
	}
	script, err := referenceScript("bench_nmf_ratings.py")
	if err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, python, "-c", "import sklearn, scipy").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s has no scikit-learn (apt-get install python3-sklearn): %s", python, strings.TrimSpace(string(out)))
	}
	csvPath := filepath.Join(b.dir, "ratings.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return nil, err
	}
	c, err := pgx.Connect(ctx, b.direct)
	if err != nil {
		f.Close()
		return nil, err
	}
	w := bufio.NewWriter(f)
	_, err = c.PgConn().CopyTo(ctx, w, "COPY fact_ratings (customer_id, product_id, rating) TO STDOUT WITH (FORMAT csv)")
	c.Close(ctx)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ratings to csv: %w", err)
	}
	out, err := exec.CommandContext(ctx, python, script, csvPath, "--k", "10", "--runs", strconv.Itoa(nmfRuns)).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	var r sklearnResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", script, err, out)
	}
	return &r, nil
}

// referenceScript finds a testdata/reference script from the working
// directory or the binary's source tree.
func referenceScript(name string) (string, error) {
	for _, d := range []string{".", "..", "../.."} {
		p := filepath.Join(d, "testdata", "reference", name)
		if fileExists(p) {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("testdata/reference/%s not found: run from the repository", name)
}

type latencyCase struct {
	label  string
	sql    string
	direct bool // to PostgreSQL, not through Flywheel
	model  bool // a stored-model call, held to the targets
	// versus, when set, labels the case this one's p50 is compared with
	// (the logged call against the same call unlogged: at most +10%).
	versus string
}

// latency runs each case under pgbench with random users and prints
// p50/p99 from pgbench's per-transaction log.
func (b *modelBench) latency(ctx context.Context, modes []string, clients []int, d time.Duration, oneShot bool) error {
	// Same shape as recommend's result: ten (item, score, rank) rows of one user.
	const plain = "SELECT product_id AS item, rating::float8 AS score, (row_number() OVER (ORDER BY rating DESC, product_id))::int AS rank FROM fact_ratings WHERE customer_id = :u ORDER BY rating DESC, product_id LIMIT 10"
	cases := []latencyCase{
		{label: "plain SELECT direct", sql: plain, direct: true},
		{label: "plain SELECT flywheel", sql: plain},
		{label: "model nmf", sql: "SELECT item, score, rank FROM recommend(:u, 10, model => 'bench_nmf')", model: true},
		{label: "model nmf log", sql: "SELECT item, score, rank FROM recommend(:u, 10, model => 'bench_nmf', log => true)", model: true, versus: "model nmf"},
		{label: "model user_cf", sql: "SELECT item, score, rank FROM recommend(:u, 10, model => 'bench_cf')", model: true},
	}
	if oneShot {
		cases = append(cases, latencyCase{label: "one-shot user_cf", sql: "SELECT item, score, rank FROM recommend(:u, 10, ratings => " + benchRatings + ")"})
	}
	fmt.Fprintf(b.stdout, "pgbench -f (\\set u random(1, %d)), %s per run; latencies from pgbench -l; ×floor: over the direct plain SELECT, same mode and clients\ntargets for model cases: p50 < 1 ms, p99 < 3 ms\n\n", b.maxUser, d)
	fmt.Fprintf(b.stdout, "%-22s %-8s %7s %9s %9s %9s %8s %8s %s\n", "case", "mode", "clients", "p50 ms", "p99 ms", "TPS", "p50×floor", "p99×floor", "")
	for i, c := range cases {
		script := filepath.Join(b.dir, fmt.Sprintf("case%d.sql", i))
		if err := os.WriteFile(script, []byte(fmt.Sprintf("\\set u random(1, %d)\n%s;\n", b.maxUser, c.sql)), 0o644); err != nil {
			return err
		}
		c.sql = script
		cases[i] = c
	}
	for _, mode := range modes {
		for _, n := range clients {
			var floor50, floor99 float64
			p50s := map[string]float64{}
			for i, c := range cases {
				t := benchTarget{name: "flywheel", port: b.fwPort, pid: b.fwPid}
				if c.direct {
					t = benchTarget{name: "direct", port: b.pgPort}
				}
				logDir := filepath.Join(b.dir, fmt.Sprintf("log-%s-%d-%d", mode, n, i))
				if err := os.Mkdir(logDir, 0o755); err != nil {
					return err
				}
				r, err := measurePgbench(ctx, b.pgbench, t, mode, n, d, "-f", c.sql, "-l", "--log-prefix", filepath.Join(logDir, "tx"))
				if err != nil {
					return fmt.Errorf("%s: %w", c.label, err)
				}
				lat, err := readPgbenchLogs(logDir)
				if err != nil {
					return fmt.Errorf("%s: %w", c.label, err)
				}
				p50, p99 := percentile(lat, 50), percentile(lat, 99)
				if i == 0 {
					floor50, floor99 = p50, p99
				}
				p50s[c.label] = p50
				verdict := ""
				if c.model {
					verdict = "ok"
					if p50 >= 1 || p99 >= 3 {
						verdict = "MISSED"
					}
				}
				if base, ok := p50s[c.versus]; ok {
					verdict += fmt.Sprintf(" (p50 %.2f× %s)", p50/base, c.versus)
				}
				fmt.Fprintf(b.stdout, "%-22s %-8s %7d %9.3f %9.3f %9.0f %9.2f %9.2f %s\n", c.label, mode, n, p50, p99, r.tps, p50/floor50, p99/floor99, verdict)
			}
		}
	}
	fmt.Fprintln(b.stdout)
	return nil
}

// readPgbenchLogs reads the latencies, in ms, of every transaction in
// pgbench's -l logs in dir (one file per thread; the third field is the
// latency in µs).
func readPgbenchLogs(dir string) ([]float64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx*"))
	if err != nil {
		return nil, err
	}
	var lat []float64
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseFloat(fields[2], 64)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			lat = append(lat, us/1000)
		}
		err = s.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("no transactions logged in %s", dir)
	}
	return lat, nil
}

// percentile is the nearest-rank p-th percentile of v.
func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// lateral times CROSS JOIN LATERAL recommend over 1,000 customers (a
// fixed pseudo-random sample), median of b.runs after one warm-up, and
// beside it the outer relation alone, straight to PostgreSQL: the rewrite
// has PostgreSQL evaluate it twice (the side query for its keys, then the
// statement), so twice its time is the floor under the LATERAL call.
func (b *modelBench) lateral(ctx context.Context, conn *pgx.Conn) error {
	fmt.Fprintf(b.stdout, "LATERAL recommend(c.customer_id, 10, model => ...) for 1,000 customers, rows fetched by the client, median of %d after a warm-up (target < 50 ms)\n\n", b.runs)
	const outer = "SELECT customer_id FROM dim_customer ORDER BY hashint4(customer_id), customer_id LIMIT 1000"
	direct, err := pgx.Connect(ctx, b.direct)
	if err != nil {
		return err
	}
	defer direct.Close(ctx)
	alone, _, err := b.timeQuery(ctx, direct, outer)
	if err != nil {
		return fmt.Errorf("lateral's outer relation: %w", err)
	}
	for _, m := range []struct{ label, model string }{{"nmf", "bench_nmf"}, {"user_cf", "bench_cf"}} {
		q := fmt.Sprintf("SELECT c.customer_id, r.item, r.score, r.rank\nFROM (%s) c\nCROSS JOIN LATERAL recommend(c.customer_id, 10, model => '%s') r", outer, m.model)
		times, rows, err := b.timeQuery(ctx, conn, q)
		if err != nil {
			return fmt.Errorf("lateral %s: %w", m.label, err)
		}
		verdict := "ok"
		if median(times) >= 50 {
			verdict = "MISSED"
		}
		fmt.Fprintf(b.stdout, "%-8s %9.1f ms median (min %.1f, max %.1f), %d rows  %s\n", m.label, median(times), slices.Min(times), slices.Max(times), rows, verdict)
	}
	fmt.Fprintf(b.stdout, "%-8s %9.1f ms median (min %.1f, max %.1f): the outer relation alone, direct; twice that is PostgreSQL's part\n\n",
		"floor", median(alone), slices.Min(alone), slices.Max(alone))
	return nil
}

// timeQuery runs q b.runs times after a warm-up, fetching every row, and
// returns the times in ms and the row count.
func (b *modelBench) timeQuery(ctx context.Context, conn *pgx.Conn, q string) ([]float64, int, error) {
	var times []float64
	var rows int
	for run := 0; run <= b.runs; run++ {
		t0 := time.Now()
		rs, err := conn.Query(ctx, q)
		if err != nil {
			return nil, 0, err
		}
		rows = 0
		for rs.Next() {
			rows++
		}
		if err := rs.Err(); err != nil {
			return nil, 0, err
		}
		if run > 0 {
			times = append(times, msSince(t0))
		}
	}
	return times, rows, nil
}

// restart measures loading the recommend models from the database: the
// store's query and decode in this process, decode alone, and the first
// call after a fresh Flywheel start (against the next, cached, call).
func (b *modelBench) restart(ctx context.Context, start func(model string) (*flywheelProc, int, error)) error {
	fmt.Fprintf(b.stdout, "loading a model from the database (target < 1 s); store load = the model store's query and decode, in this process;\nfirst call = the first recommend(u, 10, model => ...) after a fresh Flywheel start (connection set up beforehand)\n\n")
	fmt.Fprintf(b.stdout, "%-8s %10s %12s %12s %12s %12s %s\n", "model", "state", "store load", "decode", "first call", "next call", "")
	direct, err := pgx.Connect(ctx, b.direct)
	if err != nil {
		return err
	}
	defer direct.Close(context.Background())
	for _, m := range []struct{ label, model string }{{"nmf", "bench_nmf"}, {"user_cf", "bench_cf"}} {
		// The store as Flywheel opens it, without its cache's help.
		store, err := models.Open(ctx, models.Config{URL: b.direct, Decode: catalog.DecodeModel})
		if err != nil {
			return err
		}
		t0 := time.Now()
		_, err = store.Deployed(ctx, m.model)
		load := msSince(t0)
		store.Close()
		if err != nil {
			return fmt.Errorf("store load %s: %w", m.model, err)
		}
		var kind string
		var inputs, state []byte
		if err := direct.QueryRow(ctx, `SELECT m.kind, v.inputs::text, v.state FROM flywheel.model m
JOIN flywheel.model_version v ON v.model = m.name AND v.version = m.deployed_version WHERE m.name = $1`, m.model).Scan(&kind, &inputs, &state); err != nil {
			return fmt.Errorf("read state %s: %w", m.model, err)
		}
		var decode []float64
		for run := 0; run < b.runs; run++ {
			dm := &catalog.Model{Name: m.model, Kind: kind}
			if err := json.Unmarshal(inputs, &dm.Inputs); err != nil {
				return fmt.Errorf("inputs %s: %w", m.model, err)
			}
			t0 := time.Now()
			if err := catalog.DecodeModel(dm, state); err != nil {
				return fmt.Errorf("decode %s: %w", m.model, err)
			}
			decode = append(decode, msSince(t0))
		}

		fw, port, err := start(m.label)
		if err != nil {
			return err
		}
		first, next, err := firstCall(ctx, port, m.model)
		fw.stop()
		if err != nil {
			return err
		}
		verdict := "ok"
		if load >= 1000 || first >= 1000 {
			verdict = "MISSED"
		}
		fmt.Fprintf(b.stdout, "%-8s %10s %9.1f ms %9.1f ms %9.1f ms %9.1f ms %s\n", m.label, mib(int64(len(state))), load, median(decode), first, next, verdict)
	}
	return nil
}

// firstCall connects to a freshly started Flywheel on port and times its
// first and second recommend call from model.
func firstCall(ctx context.Context, port int, model string) (first, next float64, err error) {
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(context.Background())
	q := "SELECT count(*) FROM recommend(1, 10, model => '" + model + "')"
	var n int64
	for _, d := range []*float64{&first, &next} {
		t0 := time.Now()
		if err := c.QueryRow(ctx, q).Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("first call %s: %w", model, err)
		}
		*d = msSince(t0)
	}
	return first, next, nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// group writes n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
