package catalog

import "testing"

func relationOf(col InputColumn, values ...string) *Relation {
	c := NewColumn(col)
	for _, v := range values {
		if v == "NULL" {
			c.Append(nil)
		} else {
			c.Append([]byte(v))
		}
	}
	return &Relation{Columns: []*Column{c}}
}

func TestRelationMark(t *testing.T) {
	for _, c := range []struct {
		col    InputColumn
		values []string
		water  string
		want   string
	}{
		{InputColumn{Name: "id", Type: 20}, []string{"1", "2", "NULL"}, "", "3"},
		// Exact beyond float64: 2^53 + 1 is greater than 2^53.
		{InputColumn{Name: "id", Type: 20}, []string{"9007199254740993", "9007199254740992", "NULL"}, "id", "9007199254740993"},
		{InputColumn{Name: "v", Type: 1700}, []string{"-1.5", "-1.25"}, "v", "-1.25"},
		{InputColumn{Name: "ts", Type: 1184}, []string{"2024-01-01 00:00:00+00", "2024-01-01 03:00:00.5+02", "2023-12-31 23:30:00+00"}, "ts", "1704070800500000"},
		{InputColumn{Name: "d", Type: 1082}, []string{"1970-01-02"}, "D", "86400000000"},
		{InputColumn{Name: "id", Type: 20}, []string{"NULL"}, "id", ""},
	} {
		got, err := relationMark(relationOf(c.col, c.values...), c.water)
		if err != nil || got != c.want {
			t.Errorf("%s %v: %q, %v; want %q", c.col.Name, c.values, got, err, c.want)
		}
	}
	if _, err := relationMark(relationOf(InputColumn{Name: "s", Type: 25}, "a"), "s"); err == nil {
		t.Error("a text watermark was accepted")
	}
	if _, err := relationMark(relationOf(InputColumn{Name: "s", Type: 20}, "1"), "t"); err == nil {
		t.Error("a missing watermark column was accepted")
	}
}

func TestGrew(t *testing.T) {
	for _, c := range []struct {
		last, now string
		want      bool
	}{
		{"3", "4", true}, {"4", "4", false}, {"4", "3", false}, {"", "1", true}, {"1", "", false}, {"", "", false},
		{"9007199254740992", "9007199254740993", true}, {"-1.25", "-1.2", true},
	} {
		if got := Grew(c.last, c.now); got != c.want {
			t.Errorf("Grew(%q, %q) = %v", c.last, c.now, got)
		}
	}
}
