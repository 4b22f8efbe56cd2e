package streams

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flywheeldb/flywheel/catalog"
)

// The SQL functions (catalog.Streams). They write through the session's
// connection, in its transaction, and announce the change with a NOTIFY
// that PostgreSQL delivers at commit, so consumers start and stop then.

// Channel is the NOTIFY channel on which stream changes are announced.
const Channel = "flywheel_streams"

func sqlErr(code, msg, hint string) error {
	return &catalog.Error{Code: code, Message: msg, Hint: hint}
}

// CreateStream implements flywheel.create_stream.
func (m *Manager) CreateStream(ctx context.Context, db catalog.DB, s *catalog.StreamSpec) (*catalog.StreamInfo, error) {
	q := sessionDB{db}
	if s.Format == "" {
		s.Format = "json"
	}
	if s.Format != "json" {
		return nil, sqlErr("22023", fmt.Sprintf("create_stream: format %q is not supported", s.Format), "format => 'json' (one JSON object per message) is the only format so far.")
	}
	if s.Start == "" {
		s.Start = "earliest"
	}
	if s.Start != "earliest" && s.Start != "latest" {
		return nil, sqlErr("22023", fmt.Sprintf("create_stream: start must be 'earliest' or 'latest', got %q", s.Start), "start says where a partition without a stored offset begins.")
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if strings.TrimSpace(s.Brokers) == "" && m.cfg.Brokers == "" {
		return nil, sqlErr("22023", "create_stream: no brokers", "Give brokers => 'host:port,...', or start Flywheel with --kafka-brokers.")
	}
	mapping, _, err := parseMapping(s.Mapping)
	if err != nil {
		return nil, sqlErr("22023", "create_stream: "+err.Error(), `mapping => '{"column": "field", ...}' says which message field fills which column of the target.`)
	}
	rows, err := q.query(ctx, `SELECT coalesce((SELECT true FROM pg_timezone_names WHERE name = $1 LIMIT 1), (SELECT true FROM pg_timezone_abbrevs WHERE abbrev = $1 LIMIT 1), false)`, s.TimeZone)
	if err != nil {
		return nil, err
	}
	if rows[0][0] != "t" {
		return nil, sqlErr("22023", fmt.Sprintf("create_stream: time zone %q is not known to PostgreSQL", s.TimeZone), "pg_timezone_names lists the time zones, e.g. 'UTC' or 'Europe/Paris'.")
	}
	// The name's syntax is checked on the store's own pool: a statement
	// that fails on the session's connection would abort the session's
	// transaction, and to_regclass raises for a malformed name.
	var parts int
	if err := m.pool.QueryRow(ctx, "SELECT cardinality(parse_ident($1))", s.Target).Scan(&parts); err != nil || parts > 2 {
		return nil, sqlErr("42602", fmt.Sprintf("create_stream: %q is not a table name", s.Target), "target => 'table' or 'schema.table'.")
	}
	rows, err = q.query(ctx, `SELECT coalesce(to_regclass($1)::text, ''), coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)), '')`, s.Target)
	if err != nil {
		return nil, err
	}
	table, relkind := rows[0][0], rows[0][1]
	if table == "" {
		return nil, sqlErr("42P01", fmt.Sprintf("create_stream: target table %q does not exist", s.Target), "Create the table first; the name is resolved with the session's search_path.")
	}
	if relkind != "r" && relkind != "p" {
		return nil, sqlErr("42809", fmt.Sprintf("create_stream: target %s is not a table", table), "A stream writes into an ordinary or partitioned table.")
	}
	t, err := loadTarget(ctx, q, table, mapping)
	if err != nil {
		var uc *unknownColumn
		if errors.As(err, &uc) {
			return nil, sqlErr("42703", "create_stream: "+err.Error(), "The mapping's keys are the target's columns, its values the message's fields.")
		}
		return nil, sqlErr("22023", "create_stream: "+err.Error(), "")
	}
	rows, err = q.query(ctx, "SELECT count(*) FROM flywheel.stream WHERE name = $1", s.Name)
	if err != nil {
		return nil, err
	}
	if rows[0][0] != "0" {
		return nil, sqlErr("42710", fmt.Sprintf("stream %q already exists", s.Name), "Drop it first with flywheel.drop_stream, or choose another name.")
	}
	var brokers, mappingArg any
	if strings.TrimSpace(s.Brokers) != "" {
		brokers = s.Brokers
	}
	if mapping != nil {
		mappingArg = s.Mapping
	}
	if _, err := q.query(ctx, `INSERT INTO flywheel.stream (name, brokers, topic, target, format, mapping, time_zone, start)
VALUES ($1, $2, $3, $4::regclass, $5, $6::jsonb, $7, $8)`, s.Name, brokers, s.Topic, table, s.Format, mappingArg, s.TimeZone, s.Start); err != nil {
		return nil, err
	}
	if err := notify(ctx, q, s.Name); err != nil {
		return nil, err
	}
	return &catalog.StreamInfo{Name: s.Name, Topic: s.Topic, Target: table, Columns: t.describe()}, nil
}

func notify(ctx context.Context, q querier, name string) error {
	_, err := q.query(ctx, "SELECT pg_notify($1, $2)", Channel, name)
	return err
}

func unknownStream(name string) error {
	return sqlErr("42704", fmt.Sprintf("stream %q does not exist", name), "flywheel.streams lists the streams; flywheel.create_stream makes one.")
}

// DropStream implements flywheel.drop_stream.
func (m *Manager) DropStream(ctx context.Context, db catalog.DB, name string) (*catalog.StreamInfo, error) {
	return changeStream(ctx, db, name, "DELETE FROM flywheel.stream WHERE name = $1 RETURNING topic, target::text, coalesce(mapping::text, ''), paused")
}

// PauseStream implements flywheel.pause_stream and resume_stream.
func (m *Manager) PauseStream(ctx context.Context, db catalog.DB, name string, paused bool) (*catalog.StreamInfo, error) {
	p := "false"
	if paused {
		p = "true"
	}
	return changeStream(ctx, db, name, "UPDATE flywheel.stream SET paused = $2::boolean WHERE name = $1 RETURNING topic, target::text, coalesce(mapping::text, ''), paused", p)
}

// changeStream runs sql, a statement on stream name ($1) returning its
// topic, target, mapping and paused, and tells the managers of the change.
func changeStream(ctx context.Context, db catalog.DB, name, sql string, args ...any) (*catalog.StreamInfo, error) {
	q := sessionDB{db}
	rows, err := q.query(ctx, sql, append([]any{name}, args...)...)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, unknownStream(name)
	}
	if err := notify(ctx, q, name); err != nil {
		return nil, err
	}
	return &catalog.StreamInfo{Name: name, Topic: rows[0][0], Target: rows[0][1], Columns: rows[0][2], Paused: rows[0][3] == "t"}, nil
}
