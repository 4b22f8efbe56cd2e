package executor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

func TestImplicitBlock(t *testing.T) {
	for _, tc := range []struct {
		parts []planner.Part
		want  bool
	}{
		{nil, false},
		{[]planner.Part{{SQL: "SELECT 1"}}, false},
		{[]planner.Part{{SQL: "SELECT 1"}, {SQL: "SELECT 2"}}, true},
		{[]planner.Part{{SQL: "BEGIN", Block: true}, {SQL: "SELECT 2"}}, false},
	} {
		if got := ImplicitBlock(tc.parts); got != tc.want {
			t.Errorf("ImplicitBlock(%v) = %v, want %v", tc.parts, got, tc.want)
		}
	}
}

func TestPreparedMentions(t *testing.T) {
	var p Prepared
	if p.Mentions([]byte("EXECUTE q")) {
		t.Error("an empty Prepared mentions nothing")
	}
	p.byName = map[string]*planner.Prepared{"q": {Name: "q"}}
	for sql, want := range map[string]bool{
		"ExEcUtE q":      true,
		"deallocate all": true,
		"DISCARD ALL":    true,
		"prepare r AS 1": true,
		"SELECT 1":       false,
		"EXECUT":         false,
	} {
		if got := p.Mentions([]byte(sql)); got != want {
			t.Errorf("Mentions(%q) = %v, want %v", sql, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { p.Mentions([]byte("SELECT 1 FROM t")) }); n != 0 {
		t.Errorf("Mentions allocates %v times", n)
	}
}

func TestPreparedRanAndInvolved(t *testing.T) {
	var p Prepared
	if p.Involved([]planner.Part{{Execute: "q"}, {Forgets: "q"}}) {
		t.Error("nothing tracked: involved")
	}
	if !p.Involved([]planner.Part{{SQL: "SELECT 1"}, {Calls: true}}) {
		t.Error("a call is not involved")
	}
	p.byName = map[string]*planner.Prepared{"q": {Name: "q"}, "r": {Name: "r"}}
	if !p.Involved([]planner.Part{{Execute: "q"}}) || !p.Involved([]planner.Part{{Forgets: "x"}}) {
		t.Error("an EXECUTE or DEALLOCATE with tracked names is not involved")
	}
	p.Ran(planner.Part{Forgets: "q", Calls: true}) // a PREPARE with calls keeps its own
	if p.Lookup("q") == nil {
		t.Error("PREPARE with calls forgot its name")
	}
	p.Ran(planner.Part{Forgets: "q"})
	if p.Lookup("q") != nil || p.Lookup("r") == nil {
		t.Error("plain PREPARE q: want q forgotten, r kept")
	}
	p.Ran(planner.Part{Forgets: "*"})
	if p.Len() != 0 {
		t.Error("DEALLOCATE ALL kept names")
	}
}

func TestErrorResponse(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	up := &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42703", Message: "no column", Position: 8}
	for _, tc := range []struct {
		name  string
		err   error
		code  string
		pos   int32
		abort bool
		nilR  bool
	}{
		{"skipped", fmt.Errorf("bind: %w", ErrSkipped), "", 0, false, true},
		{"upstream, no mapping", &UpstreamError{Resp: up}, "42703", 0, false, false},
		{"upstream, mapped", &planner.SideQueryError{Err: &UpstreamError{Resp: up}, Position: func(p int) int { return p + 2 }}, "42703", 10 + 5, false, false},
		{"upstream, unmapped", &planner.SideQueryError{Err: &UpstreamError{Resp: up}, Position: func(int) int { return 0 }}, "42703", 0, false, false},
		{"planner", &planner.Error{Code: "22023", Message: "bad k", Hint: "k > 0", Position: 3}, "22023", 3 + 5, true, false},
		{"gone", fmt.Errorf("x: %w", ErrUpstreamGone), "08006", 0, false, false},
		{"canceled", context.Canceled, "57014", 0, true, false},
		{"other", fmt.Errorf("boom"), "XX000", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, abort := ErrorResponse(log, tc.err, 5)
			if tc.nilR {
				if r != nil || abort {
					t.Fatalf("got %v, %v; want nil, false", r, abort)
				}
				return
			}
			if r.Code != tc.code || r.Position != tc.pos || abort != tc.abort {
				t.Errorf("got code %s position %d abort %v; want %s %d %v", r.Code, r.Position, abort, tc.code, tc.pos, tc.abort)
			}
		})
	}
	if up.Position != 8 {
		t.Error("ErrorResponse changed the upstream's response")
	}
	r, _ := ErrorResponse(log, &planner.Error{Code: "22023", Message: "m", Hint: "h"}, 0)
	if r.Hint != "h" || r.Position != 0 {
		t.Errorf("hint/position: %+v", r)
	}
}
