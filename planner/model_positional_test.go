package planner

import (
	"errors"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
)

// TestModelPositional: a call naming a model fills its positional
// arguments past the arguments of fitting (catalog.Func.Positional), and
// an argument of fitting written as in the one-shot call is 22023. Without
// a model store, a call that gets past the arguments fails on the model
// (55000).
func TestModelPositional(t *testing.T) {
	s := newSession(t, Options{}, "")
	s.p = New(catalog.Builtin(), Options{})
	for _, c := range []struct{ sql, code, msg string }{
		{"SELECT * FROM similar_items(1, 5, model => 'catalog')", "55000", ""},
		{"SELECT * FROM holt_forecast(6, model => 'demand')", "55000", ""},
		{"SELECT * FROM holt_forecast(6, 0.8, 'east', model => 'demand')", "55000", ""},
		{"SELECT * FROM nmf(true, model => 'mf')", "55000", ""},
		{"SELECT * FROM kmeans((SELECT 1, 2), model => 'segments')", "55000", ""},
		{"SELECT * FROM similar_items((SELECT 1, 'a'), 1, model => 'catalog')", "22023", `argument "input" fits a model`},
		{"SELECT * FROM holt_forecast((SELECT 1, 2), 6, model => 'demand')", "22023", `argument "input" fits a model`},
		{"SELECT * FROM kmeans((SELECT 1, 2), 3, model => 'segments')", "22023", `argument "k" fits a model`},
		{"SELECT * FROM nmf(model => 'mf', k => 2)", "22023", `argument "k" fits a model`},
		{"SELECT * FROM similar_items(1, 5, 'x', 'y', model => 'catalog')", "42883", "has 4 arguments"},
		// Without a model, positions are the declared ones.
		{"SELECT * FROM similar_items(1, 5)", "42601", `argument "input" of similar_items must be a relation`},
	} {
		_, err := s.p.Prepare(s.ctx, s.conn, c.sql, nil)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != c.code || !strings.Contains(pe.Message, c.msg) {
			t.Errorf("%s: %v, want %s %q", c.sql, err, c.code, c.msg)
		}
	}
}
