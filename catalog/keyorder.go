package catalog

import (
	"bytes"
	"cmp"
	"math"
	"strconv"
)

// Key order. SQL relations are unordered, so wherever a function needs an
// order of its input's keys — matrix rows and columns, k-means' rows, tie
// breaks in rankings — it uses the keys' own order, never the order the
// rows arrived in. The order is the key type's natural one, read from the
// text form PostgreSQL sends:
//
//   - smallint, integer, bigint, oid and numeric numerically and exactly
//     (9 before 10, -2 before -1, 0.5 before 0.51); numeric's -Infinity
//     first, then finite values, Infinity, NaN last, as PostgreSQL sorts;
//   - real and double precision numerically, NaN last;
//   - date, timestamp and timestamptz chronologically (timestamptz by the
//     instant, whatever offset it was printed with; BC dates and
//     ±infinity included), when printed in the ISO DateStyle;
//   - every other type (text, varchar, uuid, boolean, time, ...) by the
//     bytes of its text form: the "C" collation for text, whatever the
//     database's collation says. Byte order is the one order every
//     PostgreSQL agrees on; ORDER BY under another collation can differ.
//
// Values the type's order holds equal but whose texts differ (numeric 1.0
// and 1.00, float -0 and 0) are ordered by their bytes, and NULL comes
// last, so the order is total on what the functions tell apart (keys are
// matched by their text form).

// compare orders values i and j of the column in key order.
func (c *Column) compare(i, j int) int {
	ni, nj := c.nulls[i], c.nulls[j]
	switch {
	case ni && nj:
		return 0
	case ni:
		return 1
	case nj:
		return -1
	}
	return compareKeyText(c.Type, c.Bytes(i), c.Bytes(j))
}

// compareKeyText compares two non-NULL values of type oid by their text
// forms in key order (see above).
func compareKeyText(oid uint32, a, b []byte) int {
	switch oid {
	case 20, 21, 23, 26, 1700: // int8 int2 int4 oid numeric
		if r, ok := compareDecimal(a, b); ok && r != 0 {
			return r
		}
	case 700, 701: // float4 float8
		if r, ok := compareFloat(a, b); ok && r != 0 {
			return r
		}
	case 1082, 1114, 1184: // date timestamp timestamptz
		ta, oka := parseKeyTime(a, oid == 1184)
		tb, okb := parseKeyTime(b, oid == 1184)
		if oka && okb {
			if r := ta.compare(tb); r != 0 {
				return r
			}
		}
	}
	return bytes.Compare(a, b)
}

// compareDecimal compares decimal numerals as PostgreSQL prints integers
// and numerics: [-]digits[.digits], NaN, Infinity or -Infinity. It works
// on the digits, so it is exact at any precision. ok is false when either
// text is not such a numeral.
func compareDecimal(a, b []byte) (r int, ok bool) {
	ca, na, ia, fa, oka := splitDecimal(a)
	cb, nb, ib, fb, okb := splitDecimal(b)
	if !oka || !okb {
		return 0, false
	}
	if ca != cb {
		return cmp.Compare(ca, cb), true
	}
	if ca != decFinite {
		return 0, true
	}
	if na != nb {
		if na {
			return -1, true
		}
		return 1, true
	}
	// Same sign: compare magnitudes. Integer parts have no leading zeros,
	// so the longer one is larger; fraction parts have no trailing zeros,
	// so plain byte order is numeric order.
	m := cmp.Or(cmp.Compare(len(ia), len(ib)), bytes.Compare(ia, ib), bytes.Compare(fa, fb))
	if na {
		m = -m
	}
	return m, true
}

// Classes of decimal numerals, in PostgreSQL's sort order.
const (
	decNegInf = iota
	decFinite
	decPosInf
	decNaN
)

// splitDecimal parses a numeral into its class, sign, integer digits
// without leading zeros and fraction digits without trailing zeros. Zero
// is never negative, so -0 and 0 compare equal.
func splitDecimal(s []byte) (class int, neg bool, ip, fp []byte, ok bool) {
	switch string(s) { // no allocation: the conversion is only compared
	case "NaN":
		return decNaN, false, nil, nil, true
	case "Infinity":
		return decPosInf, false, nil, nil, true
	case "-Infinity":
		return decNegInf, false, nil, nil, true
	}
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	dot := len(s)
	for i, ch := range s {
		switch {
		case ch == '.' && dot == len(s):
			dot = i
		case ch < '0' || ch > '9':
			return 0, false, nil, nil, false
		}
	}
	ip, fp = s[:dot], nil
	if dot < len(s) {
		fp = s[dot+1:]
	}
	if len(ip) == 0 && len(fp) == 0 {
		return 0, false, nil, nil, false
	}
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	if len(ip) == 0 && len(fp) == 0 {
		neg = false
	}
	return decFinite, neg, ip, fp, true
}

// compareFloat compares real or double precision texts by value, NaN
// after everything else as PostgreSQL sorts it.
func compareFloat(a, b []byte) (int, bool) {
	x, errx := strconv.ParseFloat(string(a), 64)
	y, erry := strconv.ParseFloat(string(b), 64)
	if errx != nil || erry != nil {
		return 0, false
	}
	switch nx, ny := math.IsNaN(x), math.IsNaN(y); {
	case nx && ny:
		return 0, true
	case nx:
		return 1, true
	case ny:
		return -1, true
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

// keyTime is a date or timestamp as a point on one line: class
// (-infinity, finite, infinity), then seconds and microseconds since
// 0000-03-01 of the proleptic Gregorian calendar (astronomical years, so
// 1 BC is year 0), in UTC for timestamptz.
type keyTime struct {
	class int
	sec   int64
	usec  int64
}

func (t keyTime) compare(u keyTime) int {
	return cmp.Or(cmp.Compare(t.class, u.class), cmp.Compare(t.sec, u.sec), cmp.Compare(t.usec, u.usec))
}

// parseKeyTime reads PostgreSQL's ISO output of a date, timestamp or
// (with tz) timestamptz: Y-MM-DD[ HH:MM:SS[.ffffff]][±HH[:MM[:SS]]][ BC],
// infinity or -infinity. ok is false for anything else (another
// DateStyle), which then orders by bytes.
func parseKeyTime(s []byte, tz bool) (keyTime, bool) {
	switch string(s) {
	case "infinity":
		return keyTime{class: decPosInf}, true
	case "-infinity":
		return keyTime{class: decNegInf}, true
	}
	bc := false
	if n := len(s); n > 3 && string(s[n-3:]) == " BC" {
		bc, s = true, s[:n-3]
	}
	p := 0
	num := func(min, max int) (int64, bool) {
		start := p
		v := int64(0)
		for p < len(s) && p-start < max && s[p] >= '0' && s[p] <= '9' {
			v = v*10 + int64(s[p]-'0')
			p++
		}
		return v, p-start >= min
	}
	lit := func(ch byte) bool {
		if p < len(s) && s[p] == ch {
			p++
			return true
		}
		return false
	}
	year, ok1 := num(4, 8)
	ok2 := lit('-')
	month, ok3 := num(2, 2)
	ok4 := lit('-')
	day, ok5 := num(2, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || month < 1 || month > 12 || day < 1 || day > 31 {
		return keyTime{}, false
	}
	var tod, usec int64
	if lit(' ') {
		h, ok1 := num(2, 2)
		ok2 := lit(':')
		m, ok3 := num(2, 2)
		ok4 := lit(':')
		sec, ok5 := num(2, 2)
		if !(ok1 && ok2 && ok3 && ok4 && ok5) {
			return keyTime{}, false
		}
		tod = h*3600 + m*60 + sec
		if lit('.') {
			start := p
			f, ok := num(1, 6)
			if !ok {
				return keyTime{}, false
			}
			for k := p - start; k < 6; k++ {
				f *= 10
			}
			usec = f
		}
		if tz && p < len(s) && (s[p] == '+' || s[p] == '-') {
			sign := int64(1)
			if s[p] == '-' {
				sign = -1
			}
			p++
			oh, ok := num(2, 2)
			if !ok {
				return keyTime{}, false
			}
			off := oh * 3600
			if lit(':') {
				om, ok := num(2, 2)
				if !ok {
					return keyTime{}, false
				}
				off += om * 60
				if lit(':') {
					osec, ok := num(2, 2)
					if !ok {
						return keyTime{}, false
					}
					off += osec
				}
			}
			tod -= sign * off // local time minus its offset is UTC
		}
	}
	if p != len(s) {
		return keyTime{}, false
	}
	if bc {
		year = 1 - year
	}
	return keyTime{class: decFinite, sec: daysFromCivil(year, month, day)*86400 + tod, usec: usec}, true
}

// daysFromCivil counts days from 0000-03-01 to y-m-d in the proleptic
// Gregorian calendar (Howard Hinnant's days_from_civil, shifted): years
// start in March so that the leap day ends one.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era-- // floor division
	}
	yoe := y - era*400                     // [0, 399]
	mp := (m + 9) % 12                     // March = 0
	doy := (153*mp+2)/5 + d - 1            // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe
}
