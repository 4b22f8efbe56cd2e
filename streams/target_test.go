package streams

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func testTarget(t *testing.T, mapping string) *target {
	t.Helper()
	m, _, err := parseMapping(mapping)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := buildTarget("events", []tableColumn{
		{name: "id", typ: "bigint", oid: 20, notNull: true, def: "nextval('events_id_seq'::regclass)", generated: true},
		{name: "customer_id", typ: "integer", oid: 23, notNull: true},
		{name: "small", typ: "smallint", oid: 21},
		{name: "event", typ: "text", oid: 25, notNull: true},
		{name: "amount", typ: "numeric(10,2)", oid: 1700},
		{name: "ok", typ: "boolean", oid: 16},
		{name: "at", typ: "timestamp with time zone", oid: 1184, notNull: true, def: "now()"},
		{name: "doc", typ: "jsonb", oid: 3802},
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestStreamDecode(t *testing.T) {
	tg := testTarget(t, "")
	if got := tg.describe(); got != "customer_id <- customer_id, small <- small, event <- event, amount <- amount, ok <- ok, at <- at, doc <- doc" {
		t.Fatalf("columns without a mapping leave out the serial one: %s", got)
	}
	row := make([]any, len(tg.Columns))
	for _, c := range []struct{ msg, want string }{
		{`{"customer_id": 7, "event": "click", "amount": 1.5, "ok": true, "at": "2024-09-09 12:00:00", "doc": {"a": [1]}}`,
			"7 <nil> click 1.5 true 2024-09-09 12:00:00 {\"a\": [1]}"},
		{`{"customer_id": 1e2, "small": 3.0, "event": 5, "at": 1700000000.5}`, "100 3 5 <nil> <nil> 2023-11-14 22:13:20.5Z <nil>"},
		{`{"customer_id": 1, "event": "x"}`, "1 <nil> x <nil> <nil> <nil> <nil>"}, // at takes its default
		{`{"customer_id": 1, "event": "x", "extra": "ignored"}`, "1 <nil> x <nil> <nil> <nil> <nil>"},
	} {
		if err := tg.decode([]byte(c.msg), row); err != nil {
			t.Fatalf("%s: %v", c.msg, err)
		}
		var parts []string
		for _, v := range row {
			if v == nil {
				parts = append(parts, "<nil>")
			} else {
				parts = append(parts, v.(string))
			}
		}
		if got := strings.Join(parts, " "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.msg, got, c.want)
		}
	}
	for _, c := range []struct{ msg, want string }{
		{`{"customer_id": 1, "event": "x"`, "undecodable JSON"},
		{`[1, 2]`, "undecodable JSON"},
		{`null`, "not a JSON object"},
		{`{"event": "x"}`, `missing required field "customer_id"`},
		{`{"customer_id": null, "event": "x"}`, `field "customer_id" is null`},
		{`{"customer_id": "7", "event": "x"}`, "is not a number"},
		{`{"customer_id": 1.5, "event": "x"}`, "is not an integer"},
		{`{"customer_id": 1, "small": 40000, "event": "x"}`, "out of range"},
		{`{"customer_id": 99999999999, "event": "x"}`, "out of range"},
		{`{"customer_id": 1, "event": "x", "ok": "yes"}`, "is not a boolean"},
		{`{"customer_id": 1, "event": "x", "at": true}`, "neither a timestamp string nor Unix seconds"},
	} {
		err := tg.decode([]byte(c.msg), row)
		var bm *badMessage
		if !errors.As(err, &bm) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a bad message saying %q", c.msg, err, c.want)
		}
	}
}

func TestStreamMapping(t *testing.T) {
	tg := testTarget(t, `{"customer_id": "user_id", "event": "type", "id": "event_id"}`)
	if got := tg.describe(); got != "id <- event_id, customer_id <- user_id, event <- type" {
		t.Fatalf("mapped columns, in the table's order: %s", got)
	}
	if sel := tg.insertSelect("s"); sel != "coalesce(s.c0::bigint, nextval('events_id_seq'::regclass)), s.c1::integer, s.c2::text" {
		t.Fatalf("insert select: %s", sel)
	}
	for _, bad := range []string{`[]`, `{"a": 1}`, `{}`, `{"a": "x", "a": "y"}`, `nope`} {
		if _, _, err := parseMapping(bad); err == nil {
			t.Errorf("mapping %s accepted", bad)
		}
	}
	m, _, _ := parseMapping(`{"nope": "x"}`)
	if _, err := buildTarget("events", []tableColumn{{name: "a", typ: "text", oid: 25}}, m); err == nil {
		t.Error("a mapping naming a missing column was accepted")
	}
}

func TestStreamAggregateSQL(t *testing.T) {
	has := func(c string) bool { return c == "amount" || c == "event_time" || c == "customer_id" }
	funcs, err := parseAggregates("count(*), SUM(amount), max(event_time), min(amount), count(amount)", has)
	if err != nil {
		t.Fatal(err)
	}
	a := &aggregate{Name: "totals", Table: "public.totals", GroupBy: []string{"customer_id"}, Funcs: funcs}
	want := `INSERT INTO public.totals AS t (customer_id, count, sum_amount, max_event_time, min_amount, count_amount) SELECT ins.customer_id, count(*) AS count, sum(ins.amount) AS sum_amount, max(ins.event_time) AS max_event_time, min(ins.amount) AS min_amount, count(ins.amount) AS count_amount FROM ins ins GROUP BY 1 ORDER BY 1 ON CONFLICT (customer_id) DO UPDATE SET count = t.count + EXCLUDED.count, sum_amount = coalesce(t.sum_amount + EXCLUDED.sum_amount, t.sum_amount, EXCLUDED.sum_amount), max_event_time = greatest(t.max_event_time, EXCLUDED.max_event_time), min_amount = least(t.min_amount, EXCLUDED.min_amount), count_amount = t.count_amount + EXCLUDED.count_amount`
	if got := a.upsertFrom("ins"); got != want {
		t.Fatalf("upsert:\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"avg(amount)", "sum(*)", "count(*), count(*)", "sum(nope)", "count(", ""} {
		if _, err := parseAggregates(bad, has); err == nil {
			t.Errorf("aggregates %q accepted", bad)
		}
	}
}

func TestStreamMessageFault(t *testing.T) {
	for code, want := range map[string]bool{"22P02": true, "23514": true, "23505": true, "P0001": true, "42804": true,
		"40001": false, "40P01": false, "08006": false, "53100": false, "42703": false} {
		if got := messageFault(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("%s: %v, want %v", code, got, want)
		}
	}
	if messageFault(errors.New("connection reset")) {
		t.Error("a network error is not the message's fault")
	}
}
