package catalog

import (
	"slices"
	"strings"
	"testing"
)

// TestKeyOrder checks each type's order on values listed ascending: every
// pair must compare as their positions do.
func TestKeyOrder(t *testing.T) {
	cases := []struct {
		name string
		oid  uint32
		asc  []string
	}{
		{"integer", 23, []string{"-10", "-9", "-1", "0", "1", "2", "9", "10", "11", "100"}},
		{"bigint", 20, []string{"-9223372036854775808", "-9007199254740993", "-9007199254740992", "9007199254740992", "9007199254740993", "9223372036854775807"}},
		{"numeric", 1700, []string{"-Infinity", "-100", "-2.5", "-2.25", "-0.001", "0", "0.00", "0.5", "0.51", "1", "1.0", "9.99", "10",
			"123456789012345678901234567890.1", "123456789012345678901234567890.12", "Infinity", "NaN"}},
		{"float8", 701, []string{"-Infinity", "-1e+300", "-2.5", "-0", "0", "1e-300", "0.5", "2", "10", "1e+20", "Infinity", "NaN"}},
		{"real", 700, []string{"-3.4028235e+38", "-1", "1.5", "9", "10"}},
		{"text bytes (C collation)", 25, []string{"", "A", "B", "Z", "a", "ab", "b", "z", "é"}},
		{"date", 1082, []string{"-infinity", "4713-01-01 BC", "0044-03-15 BC", "0001-12-31 BC", "0001-01-01", "0999-12-31", "2023-01-31",
			"2023-02-28", "2024-02-29", "9999-12-31", "10000-01-01", "infinity"}},
		{"timestamp", 1114, []string{"0001-01-01 00:00:00 BC", "1999-12-31 23:59:59.999999", "2000-01-01 00:00:00", "2000-01-01 00:00:00.5",
			"2000-01-01 00:00:01", "2000-01-01 10:00:00", "10000-01-01 00:00:00"}},
		{"timestamptz", 1184, []string{"2024-01-01 09:00:00+10", "2024-01-01 00:00:00+00", "2024-01-01 05:30:00.25+05:30",
			"2023-12-31 20:00:00.5-04", "2024-01-01 00:00:00-00:00:01", "2024-01-01 01:00:00+00"}},
		{"boolean", 16, []string{"f", "t"}},
	}
	for _, c := range cases {
		for i, a := range c.asc {
			for j, b := range c.asc {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				if got := compareKeyText(c.oid, []byte(a), []byte(b)); got != want {
					t.Errorf("%s: compare(%q, %q) = %d, want %d", c.name, a, b, got, want)
				}
			}
		}
	}
}

// TestKeyOrderColumn checks NULL last and the sort of a whole column,
// and that a comparison allocates nothing for the common key types.
func TestKeyOrderColumn(t *testing.T) {
	c := NewColumn(InputColumn{Name: "k", Type: 23})
	for _, v := range []string{"10", "NULL", "9", "-1", "100", "NULL", "2"} {
		if v == "NULL" {
			c.Append(nil)
		} else {
			c.Append([]byte(v))
		}
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6}
	slices.SortStableFunc(rows, c.compare)
	var got []string
	for _, r := range rows {
		if c.Null(r) {
			got = append(got, "NULL")
		} else {
			got = append(got, c.Text(r))
		}
	}
	if s := strings.Join(got, " "); s != "-1 2 9 10 100 NULL NULL" {
		t.Errorf("sorted %s", s)
	}
	text := NewColumn(InputColumn{Name: "t", Type: 25})
	text.Append([]byte("item-10"))
	text.Append([]byte("item-9"))
	if n := testing.AllocsPerRun(100, func() { c.compare(0, 2); text.compare(0, 1) }); n != 0 {
		t.Errorf("compare allocates %v times", n)
	}
	if text.compare(0, 1) >= 0 {
		t.Errorf("text compares by bytes: item-10 sorts before item-9")
	}
}
