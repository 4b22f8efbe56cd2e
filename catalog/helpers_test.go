package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// textRelation builds a relation argument from text-format rows as
// PostgreSQL sends them; "NULL" is SQL NULL.
func textRelation(cols []InputColumn, rows ...[]string) *Relation {
	rel := &Relation{}
	for _, c := range cols {
		rel.Columns = append(rel.Columns, NewColumn(c))
	}
	for _, r := range rows {
		for j, v := range r {
			if v == "NULL" {
				rel.Columns[j].Append(nil)
			} else {
				rel.Columns[j].Append([]byte(v))
			}
		}
	}
	return rel
}

// runCall calls f as the planner would: vals, the other arguments taking
// their declared defaults. When Run succeeds it checks that Columns
// agrees with the result's columns and that every column has as many
// values (and nulls) as the first.
func runCall(t *testing.T, f *Func, vals map[string]any) (*Result, error) {
	t.Helper()
	call := &Call{Func: f, Values: map[string]any{}}
	var inputs [][]InputColumn
	for _, a := range f.Args {
		v, ok := vals[a.Name]
		if !ok {
			if a.Required {
				t.Fatalf("required argument %q missing", a.Name)
			}
			v = a.Default
		}
		call.Values[a.Name] = v
		if a.Relation {
			var cols []InputColumn
			if rel, ok := v.(*Relation); ok {
				for _, c := range rel.Columns {
					cols = append(cols, c.InputColumn)
				}
			}
			inputs = append(inputs, cols)
		}
	}
	want, colErr := f.Columns(inputs)
	res, err := f.Run(context.Background(), call)
	if err != nil {
		return nil, err
	}
	if colErr != nil {
		t.Fatalf("Columns failed (%v) but Run succeeded", colErr)
	}
	if len(res.Columns) != len(want) {
		t.Fatalf("Run gave %d columns, Columns %d", len(res.Columns), len(want))
	}
	for i, c := range res.Columns {
		if c.OutputColumn != want[i] {
			t.Errorf("column %d: Run %+v, Columns %+v", i, c.OutputColumn, want[i])
		}
		if c.Len() != res.Columns[0].Len() {
			t.Errorf("column %q has %d values, column 0 has %d", c.Name, c.Len(), res.Columns[0].Len())
		}
		if c.Nulls != nil && len(c.Nulls) != c.Len() {
			t.Errorf("column %q: %d nulls for %d values", c.Name, len(c.Nulls), c.Len())
		}
	}
	return res, nil
}

// passedText is value i of a pass-through result column in text form, ""
// for a computed column.
func passedText(c *ResultColumn, i int) string {
	if c.From != nil {
		return c.From.Text(c.Rows[i])
	}
	return ""
}

// checkCallError reports unless err is the error case name expects: for
// arg "", a TypeError (on column msg when msg is not ""); otherwise an
// ArgError on arg whose message contains msg.
func checkCallError(t *testing.T, name string, err error, arg, msg string) {
	t.Helper()
	var ae *ArgError
	var te *TypeError
	switch {
	case arg != "" && errors.As(err, &ae):
		if ae.Arg != arg || !strings.Contains(ae.Msg, msg) {
			t.Errorf("%s: %v, want an ArgError on %q with a message containing %q", name, err, arg, msg)
		}
	case arg == "" && errors.As(err, &te):
		if msg != "" && te.Column != msg {
			t.Errorf("%s: %v, want a TypeError on column %q", name, err, msg)
		}
	case arg == "":
		t.Errorf("%s: got %v (%T), want a TypeError", name, err, err)
	default:
		t.Errorf("%s: got %v (%T), want an ArgError on %q", name, err, err, arg)
	}
}
