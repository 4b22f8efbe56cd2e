package planner

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// arrayOID returns the array type of common element types, so that most
// statements need no pg_type lookup.
func arrayOID(elem uint32) (uint32, bool) {
	switch elem {
	case pgtype.BoolOID:
		return pgtype.BoolArrayOID, true
	case pgtype.ByteaOID:
		return pgtype.ByteaArrayOID, true
	case pgtype.NameOID:
		return pgtype.NameArrayOID, true
	case pgtype.Int2OID:
		return pgtype.Int2ArrayOID, true
	case pgtype.Int4OID:
		return pgtype.Int4ArrayOID, true
	case pgtype.Int8OID:
		return pgtype.Int8ArrayOID, true
	case pgtype.TextOID:
		return pgtype.TextArrayOID, true
	case pgtype.OIDOID:
		return pgtype.OIDArrayOID, true
	case pgtype.JSONOID:
		return pgtype.JSONArrayOID, true
	case pgtype.Float4OID:
		return pgtype.Float4ArrayOID, true
	case pgtype.Float8OID:
		return pgtype.Float8ArrayOID, true
	case pgtype.BPCharOID:
		return pgtype.BPCharArrayOID, true
	case pgtype.VarcharOID:
		return pgtype.VarcharArrayOID, true
	case pgtype.DateOID:
		return pgtype.DateArrayOID, true
	case pgtype.TimeOID:
		return pgtype.TimeArrayOID, true
	case pgtype.TimestampOID:
		return pgtype.TimestampArrayOID, true
	case pgtype.TimestamptzOID:
		return pgtype.TimestamptzArrayOID, true
	case pgtype.IntervalOID:
		return pgtype.IntervalArrayOID, true
	case pgtype.NumericOID:
		return pgtype.NumericArrayOID, true
	case pgtype.UUIDOID:
		return pgtype.UUIDArrayOID, true
	case pgtype.JSONBOID:
		return pgtype.JSONBArrayOID, true
	}
	return 0, false
}

// isArray reports whether oid is an array type pgtype knows.
func isArray(oid uint32) bool {
	t, ok := pgtype.NewMap().TypeForOID(oid)
	if !ok {
		return false
	}
	_, ok = t.Codec.(*pgtype.ArrayCodec)
	return ok
}

func isInt(oid uint32) bool {
	return oid == pgtype.Int8OID || oid == pgtype.Int4OID || oid == pgtype.Int2OID || oid == pgtype.OIDOID
}
func isFloat(oid uint32) bool {
	return oid == pgtype.Float8OID || oid == pgtype.Float4OID || oid == pgtype.NumericOID
}
func isText(oid uint32) bool {
	return oid == pgtype.TextOID || oid == pgtype.VarcharOID || oid == pgtype.BPCharOID || oid == pgtype.NameOID || oid == pgtype.UnknownOID
}

// typeOID maps a type name in a cast to its OID, for the built-in types
// whose values the planner converts itself; 0 for any other.
func typeOID(tn *pg_query.TypeName) uint32 {
	if tn == nil || len(tn.Names) == 0 || len(tn.ArrayBounds) > 0 || tn.PctType {
		return 0
	}
	if len(tn.Names) == 2 && tn.Names[0].GetString_().GetSval() != "pg_catalog" {
		return 0
	}
	switch tn.Names[len(tn.Names)-1].GetString_().GetSval() {
	case "int2", "smallint":
		return pgtype.Int2OID
	case "int4", "integer", "int":
		return pgtype.Int4OID
	case "int8", "bigint":
		return pgtype.Int8OID
	case "float4", "real":
		return pgtype.Float4OID
	case "float8":
		return pgtype.Float8OID
	case "numeric", "decimal":
		return pgtype.NumericOID
	case "text":
		return pgtype.TextOID
	case "varchar":
		return pgtype.VarcharOID
	case "bpchar":
		return pgtype.BPCharOID
	case "bool", "boolean":
		return pgtype.BoolOID
	case "date":
		return pgtype.DateOID
	case "timestamp":
		return pgtype.TimestampOID
	case "timestamptz":
		return pgtype.TimestamptzOID
	case "uuid":
		return pgtype.UUIDOID
	}
	return 0
}

// typeName is a type's name in messages.
func typeName(oid uint32) string {
	switch oid {
	case pgtype.BoolOID:
		return "boolean"
	case pgtype.Int2OID:
		return "smallint"
	case pgtype.Int4OID:
		return "integer"
	case pgtype.Int8OID:
		return "bigint"
	case pgtype.TextOID:
		return "text"
	case pgtype.Float4OID:
		return "real"
	case pgtype.Float8OID:
		return "double precision"
	case pgtype.NumericOID:
		return "numeric"
	case pgtype.VarcharOID:
		return "character varying"
	case pgtype.UnknownOID:
		return "unknown"
	case pgtype.DateOID:
		return "date"
	case pgtype.UUIDOID:
		return "uuid"
	}
	return fmt.Sprintf("type %d", oid)
}

// constValue evaluates a constant argument: a literal, possibly negative,
// possibly cast to a built-in type. ok is false for anything else, which
// PostgreSQL then evaluates. oid is the constant's type (705 for an
// untyped string literal, 0 for NULL).
func constValue(n *pg_query.Node) (v any, oid uint32, ok bool, err error) {
	if c := n.GetAConst(); c != nil {
		if c.Isnull {
			return nil, 0, true, nil
		}
		switch val := c.Val.(type) {
		case *pg_query.A_Const_Ival:
			return int64(val.Ival.Ival), pgtype.Int4OID, true, nil
		case *pg_query.A_Const_Fval:
			// Integers too large for int64 come as Fval too. A literal
			// beyond float8's range reads as ±Inf, which the argument's
			// own check refuses (PostgreSQL evaluating it instead gave a
			// bare 22P02 on a 400-digit number).
			f, err := strconv.ParseFloat(val.Fval.Fval, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, 0, false, nil
			}
			return f, pgtype.NumericOID, true, nil
		case *pg_query.A_Const_Boolval:
			return val.Boolval.Boolval, pgtype.BoolOID, true, nil
		case *pg_query.A_Const_Sval:
			return val.Sval.Sval, pgtype.UnknownOID, true, nil
		}
		return nil, 0, false, nil
	}
	if tc := n.GetTypeCast(); tc != nil {
		to := typeOID(tc.TypeName)
		if to == 0 {
			return nil, 0, false, nil
		}
		v, from, ok, err := constValue(tc.Arg)
		if !ok || err != nil {
			return nil, 0, ok, err
		}
		v, err = castValue(v, from, to)
		return v, to, err == nil, err
	}
	return nil, 0, false, nil
}

// castValue converts a constant to a built-in type as PostgreSQL's cast
// would.
func castValue(v any, from, to uint32) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch {
	case isInt(to):
		var i int64
		switch x := v.(type) {
		case int64:
			i = x
		case float64:
			// Outside ±2^63 the conversion has no defined result.
			if r := math.Round(x); r >= -(1<<63) && r < 1<<63 {
				i = int64(r)
			} else {
				return nil, outOfRange(to)
			}
		case string:
			var err error
			if i, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64); errors.Is(err, strconv.ErrRange) {
				return nil, outOfRange(to)
			} else if err != nil {
				return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type %s: %q", typeName(to), x)}
			}
		case bool:
			if x {
				i = 1
			}
		default:
			return nil, &Error{Code: "42846", Message: fmt.Sprintf("cannot cast type %s to %s", typeName(from), typeName(to))}
		}
		if to == pgtype.Int4OID && (i < math.MinInt32 || i > math.MaxInt32) || to == pgtype.Int2OID && (i < math.MinInt16 || i > math.MaxInt16) {
			return nil, outOfRange(to)
		}
		return i, nil
	case isFloat(to):
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			f, err := parseFloat(x)
			if err != nil {
				return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type %s: %q", typeName(to), x)}
			}
			return f, nil
		}
	case to == pgtype.BoolOID:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			b, ok := parseBool(x)
			if !ok {
				return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type boolean: %q", x)}
			}
			return b, nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	}
	return nil, &Error{Code: "42846", Message: fmt.Sprintf("cannot cast type %s to %s", typeName(from), typeName(to))}
}

// outOfRange is PostgreSQL's error for an integer cast that overflows.
func outOfRange(to uint32) *Error {
	return &Error{Code: "22003", Message: typeName(to) + " out of range"}
}

// coerce converts an argument's value of type oid to the catalog
// argument's type, as PostgreSQL's function-call resolution would: untyped
// string literals are read as the argument's type, integers widen to
// floats, anything else of the wrong type is 42804.
func coerce(v any, oid uint32, fa catalog.Arg, fn string) (any, error) {
	if v == nil {
		return nil, nil
	}
	to := fa.Type.OID
	wrong := func() error {
		return &Error{Code: "42804", Message: fmt.Sprintf("argument %q of %s must be %s, not %s", fa.Name, fn, fa.Type.Name, typeName(oid)),
			Hint: "Add an explicit cast, e.g. '...'::" + fa.Type.Name + "."}
	}
	switch {
	case to == 0 || to == catalog.AnyType.OID:
		return v, nil
	case isText(to):
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, wrong()
	case !isInt(to) && !isFloat(to) && to != pgtype.BoolOID:
		return v, nil
	}
	switch x := v.(type) {
	case string:
		if oid != pgtype.UnknownOID {
			return nil, wrong()
		}
		return castValue(x, oid, to)
	case int64:
		if isInt(to) {
			return x, nil
		}
		if isFloat(to) {
			return float64(x), nil
		}
	case float64:
		if isFloat(to) {
			return x, nil
		}
		if isInt(to) && x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), nil
		}
	case bool:
		if to == pgtype.BoolOID {
			return x, nil
		}
	}
	return nil, wrong()
}

// parseFloat reads a float as PostgreSQL's float8 input does.
func parseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "infinity", "+infinity", "inf", "+inf":
		return math.Inf(1), nil
	case "-infinity", "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// parseBool reads a boolean as PostgreSQL's bool input does: any prefix
// of true/false/yes/no, on, off (at least "of"), 1 or 0.
func parseBool(s string) (bool, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return false, false
	case strings.HasPrefix("true", s), strings.HasPrefix("yes", s), s == "on", s == "1":
		return true, true
	case strings.HasPrefix("false", s), strings.HasPrefix("no", s), len(s) >= 2 && strings.HasPrefix("off", s), s == "0":
		return false, true
	}
	return false, false
}

// decodeText reads a text-format value of type oid into the planner's
// value types: int64, float64, bool or string.
func decodeText(b []byte, oid uint32) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch {
	case isInt(oid):
		i, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type %s: %q", typeName(oid), b)}
		}
		return i, nil
	case isFloat(oid):
		f, err := parseFloat(string(b))
		if err != nil {
			return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type %s: %q", typeName(oid), b)}
		}
		return f, nil
	case oid == pgtype.BoolOID:
		v, ok := parseBool(string(b))
		if !ok {
			return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type boolean: %q", b)}
		}
		return v, nil
	}
	return string(b), nil
}

// decodeBinary reads a binary-format parameter of type oid with pgtype's
// codecs, into the planner's value types; dates and timestamps become
// their ISO text, which keyText then has PostgreSQL print as it would.
func decodeBinary(b []byte, oid uint32) (any, error) {
	if b == nil {
		return nil, nil
	}
	m := pgtype.NewMap() // cheap, and a Map is not safe for concurrent use
	var v any
	var t time.Time
	var err error
	switch {
	case oid == pgtype.BoolOID:
		v, err = scanBinary[bool](m, oid, b)
	case oid == pgtype.OIDOID:
		var u uint32
		u, err = scanBinary[uint32](m, oid, b)
		v = int64(u)
	case isInt(oid):
		v, err = scanBinary[int64](m, oid, b)
	case isFloat(oid):
		v, err = scanBinary[float64](m, oid, b)
	case isText(oid), oid == pgtype.JSONOID, oid == pgtype.JSONBOID, oid == pgtype.UUIDOID:
		v, err = scanBinary[string](m, oid, b)
	case oid == pgtype.DateOID:
		t, err = scanBinary[time.Time](m, oid, b)
		v = t.Format("2006-01-02")
	case oid == pgtype.TimestampOID:
		t, err = scanBinary[time.Time](m, oid, b)
		v = t.Format("2006-01-02 15:04:05.999999")
	case oid == pgtype.TimestamptzOID:
		t, err = scanBinary[time.Time](m, oid, b)
		v = t.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	default:
		return nil, &Error{Code: "0A000", Message: fmt.Sprintf("binary format for a model function argument of %s is not supported", typeName(oid)),
			Hint: "Send the parameter in text format."}
	}
	if err != nil {
		return nil, &Error{Code: "22P03", Message: fmt.Sprintf("incorrect binary data format for a parameter of type %s", typeName(oid))}
	}
	return v, nil
}

func scanBinary[T any](m *pgtype.Map, oid uint32, b []byte) (T, error) {
	var v T
	err := m.Scan(oid, pgtype.BinaryFormatCode, b, &v)
	return v, err
}
