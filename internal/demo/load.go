package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed schema.sql
var schemaSQL string

//go:embed seed.sql
var seedSQL string

// MaxScale bounds Options.Scale: scale 10,000 is ten million customers and
// about half a billion sales, already days of loading.
const MaxScale = 10_000

// DefaultSeed is the seed the walkthrough's known values were computed with.
const DefaultSeed = 0

// Options says what to load.
type Options struct {
	// Scale: 1 is 1,000 customers, 200 products and about 50,000 sales;
	// everything grows linearly with it. 1 .. MaxScale.
	Scale int
	// Replace drops relations that stand in the demo's way (an older or
	// different demo, or the user's own tables with the same names) and
	// loads afresh. Without it Load refuses with a *ConflictError, and a
	// demo already loaded with the same scale and seed is left as it is.
	Replace bool
	// Seed selects the data set; the same scale and seed give the same rows.
	Seed int64
	// Progress, when set, is called a few times a second while loading,
	// never concurrently with itself, from the loading goroutines.
	Progress func(Progress)

	// progressEvery overrides the reporting interval (tests report at
	// every check, to act mid-COPY).
	progressEvery time.Duration
}

// Progress is a snapshot of a running load.
type Progress struct {
	Phase string // "copy", "index" (keys, foreign keys, indexes), "analyze", "done"
	Table string // the table being copied or indexed
	Rows  int64  // rows copied so far, all tables
	// TotalRows is the expected total: exact for the dimensions, an
	// estimate for the facts until dim_customer is loaded.
	TotalRows int64
	Elapsed   time.Duration
}

// Percent is how far the copying is, 0..100.
func (p Progress) Percent() float64 {
	if p.TotalRows <= 0 {
		return 0
	}
	return min(100, 100*float64(p.Rows)/float64(p.TotalRows))
}

// RowsPerSec is the average copying rate so far.
func (p Progress) RowsPerSec() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Rows) / p.Elapsed.Seconds()
}

// String is a one-line progress report, meant to be redrawn in place
// (write "\r" before it), e.g.
//
//	loading events: 12,345,678 of ~27,100,000 rows (45.6%), 780,000 rows/s, 16s
func (p Progress) String() string {
	elapsed := p.Elapsed.Round(time.Second)
	switch p.Phase {
	case "copy":
		return fmt.Sprintf("loading %s: %s of ~%s rows (%.1f%%), %s rows/s, %s", p.Table,
			group(p.Rows), group(p.TotalRows), p.Percent(), group(int64(p.RowsPerSec())), elapsed)
	case "index":
		return fmt.Sprintf("building keys and indexes on %s (%s rows loaded), %s", p.Table, group(p.Rows), elapsed)
	case "analyze":
		return fmt.Sprintf("analyzing %s (%s rows loaded), %s", p.Table, group(p.Rows), elapsed)
	case "done":
		return fmt.Sprintf("loaded %s rows in %s (%s rows/s)", group(p.Rows), p.Elapsed.Round(100*time.Millisecond), group(int64(p.RowsPerSec())))
	}
	return fmt.Sprintf("%s %s, %s", p.Phase, p.Table, elapsed)
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TableStats is the number of rows a table got.
type TableStats struct {
	Name string
	Rows int64
}

// Stats reports a finished load.
type Stats struct {
	Scale int
	Seed  int64
	// AlreadyLoaded: the same scale and seed were present and complete, and
	// nothing was done.
	AlreadyLoaded bool
	Tables        []TableStats
	Rows          int64         // all tables
	CopyTime      time.Duration // generating and copying the rows
	Elapsed       time.Duration // the whole load: copying, keys, indexes, ANALYZE, commit
}

// RowsPerSec is the end-to-end loading rate, keys and indexes included.
func (s Stats) RowsPerSec() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows) / s.Elapsed.Seconds()
}

// CopyRowsPerSec is the rate of the COPY phase alone.
func (s Stats) CopyRowsPerSec() float64 {
	if s.CopyTime <= 0 {
		return 0
	}
	return float64(s.Rows) / s.CopyTime.Seconds()
}

func (s Stats) String() string {
	if s.AlreadyLoaded {
		return fmt.Sprintf("demo warehouse scale %d (seed %d) is already loaded (%s rows); nothing to do", s.Scale, s.Seed, group(s.Rows))
	}
	return fmt.Sprintf("demo warehouse scale %d (seed %d): %s rows in %s (%s rows/s; COPY alone %s rows/s)",
		s.Scale, s.Seed, group(s.Rows), s.Elapsed.Round(100*time.Millisecond), group(int64(s.RowsPerSec())), group(int64(s.CopyRowsPerSec())))
}

// Meta is what flywheel_demo_meta records about a loaded demo.
type Meta struct {
	Scale            int
	Seed             int64
	GeneratorVersion int
	Rows             int64
	LoadedAt         time.Time
}

// ConflictError is Load's refusal to overwrite relations without Replace.
type ConflictError struct {
	// Relations are the schema-qualified names in the way.
	Relations []string
	// Loaded is set when they are a demo loaded with another scale or seed.
	Loaded *Meta
}

func (e *ConflictError) Error() string {
	if e.Loaded != nil {
		return fmt.Sprintf("demo: the database already holds the demo warehouse at scale %d (seed %d, generator v%d); use --replace to drop it and load the requested one",
			e.Loaded.Scale, e.Loaded.Seed, e.Loaded.GeneratorVersion)
	}
	return fmt.Sprintf("demo: the database already has %s, which the demo would overwrite; use --replace to drop %s and load the demo, or load it into another database",
		strings.Join(e.Relations, ", "), plural(len(e.Relations), "it", "them"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// metaTable records a completed load; its row is written last, in the
// load's transaction, so its presence means every table is complete.
const metaTable = "flywheel_demo_meta"

// relations are every relation the demo creates, in creation order
// (read-only, like the model's tables).
var relations = []string{
	"public.dim_date", "public.dim_customer", "public.dim_product", "public.fact_sales",
	"public.fact_ratings", "public.events", "public." + metaTable,
	"seed.dim_product", "seed.dim_customer", "seed.fact_sales", "seed.ratings", "seed.user_data",
	"seed.monthly_sales", "seed.nmf_ratings", "seed.train", "seed.to_score",
}

// Rough per-customer sizes at the default model, for the progress line
// before dim_customer has given the exact number of sales.
const (
	salesPerCustomer  = 50.0
	ratingsPerSale    = 0.35 // 0.2 at scale 1, 0.36 from scale 20 up
	eventsPerSale     = 4.14
	dimDateRows       = 2192 // 2020-01-01 .. 2025-12-31
	progressInterval  = 250 * time.Millisecond
	advisoryLockKey   = 0x466c7977686c // "Flywhl": one demo load per database at a time
	maintenanceMemory = "256MB"
)

// CheckScale rejects scales Load would refuse, with a message for the
// command line.
func CheckScale(scale int) error {
	switch {
	case scale < 1:
		return fmt.Errorf("demo: scale must be at least 1 (1 = 1,000 customers, 200 products, about 50,000 sales), got %d", scale)
	case scale > MaxScale:
		return fmt.Errorf("demo: scale %d is more than the maximum %d (which is already %s customers and about %s sales)",
			scale, MaxScale, group(int64(MaxScale)*customersPerScale), group(int64(MaxScale)*customersPerScale*salesPerCustomer))
	}
	return nil
}

// Load creates and fills the demo warehouse in conn's database: the star
// schema in public, the seed examples' tables in schema seed, and the
// flywheel_demo_meta row. It is one transaction: a cancelled context, an
// error or a lost connection leaves the database as it was. After a
// cancellation conn may be closed.
func Load(ctx context.Context, conn *pgx.Conn, opts Options) (Stats, error) {
	st, err := loadOnce(ctx, conn, opts)
	// A cancelled load fails however the cancel reached it (pgx may report
	// the closed connection instead); say that it was cancelled.
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	return st, err
}

func loadOnce(ctx context.Context, conn *pgx.Conn, opts Options) (Stats, error) {
	start := time.Now()
	st := Stats{Scale: opts.Scale, Seed: opts.Seed}
	if err := CheckScale(opts.Scale); err != nil {
		return st, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return st, fmt.Errorf("demo: %w", err)
	}
	defer func() {
		// The load's context may be the reason we are leaving.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	for _, q := range []string{
		"SELECT pg_advisory_xact_lock(" + fmt.Sprint(advisoryLockKey) + ")",
		// Unqualified names in schema.sql mean public, whatever the
		// session's search_path says.
		"SET LOCAL search_path = public",
		"SET LOCAL maintenance_work_mem = '" + maintenanceMemory + "'",
		"SET LOCAL synchronous_commit = off",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return st, fmt.Errorf("demo: %w", err)
		}
	}
	present, err := existing(ctx, tx)
	if err != nil {
		return st, err
	}
	if len(present) > 0 {
		meta, err := readMeta(ctx, tx, present)
		if err != nil {
			return st, err
		}
		switch {
		case opts.Replace:
			if err := drop(ctx, tx, present); err != nil {
				return st, err
			}
		case meta != nil && meta.Scale == opts.Scale && meta.Seed == opts.Seed &&
			meta.GeneratorVersion == generatorVersion && len(present) == len(relations):
			st.AlreadyLoaded = true
			st.Rows = meta.Rows
			st.Elapsed = time.Since(start)
			return st, nil
		default:
			names := make([]string, len(present))
			for i, r := range present {
				names[i] = r.name
			}
			return st, &ConflictError{Relations: names, Loaded: meta}
		}
	}

	m := newModel(opts.Scale, opts.Seed)
	pr := &progress{report: opts.Progress, start: start, last: start, every: progressInterval}
	if opts.progressEvery != 0 {
		pr.every = max(0, opts.progressEvery)
	}
	pr.total = int64(m.products) + int64(m.customers) + dimDateRows +
		int64(float64(m.customers)*salesPerCustomer*(1+ratingsPerSale+eventsPerSale))
	schema, after, _ := strings.Cut(schemaSQL, "-- @after-load")
	pr.set("copy", "dim_date")
	if err := execAll(ctx, tx, schema+seedSQL, nil); err != nil {
		return st, err
	}
	pr.add(dimDateRows)
	st.Tables = append(st.Tables, TableStats{"dim_date", dimDateRows})

	copyStart := time.Now()
	cg := &customerGen{m: m}
	for _, t := range []struct {
		name    string
		columns []string
		gen     rowGen
	}{
		{"dim_product", productColumns, &productGen{m: m}},
		{"dim_customer", customerColumns, cg},
		{"fact_sales", salesColumns, &salesGen{perCustomer: perCustomer{m: m}}},
		{"fact_ratings", ratingColumns, &ratingGen{perCustomer: perCustomer{m: m}, seen: map[int32]bool{}}},
		{"events", eventColumns, &eventGen{perCustomer: perCustomer{m: m}}},
	} {
		pr.set("copy", t.name)
		src := &source{ctx: ctx, gen: t.gen, row: make([]any, len(t.columns)), tick: pr.tick}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"public", t.name}, t.columns, src)
		if err != nil {
			if src.err != nil {
				err = src.err
			}
			return st, fmt.Errorf("demo: loading %s: %w", t.name, err)
		}
		pr.add(n)
		st.Tables = append(st.Tables, TableStats{t.name, n})
		if t.name == "dim_customer" {
			// Now the number of sales is known, not just expected.
			s := float64(cg.nSales)
			pr.total = pr.done + cg.nSales + int64(s*ratingsPerSale+s*eventsPerSale)
		}
	}
	st.CopyTime = time.Since(copyStart)

	if err := execAll(ctx, tx, after, func(stmt string) { pr.set("index", tableOf(stmt)) }); err != nil {
		return st, err
	}
	for _, t := range st.Tables {
		pr.set("analyze", t.Name)
		if _, err := tx.Exec(ctx, "ANALYZE "+t.Name); err != nil {
			return st, fmt.Errorf("demo: analyze %s: %w", t.Name, err)
		}
	}
	for _, t := range st.Tables {
		st.Rows += t.Rows
	}
	_, err = tx.Exec(ctx, `INSERT INTO public.`+metaTable+` (scale, seed, generator_version, total_rows, load_seconds)
		VALUES ($1, $2, $3, $4, $5)`, opts.Scale, opts.Seed, generatorVersion, st.Rows, time.Since(start).Seconds())
	if err != nil {
		return st, fmt.Errorf("demo: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return st, fmt.Errorf("demo: commit: %w", err)
	}
	st.Elapsed = time.Since(start)
	pr.total = pr.done
	pr.set("done", "")
	return st, nil
}

// progress tracks a load for Options.Progress.
type progress struct {
	report      func(Progress)
	start, last time.Time
	every       time.Duration
	phase       string
	table       string
	done        int64 // rows of finished tables
	total       int64
}

func (p *progress) set(phase, table string) {
	p.phase, p.table = phase, table
	p.emit(0, true)
}

func (p *progress) add(n int64) { p.done += n }

// tick is called by the copy source with the current table's row count.
func (p *progress) tick(rows int64) { p.emit(rows, false) }

func (p *progress) emit(current int64, force bool) {
	if p.report == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p.report(Progress{Phase: p.phase, Table: p.table, Rows: p.done + current,
		TotalRows: max(p.total, p.done+current), Elapsed: now.Sub(p.start)})
}

// execAll runs the statements of a script one by one (each ends with ";" at
// the end of a line), telling before each.
func execAll(ctx context.Context, tx pgx.Tx, script string, before func(stmt string)) error {
	for _, stmt := range splitStatements(script) {
		if before != nil {
			before(stmt)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("demo: %s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

// splitStatements splits our own SQL files: statements end with ";" at the
// end of a line, and "--" comment lines are dropped.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// tableOf finds the table an after-load statement works on, for the
// progress line.
func tableOf(stmt string) string {
	f := strings.Fields(stmt)
	for i, w := range f {
		if (w == "TABLE" || w == "ON") && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

type relation struct {
	name string // schema-qualified
	kind byte   // pg_class.relkind
}

// existing lists the demo's relation names already taken in the database,
// by anything: a table, view, index, sequence or composite type.
func existing(ctx context.Context, tx pgx.Tx) ([]relation, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname || '.' || c.relname, c.relkind::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname || '.' || c.relname = ANY($1)
		ORDER BY array_position($1, n.nspname || '.' || c.relname)`, relations)
	if err != nil {
		return nil, fmt.Errorf("demo: listing existing relations: %w", err)
	}
	var out []relation
	for rows.Next() {
		var r relation
		var kind string
		if err := rows.Scan(&r.name, &kind); err != nil {
			return nil, fmt.Errorf("demo: listing existing relations: %w", err)
		}
		r.kind = kind[0]
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("demo: listing existing relations: %w", err)
	}
	return out, nil
}

// readMeta reads flywheel_demo_meta if it is among present and is ours; a
// table of that name that does not read as ours gives nil, so it is
// reported as a conflict like any other.
func readMeta(ctx context.Context, tx pgx.Tx, present []relation) (*Meta, error) {
	if !slices.ContainsFunc(present, func(r relation) bool { return r.name == "public."+metaTable && r.kind == 'r' }) {
		return nil, nil
	}
	// A savepoint, so a foreign table of that name does not abort the load's
	// transaction.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	m, err := queryMeta(ctx, sp)
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("demo: %w", rerr)
		}
		return nil, nil
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return m, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func queryMeta(ctx context.Context, q querier) (*Meta, error) {
	var m Meta
	err := q.QueryRow(ctx, `SELECT scale, seed, generator_version, total_rows, loaded_at
		FROM public.`+metaTable).Scan(&m.Scale, &m.Seed, &m.GeneratorVersion, &m.Rows, &m.LoadedAt)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// drop removes the relations in the demo's way, and whatever depends on
// them (CASCADE): the caller asked for Replace.
func drop(ctx context.Context, tx pgx.Tx, present []relation) error {
	for _, r := range present {
		schema, name, _ := strings.Cut(r.name, ".")
		kind := map[byte]string{'r': "TABLE", 'p': "TABLE", 'v': "VIEW", 'm': "MATERIALIZED VIEW",
			'f': "FOREIGN TABLE", 'S': "SEQUENCE", 'i': "INDEX", 'I': "INDEX", 'c': "TYPE"}[r.kind]
		if kind == "" {
			return fmt.Errorf("demo: cannot replace %s (relkind %c)", r.name, r.kind)
		}
		// IF EXISTS: an earlier CASCADE may have taken it already.
		q := "DROP " + kind + " IF EXISTS " + pgx.Identifier{schema, name}.Sanitize() + " CASCADE"
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("demo: replacing %s: %w", r.name, err)
		}
	}
	return nil
}

// Status reports the demo recorded in conn's database, if any: ok is false
// when there is no flywheel_demo_meta row, which (the row being written
// last, in the load's transaction) means no complete demo.
func Status(ctx context.Context, conn *pgx.Conn) (meta Meta, ok bool, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('public."+metaTable+"') IS NOT NULL").Scan(&exists); err != nil {
		return meta, false, fmt.Errorf("demo: %w", err)
	}
	if !exists {
		return meta, false, nil
	}
	m, err := queryMeta(ctx, conn)
	if errors.Is(err, pgx.ErrNoRows) {
		return meta, false, nil
	}
	if err != nil {
		return meta, false, fmt.Errorf("demo: reading %s: %w", metaTable, err)
	}
	return *m, true, nil
}

// Loaded reports whether a complete demo (any scale) is present: the meta
// row exists and no demo table has been dropped since.
func Loaded(ctx context.Context, conn *pgx.Conn) (bool, error) {
	_, ok, err := Status(ctx, conn)
	if err != nil || !ok {
		return false, err
	}
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) AS r(name) WHERE to_regclass(quote_ident(split_part(name, '.', 1)) || '.' || quote_ident(split_part(name, '.', 2))) IS NOT NULL`, relations).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("demo: %w", err)
	}
	return n == len(relations), nil
}
