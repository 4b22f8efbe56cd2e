package catalog

import (
	"context"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/flywheeldb/flywheel/functions"
)

// decisionSink is recommend's log => true: every served list goes to
// flywheel.decision_lists, one row per call with the items and scores as
// arrays, the statement's served_at (now()) and the session's
// application_name; the view flywheel.decisions shows one row per served
// item. One row per list rather than per item is what keeps the log
// cheap: a heap tuple and one index entry per call, not ten of each.
func decisionSink() *Sink {
	return &Sink{
		Arg: "log",
		Columns: []ReturnColumn{{"model", Text}, {"version", Int4}, {"user_key", Text},
			{"items", TextArray}, {"scores", Float8Array}},
		Insert: func(from string) string {
			return "INSERT INTO flywheel.decision_lists (model, version, user_key, items, scores, application_name) " +
				"SELECT d.model, d.version, d.user_key, d.items::text[], d.scores::float8[], current_setting('application_name') FROM " + from
		},
	}
}

// logDecisions adds user's served list to the statement's decision log:
// its items and scores as array literals, ranked by position. A trial
// serves two versions from one statement, so the version is kept per
// list.
func logDecisions(call *Call, version int, user string, recs []functions.Scored, itemKeys []string) error {
	if call.Sink == nil {
		return &Error{Code: "55000", Message: "recommend: log => true needs a session to log to"}
	}
	if len(recs) == 0 {
		return nil
	}
	items, scores := make([]byte, 0, 8*len(recs)), make([]byte, 0, 12*len(recs))
	for r, s := range recs {
		sep := byte(',')
		if r == 0 {
			sep = '{'
		}
		items = appendQuoted(append(items, sep), itemKeys[s.Index])
		scores = strconv.AppendFloat(append(scores, sep), s.Score, 'g', -1, 64)
	}
	call.Sink.Add(call.Model.Name, strconv.Itoa(version), user, string(append(items, '}')), string(append(scores, '}')))
	return nil
}

// appendQuoted appends v as a double-quoted array element.
func appendQuoted(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, v[i])
	}
	return append(b, '"')
}

// Outcomes declares flywheel.outcomes(name, events => (...), within):
// how the decisions a model served fared against what users did next.
func Outcomes() *Func {
	return &Func{
		Name: "outcomes", Qualified: true,
		Doc: "Scores the decisions a model logged (recommend(..., model => name, log => true)) against events: a decision is a hit " +
			"when its user has an event on its item after it was served and within `within`. Per version: decisions, users, lists " +
			"(a user's list from one call), hits, hit_rate (hits per decision: CTR@k), list_hit_rate (lists with a hit), and the same " +
			"for a popularity baseline that would have served each list the most frequent items of events (ties by key order). " +
			"Timestamps without time zone are read as UTC.",
		Args: []Arg{
			{Name: "name", Type: Text, Required: true, Doc: "the model"},
			{Name: "events", Relation: true, Required: true, Doc: "(user, item, event_time): what users did"},
			{Name: "within", Type: Text, Default: "7 days", Doc: "how long after a decision an event counts (an interval)"},
		},
		Columns: fixedColumns(returnsColumns(outcomeReturns())),
		Returns: outcomeReturns(),
		Run:     runOutcomes,
	}
}

func outcomeReturns() []ReturnColumn {
	return []ReturnColumn{{"model", Text}, {"version", Int4}, {"decisions", Int8}, {"users", Int8}, {"lists", Int8},
		{"hits", Int8}, {"hit_rate", Float8}, {"list_hit_rate", Float8}, {"baseline_hits", Int8}, {"baseline_hit_rate", Float8}}
}

// returnsColumns is the result shape of a function whose columns are its
// declared ones.
func returnsColumns(rs []ReturnColumn) []OutputColumn {
	out := make([]OutputColumn, len(rs))
	for i, c := range rs {
		out[i] = OutputColumn{Name: c.Name, Type: c.Type.OID}
	}
	return out
}

// decisionRow is one logged decision as outcomes reads it.
type decisionRow struct {
	version    int
	user, item string
	served     float64 // Unix seconds
}

func runOutcomes(ctx context.Context, call *Call) (*Result, error) {
	const fn = "outcomes"
	if call.DB == nil {
		return nil, &Error{Code: "55000", Message: "outcomes needs a session"}
	}
	name, err := nonEmpty(call, "name")
	if err != nil {
		return nil, err
	}
	ev, err := call.Relation("events")
	if err != nil {
		return nil, err
	}
	if err := eventsShape(fn, ev); err != nil {
		return nil, err
	}
	within, err := call.String("within")
	if err != nil {
		return nil, err
	}
	window, err := outcomeWindow(ctx, call, fn, within)
	if err != nil {
		return nil, err
	}
	tallies, err := scoreDecisions(ctx, call.DB, name, ev, window, math.Inf(-1))
	if err != nil {
		return nil, err
	}
	versions := slices.Sorted(maps.Keys(tallies))
	out := &Result{Columns: make([]ResultColumn, 0, 10)}
	for _, c := range returnsColumns(outcomeReturns()) {
		rc := ResultColumn{OutputColumn: c}
		switch c.Type {
		case Text.OID:
			rc.Texts = []string{}
		case Float8.OID:
			rc.Floats = []float64{}
		default:
			rc.Ints = []int64{}
		}
		out.Columns = append(out.Columns, rc)
	}
	for _, v := range versions {
		t := tallies[v]
		out.Columns[0].Texts = append(out.Columns[0].Texts, name)
		for i, n := range []int{v, t.decisions, len(t.users), t.lists, t.hits} {
			out.Columns[1+i].Ints = append(out.Columns[1+i].Ints, int64(n))
		}
		out.Columns[6].Floats = append(out.Columns[6].Floats, float64(t.hits)/float64(t.decisions))
		out.Columns[7].Floats = append(out.Columns[7].Floats, float64(t.listHits)/float64(t.lists))
		out.Columns[8].Ints = append(out.Columns[8].Ints, int64(t.baseHits))
		out.Columns[9].Floats = append(out.Columns[9].Floats, float64(t.baseHits)/float64(t.decisions))
	}
	return out, nil
}

// tally is one version's score.
type tally struct {
	decisions, hits, baseHits int
	lists, listHits           int
	users                     map[string]bool
}

// scoreDecisions scores name's logged decisions served at or after since
// (Unix seconds) against the events ev: a hit is an event of the
// decision's user on its item after it was served and within window
// seconds. The tallies are by version.
func scoreDecisions(ctx context.Context, db DB, name string, ev *Relation, window, since float64) (map[int]*tally, error) {
	const fn = "outcomes"
	// Events by (user, item), their times sorted; items by frequency.
	type pair struct{ u, i string }
	times := map[pair][]float64{}
	freq := map[string]int{}
	for r := 0; r < ev.Rows(); r++ {
		if ev.Columns[0].Null(r) || ev.Columns[1].Null(r) || ev.Columns[2].Null(r) {
			continue
		}
		t, err := ev.Columns[2].Time(r)
		if err != nil {
			return nil, &ArgError{Func: fn, Arg: "events", Msg: err.Error()}
		}
		p := pair{ev.Columns[0].Text(r), ev.Columns[1].Text(r)}
		times[p] = append(times[p], float64(t.UnixMicro())/1e6)
		freq[p.i]++
	}
	for _, ts := range times {
		sort.Float64s(ts)
	}
	popular := slices.Collect(maps.Keys(freq))
	itemType := ev.Columns[1].Type
	sort.Slice(popular, func(a, b int) bool {
		if freq[popular[a]] != freq[popular[b]] {
			return freq[popular[a]] > freq[popular[b]]
		}
		return compareKeyText(itemType, []byte(popular[a]), []byte(popular[b])) < 0
	})
	hit := func(p pair, served float64) bool {
		ts := times[p]
		k := sort.SearchFloat64s(ts, served)
		for k < len(ts) && ts[k] <= served {
			k++ // strictly after the decision
		}
		return k < len(ts) && ts[k] <= served+window
	}

	var rows []decisionRow
	// since is a float8 ('-Infinity' for all): PostgreSQL skips the rest.
	err := db.Query(ctx, `SELECT version, user_key, item, extract(epoch FROM served_at)::float8
FROM flywheel.decisions WHERE model = $1 AND served_at >= to_timestamp($2::float8)
ORDER BY version, user_key, served_at, rank`, []uint32{Text.OID, Text.OID},
		[][]byte{[]byte(name), strconv.AppendFloat(nil, since, 'g', -1, 64)}, nil, nil,
		func(row [][]byte) error {
			v, _ := strconv.Atoi(string(row[0]))
			s, err := strconv.ParseFloat(string(row[3]), 64)
			rows = append(rows, decisionRow{version: v, user: string(row[1]), item: string(row[2]), served: s})
			return err
		})
	if err != nil {
		return nil, err
	}

	tallies := map[int]*tally{}
	for start := 0; start < len(rows); {
		// One list: a user's decisions from one call (same version, user
		// and served_at).
		end := start + 1
		for end < len(rows) && rows[end].version == rows[start].version && rows[end].user == rows[start].user && rows[end].served == rows[start].served {
			end++
		}
		d := rows[start]
		t := tallies[d.version]
		if t == nil {
			t = &tally{users: map[string]bool{}}
			tallies[d.version] = t
		}
		t.lists++
		t.users[d.user] = true
		listHit := false
		for _, r := range rows[start:end] {
			t.decisions++
			if hit(pair{r.user, r.item}, r.served) {
				t.hits++
				listHit = true
			}
		}
		for _, item := range popular[:min(end-start, len(popular))] {
			if hit(pair{d.user, item}, d.served) {
				t.baseHits++
			}
		}
		if listHit {
			t.listHits++
		}
		start = end
	}
	return tallies, nil
}

// isTimeType reports whether oid is date, timestamp or timestamptz.
func isTimeType(oid uint32) bool {
	return oid == 1082 || oid == 1114 || oid == 1184
}
