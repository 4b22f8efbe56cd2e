package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/pgident"
	"github.com/jackc/pgx/v5"
)

// Running aggregates: flywheel.create_aggregate keeps a table of
// count/sum/min/max per group (and per tumbling window) of a stream's
// target. Every batch folds its inserted rows in with INSERT ... ON
// CONFLICT DO UPDATE in the batch's own transaction, so the table equals
// the GROUP BY over the target's rows at every commit (rows the stream
// wrote, plus those the target had when the aggregate was created).
// These functions combine: a count or sum adds, min and max keep the
// extreme; avg is sum/count, left to the reader.

// aggregateLockKey is the first key of a stream's aggregate lock (the
// second is hashtext of the stream's name).
const aggregateLockKey = 1179075842

// aggregateApplyKey is the first key of the lock under which a stream's
// batches update its aggregates.
const aggregateApplyKey = 1179075843

type aggFunc struct {
	Fn  string `json:"fn"`  // count, sum, min, max
	Col string `json:"col"` // "" for count(*)
	Out string `json:"out"` // the aggregate table's column
}

type aggregate struct {
	Name, Table string
	GroupBy     []string
	Funcs       []aggFunc
	TimeColumn  string
	Window      string
}

var aggPattern = regexp.MustCompile(`^(?i)(count|sum|min|max)\s*\(\s*(\*|"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)\s*\)$`)

// parseAggregates reads "count(*), sum(amount), max(event_time)".
func parseAggregates(text string, has func(string) bool) ([]aggFunc, error) {
	var out []aggFunc
	seen := map[string]bool{}
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		m := aggPattern.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("%q is not count(*), count(column), sum(column), min(column) or max(column)", part)
		}
		f := aggFunc{Fn: strings.ToLower(m[1]), Col: unquoteIdent(m[2])}
		if f.Col == "*" {
			if f.Fn != "count" {
				return nil, fmt.Errorf("%s(*) is not an aggregate; only count takes *", f.Fn)
			}
			f.Col, f.Out = "", "count"
		} else {
			if !has(f.Col) {
				return nil, &unknownColumn{column: f.Col}
			}
			f.Out = f.Fn + "_" + f.Col
		}
		if seen[f.Out] {
			return nil, fmt.Errorf("%s appears twice", part)
		}
		seen[f.Out] = true
		out = append(out, f)
	}
	return out, nil
}

func unquoteIdent(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		return s[1 : len(s)-1]
	}
	if s == "*" {
		return s
	}
	return strings.ToLower(s)
}

// selectList is the aggregate's GROUP BY query's SELECT list over src.
func (a *aggregate) selectList(src string) (string, int) {
	var parts []string
	for _, g := range a.GroupBy {
		parts = append(parts, src+"."+pgident.Quote(g))
	}
	if a.Window != "" {
		parts = append(parts, "date_bin("+literal(a.Window)+"::interval, "+src+"."+pgident.Quote(a.TimeColumn)+", '2000-01-01') AS window_start")
	}
	keys := len(parts)
	for _, f := range a.Funcs {
		arg := "*"
		if f.Col != "" {
			arg = src + "." + pgident.Quote(f.Col)
		}
		parts = append(parts, f.Fn+"("+arg+") AS "+pgident.Quote(f.Out))
	}
	return strings.Join(parts, ", "), keys
}

func (a *aggregate) keyColumns() []string {
	var keys []string
	for _, g := range a.GroupBy {
		keys = append(keys, pgident.Quote(g))
	}
	if a.Window != "" {
		keys = append(keys, "window_start")
	}
	return keys
}

func groupPositions(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = strconv.Itoa(i + 1)
	}
	return strings.Join(p, ", ")
}

// upsertFrom folds the rows of relation src into the aggregate's table.
// Groups go in key order, so that the batches of two partitions lock
// the rows they share in the same order instead of deadlocking.
func (a *aggregate) upsertFrom(src string) string {
	sel, keys := a.selectList(src)
	cols := a.keyColumns()
	var sets []string
	for _, f := range a.Funcs {
		c := pgident.Quote(f.Out)
		var v string
		switch f.Fn {
		case "count":
			v = "t." + c + " + EXCLUDED." + c
		case "sum":
			v = "coalesce(t." + c + " + EXCLUDED." + c + ", t." + c + ", EXCLUDED." + c + ")"
		case "min":
			v = "least(t." + c + ", EXCLUDED." + c + ")"
		case "max":
			v = "greatest(t." + c + ", EXCLUDED." + c + ")"
		}
		sets = append(sets, c+" = "+v)
		cols = append(cols, c)
	}
	return "INSERT INTO " + a.Table + " AS t (" + strings.Join(cols, ", ") + ") SELECT " + sel + " FROM " + src + " " + src +
		" GROUP BY " + groupPositions(keys) + " ORDER BY " + groupPositions(keys) + " ON CONFLICT (" + strings.Join(a.keyColumns(), ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// loadAggregates reads a stream's aggregates in the batch's transaction.
func loadAggregates(ctx context.Context, tx pgx.Tx, stream string) ([]*aggregate, error) {
	rows, err := tx.Query(ctx, `SELECT name, "table"::text, group_by, aggregates::text, coalesce(time_column, ''), coalesce("window"::text, '')
FROM flywheel.stream_aggregate WHERE stream = $1 ORDER BY name`, stream)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*aggregate
	for rows.Next() {
		a := &aggregate{}
		var funcs string
		if err := rows.Scan(&a.Name, &a.Table, &a.GroupBy, &funcs, &a.TimeColumn, &a.Window); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(funcs), &a.Funcs); err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", a.Name, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CreateAggregate implements flywheel.create_aggregate.
func (m *Manager) CreateAggregate(ctx context.Context, db catalog.DB, s *catalog.AggregateSpec) (*catalog.AggregateInfo, error) {
	q := sessionDB{db}
	rows, err := q.query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname FROM flywheel.stream s JOIN pg_class c ON c.oid = s.target
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE s.name = $1`, s.Stream)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, unknownStream(s.Stream)
	}
	table, schema := rows[0][0], rows[0][1]
	rows, err = q.query(ctx, "SELECT count(*) FROM flywheel.stream_aggregate WHERE name = $1", s.Name)
	if err != nil {
		return nil, err
	}
	if rows[0][0] != "0" {
		return nil, sqlErr("42710", fmt.Sprintf("aggregate %q already exists", s.Name), "Choose another name.")
	}
	cols, err := q.query(ctx, "SELECT attname, atttypid::int8 FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", table)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for _, c := range cols {
		types[c[0]] = c[1]
	}
	has := func(c string) bool { _, ok := types[c]; return ok }
	colHint := "The columns are the stream's target's (" + table + ")."
	a := &aggregate{Name: s.Name, Table: pgident.Quote(schema) + "." + pgident.Quote(s.Name)}
	for _, g := range strings.Split(s.GroupBy, ",") {
		g = unquoteIdent(strings.TrimSpace(g))
		if !has(g) {
			return nil, sqlErr("42703", fmt.Sprintf("create_aggregate: group_by column %q does not exist in %s", g, table), colHint)
		}
		a.GroupBy = append(a.GroupBy, g)
	}
	a.Funcs, err = parseAggregates(s.Aggregates, has)
	if err != nil {
		if uc, ok := err.(*unknownColumn); ok {
			return nil, sqlErr("42703", fmt.Sprintf("create_aggregate: column %q does not exist in %s", uc.column, table), colHint)
		}
		return nil, sqlErr("22023", "create_aggregate: aggregates: "+err.Error(), "aggregates => 'count(*), sum(amount), max(event_time)': count, sum, min and max, which combine batch by batch.")
	}
	if s.Window != "" {
		// Read outside the session's transaction: a bad interval must not abort it.
		var secs float64
		if err := m.pool.QueryRow(ctx, "SELECT extract(epoch FROM $1::text::interval)::float8", s.Window).Scan(&secs); err != nil || secs <= 0 {
			return nil, sqlErr("22023", fmt.Sprintf("create_aggregate: window %q is not a positive interval", s.Window), "window => '1 hour' cuts tumbling windows of that length (no months or years).")
		}
		a.Window = s.Window
		if s.TimeColumn != "" {
			a.TimeColumn = unquoteIdent(s.TimeColumn)
			if t := types[a.TimeColumn]; t != "1114" && t != "1184" {
				return nil, sqlErr("22023", fmt.Sprintf("create_aggregate: time_column %q is not a timestamp column of %s", a.TimeColumn, table), colHint)
			}
		} else {
			var found []string
			for c, t := range types {
				if t == "1114" || t == "1184" {
					found = append(found, c)
				}
			}
			if len(found) != 1 {
				return nil, sqlErr("22023", fmt.Sprintf("create_aggregate: %s has %d timestamp columns; say which one windows are cut on", table, len(found)), "time_column => 'event_time'")
			}
			a.TimeColumn = found[0]
		}
	} else if s.TimeColumn != "" {
		return nil, sqlErr("22023", "create_aggregate: time_column applies only with window", "")
	}
	// Nothing may fail on the session's connection from here on that can
	// be checked first: a failed statement would abort its transaction.
	rows, err = q.query(ctx, "SELECT to_regclass($1) IS NOT NULL", a.Table)
	if err != nil {
		return nil, err
	}
	if rows[0][0] == "t" {
		return nil, sqlErr("42P07", fmt.Sprintf("create_aggregate: relation %s already exists", a.Table), "The aggregate's table is named after it, beside the stream's target: choose another name.")
	}
	sel, keys := a.selectList("src")
	fill := "SELECT " + sel + " FROM " + table + " src GROUP BY " + groupPositions(keys)
	// The aggregates' types are checked by planning the fill on the pool
	// (sum(text) does not exist, ...); a target the pool cannot see yet
	// (created in the session's open transaction) is not checked.
	if _, err := m.pool.Exec(ctx, fill+" LIMIT 0"); err != nil && sqlState(err) != "42P01" {
		if code := sqlState(err); code != "" {
			return nil, sqlErr(code, "create_aggregate: "+pgMessage(err), "aggregates => 'count(*), sum(amount), max(event_time)': sum needs a number column, min and max an ordered one.")
		}
		return nil, err
	}
	// The stream's aggregate lock keeps its batches out while the table
	// is filled from the target, until the session's transaction ends:
	// each batch is either in the fill or folded in after it (a batch
	// takes the lock shared before reading the aggregates). An advisory
	// lock, not LOCK TABLE, because a statement outside BEGIN runs in an
	// implicit transaction, where LOCK TABLE is refused; and READ
	// COMMITTED lets the fill below see every batch committed before it.
	if _, err := q.query(ctx, "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))", strconv.Itoa(aggregateLockKey), s.Stream); err != nil {
		return nil, err
	}
	if _, err := q.query(ctx, "CREATE TABLE "+a.Table+" AS "+fill); err != nil {
		return nil, err
	}
	if _, err := q.query(ctx, "ALTER TABLE "+a.Table+" ADD UNIQUE NULLS NOT DISTINCT ("+strings.Join(a.keyColumns(), ", ")+")"); err != nil {
		return nil, err
	}
	funcs, _ := json.Marshal(a.Funcs)
	var tc, win any
	if a.Window != "" {
		tc, win = a.TimeColumn, a.Window
	}
	if _, err := q.query(ctx, `INSERT INTO flywheel.stream_aggregate (name, stream, "table", group_by, aggregates, time_column, "window")
VALUES ($1, $2, $3::regclass, string_to_array($4, ','), $5::jsonb, $6, $7::interval)`, s.Name, s.Stream, a.Table, strings.Join(a.GroupBy, ","), string(funcs), tc, win); err != nil {
		return nil, err
	}
	rows, err = q.query(ctx, "SELECT count(*), $1::regclass::text FROM "+a.Table, a.Table)
	if err != nil {
		return nil, err
	}
	n, _ := strconv.ParseInt(rows[0][0], 10, 64)
	var outs []string
	outs = append(outs, a.keyColumns()...)
	for _, f := range a.Funcs {
		outs = append(outs, f.Out)
	}
	return &catalog.AggregateInfo{Name: s.Name, Stream: s.Stream, Table: rows[0][1], Columns: strings.Join(outs, ", "), Rows: n}, nil
}
