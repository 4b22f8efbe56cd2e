package planner

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Type OIDs the planner reasons about.
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidAnyElement  = 2283
	oidJSONB       = 3802
	oidTextArray   = 1009
)

// arrayOID returns the array type of common element types, so that most
// statements need no pg_type lookup.
func arrayOID(elem uint32) (uint32, bool) {
	switch elem {
	case oidBool:
		return 1000, true
	case oidBytea:
		return 1001, true
	case oidName:
		return 1003, true
	case oidInt2:
		return 1005, true
	case oidInt4:
		return 1007, true
	case oidInt8:
		return 1016, true
	case oidText:
		return 1009, true
	case oidOID:
		return 1028, true
	case oidJSON:
		return 199, true
	case oidFloat4:
		return 1021, true
	case oidFloat8:
		return 1022, true
	case oidBPChar:
		return 1014, true
	case oidVarchar:
		return 1015, true
	case oidDate:
		return 1182, true
	case oidTime:
		return 1183, true
	case oidTimestamp:
		return 1115, true
	case oidTimestamptz:
		return 1185, true
	case oidInterval:
		return 1187, true
	case oidNumeric:
		return 1231, true
	case oidUUID:
		return 2951, true
	case oidJSONB:
		return 3807, true
	}
	return 0, false
}

func isInt(oid uint32) bool {
	return oid == oidInt8 || oid == oidInt4 || oid == oidInt2 || oid == oidOID
}
func isFloat(oid uint32) bool { return oid == oidFloat8 || oid == oidFloat4 || oid == oidNumeric }
func isText(oid uint32) bool {
	return oid == oidText || oid == oidVarchar || oid == oidBPChar || oid == oidName || oid == oidUnknown
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
		return oidInt2
	case "int4", "integer", "int":
		return oidInt4
	case "int8", "bigint":
		return oidInt8
	case "float4", "real":
		return oidFloat4
	case "float8":
		return oidFloat8
	case "numeric", "decimal":
		return oidNumeric
	case "text":
		return oidText
	case "varchar":
		return oidVarchar
	case "bpchar":
		return oidBPChar
	case "bool", "boolean":
		return oidBool
	case "date":
		return oidDate
	case "timestamp":
		return oidTimestamp
	case "timestamptz":
		return oidTimestamptz
	case "uuid":
		return oidUUID
	}
	return 0
}

// typeName is a type's name in messages.
func typeName(oid uint32) string {
	switch oid {
	case oidBool:
		return "boolean"
	case oidInt2:
		return "smallint"
	case oidInt4:
		return "integer"
	case oidInt8:
		return "bigint"
	case oidText:
		return "text"
	case oidFloat4:
		return "real"
	case oidFloat8:
		return "double precision"
	case oidNumeric:
		return "numeric"
	case oidVarchar:
		return "character varying"
	case oidUnknown:
		return "unknown"
	case oidDate:
		return "date"
	case oidUUID:
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
			return int64(val.Ival.Ival), oidInt4, true, nil
		case *pg_query.A_Const_Fval:
			// Integers too large for int64 come as Fval too. A literal
			// beyond float8's range reads as ±Inf, which the argument's
			// own check refuses (PostgreSQL evaluating it instead gave a
			// bare 22P02 on a 400-digit number).
			f, err := strconv.ParseFloat(val.Fval.Fval, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, 0, false, nil
			}
			return f, oidNumeric, true, nil
		case *pg_query.A_Const_Boolval:
			return val.Boolval.Boolval, oidBool, true, nil
		case *pg_query.A_Const_Sval:
			return val.Sval.Sval, oidUnknown, true, nil
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
		if to == oidInt4 && (i < math.MinInt32 || i > math.MaxInt32) || to == oidInt2 && (i < math.MinInt16 || i > math.MaxInt16) {
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
	case to == oidBool:
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
	case to == 0 || to == oidAnyElement:
		return v, nil
	case isInt(to):
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
			return nil, wrong()
		case string:
			if oid != oidUnknown {
				return nil, wrong()
			}
			return castValue(x, oid, to)
		}
	case isFloat(to):
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if oid != oidUnknown {
				return nil, wrong()
			}
			return castValue(x, oid, to)
		}
	case to == oidBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if oid != oidUnknown {
				return nil, wrong()
			}
			return castValue(x, oid, to)
		}
	case isText(to):
		if s, ok := v.(string); ok {
			return s, nil
		}
	default:
		return v, nil
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
	case oid == oidBool:
		v, ok := parseBool(string(b))
		if !ok {
			return nil, &Error{Code: "22P02", Message: fmt.Sprintf("invalid input syntax for type boolean: %q", b)}
		}
		return v, nil
	}
	return string(b), nil
}

// decodeBinary reads a binary-format parameter of type oid.
func decodeBinary(b []byte, oid uint32) (any, error) {
	if b == nil {
		return nil, nil
	}
	bad := func() error {
		return &Error{Code: "22P03", Message: fmt.Sprintf("incorrect binary data format for a parameter of type %s", typeName(oid))}
	}
	switch oid {
	case oidBool:
		if len(b) != 1 {
			return nil, bad()
		}
		return b[0] != 0, nil
	case oidInt2:
		if len(b) != 2 {
			return nil, bad()
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case oidInt4:
		if len(b) != 4 {
			return nil, bad()
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case oidOID:
		if len(b) != 4 {
			return nil, bad()
		}
		return int64(binary.BigEndian.Uint32(b)), nil
	case oidInt8:
		if len(b) != 8 {
			return nil, bad()
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case oidFloat4:
		if len(b) != 4 {
			return nil, bad()
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case oidFloat8:
		if len(b) != 8 {
			return nil, bad()
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case oidNumeric:
		s, err := numericText(b)
		if err != nil {
			return nil, bad()
		}
		return parseFloat(s)
	case oidText, oidVarchar, oidBPChar, oidName, oidUnknown, oidJSON:
		return string(b), nil
	case oidJSONB:
		if len(b) < 1 || b[0] != 1 {
			return nil, bad()
		}
		return string(b[1:]), nil
	case oidUUID:
		if len(b) != 16 {
			return nil, bad()
		}
		h := hex.EncodeToString(b)
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
	case oidDate:
		if len(b) != 4 {
			return nil, bad()
		}
		days := int32(binary.BigEndian.Uint32(b))
		return pgEpoch().AddDate(0, 0, int(days)).Format("2006-01-02"), nil
	case oidTimestamp, oidTimestamptz:
		if len(b) != 8 {
			return nil, bad()
		}
		us := int64(binary.BigEndian.Uint64(b))
		t := pgEpoch().Add(time.Duration(us) * time.Microsecond)
		if oid == oidTimestamptz {
			return t.Format("2006-01-02 15:04:05.999999Z07:00"), nil
		}
		return t.Format("2006-01-02 15:04:05.999999"), nil
	}
	return nil, &Error{Code: "0A000", Message: fmt.Sprintf("binary format for a model function argument of %s is not supported", typeName(oid)),
		Hint: "Send the parameter in text format."}
}

// pgEpoch is PostgreSQL's date and timestamp epoch.
func pgEpoch() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }

// numericText renders a binary numeric as decimal text.
func numericText(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("short numeric")
	}
	ndigits := int(binary.BigEndian.Uint16(b[0:]))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	if len(b) != 8+2*ndigits {
		return "", fmt.Errorf("bad numeric length")
	}
	switch sign {
	case 0xC000:
		return "NaN", nil
	case 0xD000:
		return "Infinity", nil
	case 0xF000:
		return "-Infinity", nil
	}
	var sb strings.Builder
	if sign == 0x4000 {
		sb.WriteByte('-')
	}
	digit := func(i int) int {
		if i < 0 || i >= ndigits {
			return 0
		}
		return int(binary.BigEndian.Uint16(b[8+2*i:]))
	}
	if weight < 0 {
		sb.WriteByte('0')
	}
	for i := 0; i <= weight; i++ {
		if i == 0 {
			fmt.Fprintf(&sb, "%d", digit(i))
		} else {
			fmt.Fprintf(&sb, "%04d", digit(i))
		}
	}
	if ndigits > weight+1 {
		sb.WriteByte('.')
		for i := weight + 1; i < ndigits; i++ {
			fmt.Fprintf(&sb, "%04d", digit(i))
		}
	}
	return sb.String(), nil
}
