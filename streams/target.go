package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgident"
)

// A target is the table a stream writes to, as the consumer needs it: the
// columns it fills, each from a message field, and how to check a field's
// JSON value against the column's type. Types are checked in Go so that a
// bad message is found before COPY (a COPY fails as a whole); what only
// PostgreSQL can judge (a timestamp's syntax, a CHECK, a foreign key) is
// caught by the row-by-row fallback in the batch transaction.

type kind int

const (
	kindText kind = iota // anything: strings as they are, other JSON as its text
	kindInt
	kindFloat
	kindNumeric
	kindBool
	kindTime // timestamps and dates: strings, or numbers as Unix seconds
	kindJSON
)

type column struct {
	Name     string
	Field    string // the message field
	Type     string // format_type
	kind     kind
	bits     int    // integer width
	NotNull  bool   // NOT NULL without a default: the field is required
	Default  string // the column default's SQL, "" without one
	Position int
}

type target struct {
	Table   string // the table's name, quoted as regclass::text gives it
	Columns []column
}

// kindOf maps a type OID to its kind.
func kindOf(oid uint32) (kind, int) {
	switch oid {
	case 21:
		return kindInt, 16
	case 23:
		return kindInt, 32
	case 20:
		return kindInt, 64
	case 700, 701:
		return kindFloat, 0
	case 1700:
		return kindNumeric, 0
	case 16:
		return kindBool, 0
	case 1082, 1114, 1184:
		return kindTime, 0
	case 114, 3802:
		return kindJSON, 0
	}
	return kindText, 0
}

// columnsSQL lists a table's columns. $1 is the table as regclass text.
const columnsSQL = `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid::int8, a.attnotnull,
	coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity <> '' OR a.attgenerated <> ''
	OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%'
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

// tableColumn is a row of columnsSQL.
type tableColumn struct {
	name, typ string
	oid       uint32
	notNull   bool
	def       string
	generated bool // identity, generated or serial: left to the table unless mapped
}

// parseMapping reads a mapping's JSON text: {"column": "field"}.
func parseMapping(text string) (map[string]string, []string, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("mapping must be a JSON object {\"column\": \"field\", ...}")
	}
	m := map[string]string{}
	var order []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("mapping: %w", err)
		}
		v, err := dec.Token()
		f, ok := v.(string)
		if err != nil || !ok {
			return nil, nil, fmt.Errorf("mapping: the value for column %q must be a field name (a JSON string)", k)
		}
		col := k.(string)
		if _, dup := m[col]; dup {
			return nil, nil, fmt.Errorf("mapping: column %q appears twice", col)
		}
		m[col] = f
		order = append(order, col)
	}
	if len(m) == 0 {
		return nil, nil, fmt.Errorf("mapping must name at least one column")
	}
	return m, order, nil
}

// buildTarget chooses the columns a stream fills: with a mapping, the
// columns it names, in the table's order; without, every column except
// identity, generated and serial ones, each from the field of its name.
func buildTarget(table string, cols []tableColumn, mapping map[string]string) (*target, error) {
	t := &target{Table: table}
	seen := map[string]bool{}
	for _, c := range cols {
		field, mapped := mapping[c.name]
		if mapping != nil && !mapped {
			continue
		}
		if mapping == nil {
			if c.generated {
				continue
			}
			field = c.name
		}
		seen[c.name] = true
		k, bits := kindOf(c.oid)
		t.Columns = append(t.Columns, column{Name: c.name, Field: field, Type: c.typ, kind: k, bits: bits,
			NotNull: c.notNull && c.def == "", Default: c.def, Position: len(t.Columns)})
	}
	for col := range mapping {
		if !seen[col] {
			return nil, &unknownColumn{table: table, column: col}
		}
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("table %s has no column a stream can fill", table)
	}
	return t, nil
}

type unknownColumn struct{ table, column string }

func (e *unknownColumn) Error() string {
	return fmt.Sprintf("column %q of the mapping does not exist in %s", e.column, e.table)
}

// describe is the columns as create_stream reports them.
func (t *target) describe() string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		parts[i] = c.Name + " <- " + c.Field
	}
	return strings.Join(parts, ", ")
}

// insertSelect is the SELECT list that casts the staging table's text
// columns to the target's types; a missing value takes the column's
// default, as it would in an INSERT that left the column out.
func (t *target) insertSelect(alias string) string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		v := alias + "." + stageColumn(i) + "::" + c.Type
		if c.Default != "" {
			v = "coalesce(" + v + ", " + c.Default + ")"
		}
		parts[i] = v
	}
	return strings.Join(parts, ", ")
}

func (t *target) columnList() string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		parts[i] = pgident.Quote(c.Name)
	}
	return strings.Join(parts, ", ")
}

func stageColumn(i int) string { return "c" + strconv.Itoa(i) }

// badMessage is why a message cannot become a row.
type badMessage struct{ msg string }

func (e *badMessage) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badMessage{fmt.Sprintf(format, args...)} }

// decode turns one JSON message into the staging row's text values (nil:
// NULL), or a *badMessage.
func (t *target) decode(raw []byte, row []any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return bad("undecodable JSON: %v", err)
	}
	if obj == nil {
		return bad("the message is not a JSON object")
	}
	for i, c := range t.Columns {
		v, ok := obj[c.Field]
		if !ok || string(v) == "null" {
			if c.NotNull {
				if !ok {
					return bad("missing required field %q (column %s is NOT NULL)", c.Field, c.Name)
				}
				return bad("field %q is null, but column %s is NOT NULL", c.Field, c.Name)
			}
			row[i] = nil
			continue
		}
		s, err := c.value(v)
		if err != nil {
			return bad("field %q: %v", c.Field, err)
		}
		row[i] = s
	}
	return nil
}

// value checks one JSON value against the column's type and returns the
// text PostgreSQL's input function reads.
func (c *column) value(v json.RawMessage) (string, error) {
	isString := v[0] == '"'
	switch c.kind {
	case kindJSON:
		return string(v), nil
	case kindText:
		if isString {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", err
			}
			return s, nil
		}
		return string(v), nil
	case kindBool:
		switch string(v) {
		case "true", "false":
			return string(v), nil
		}
		return "", fmt.Errorf("%s is not a boolean (column %s is %s)", v, c.Name, c.Type)
	case kindInt, kindFloat, kindNumeric:
		if isString || v[0] == '{' || v[0] == '[' || v[0] == 't' || v[0] == 'f' {
			return "", fmt.Errorf("%s is not a number (column %s is %s)", v, c.Name, c.Type)
		}
		s := string(v)
		if c.kind == kindInt {
			n, err := strconv.ParseInt(s, 10, c.bits)
			if err != nil {
				// 1e3 and 10.0 are integers written otherwise.
				f, ok := new(big.Float).SetString(s)
				if !ok || !f.IsInt() {
					return "", fmt.Errorf("%s is not an integer (column %s is %s)", v, c.Name, c.Type)
				}
				i, acc := f.Int64()
				if acc != big.Exact || (c.bits < 64 && (i > 1<<(c.bits-1)-1 || i < -(1<<(c.bits-1)))) {
					return "", fmt.Errorf("%s is out of range for column %s (%s)", v, c.Name, c.Type)
				}
				n = i
			}
			return strconv.FormatInt(n, 10), nil
		}
		return s, nil
	case kindTime:
		if isString {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", err
			}
			return s, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return "", fmt.Errorf("%s is neither a timestamp string nor Unix seconds (column %s is %s)", v, c.Name, c.Type)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format("2006-01-02 15:04:05.999999Z07:00"), nil
	}
	return string(v), nil
}

// loadTarget reads the target's columns on q.
func loadTarget(ctx context.Context, q querier, table string, mapping map[string]string) (*target, error) {
	rows, err := q.query(ctx, columnsSQL, table)
	if err != nil {
		return nil, err
	}
	var cols []tableColumn
	for _, r := range rows {
		oid, _ := strconv.ParseUint(r[2], 10, 32)
		cols = append(cols, tableColumn{name: r[0], typ: r[1], oid: uint32(oid), notNull: r[3] == "t", def: r[4], generated: r[5] == "t"})
	}
	return buildTarget(table, cols, mapping)
}
