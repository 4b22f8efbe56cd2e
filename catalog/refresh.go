package catalog

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgident"
	"github.com/jackc/pgx/v5/pgtype"
)

// Refresh policies: flywheel.train(..., refresh => '10 minutes') or
// refresh => 'on_change' (with watermark => 'column') stores with the
// model what its next training needs. The model store's worker
// (models/refresh.go) reads the input again when the policy is due and
// trains through Retrain, which fits with train's own code.

// Why a relation argument's text cannot run again on its own
// (Call.Unrepeatable).
const (
	SourceParams = "params" // it uses the client's $n parameters
	SourceCalls  = "calls"  // it calls model functions itself
)

// RefreshOnChange is the refresh policy that retrains when the input grew.
const RefreshOnChange = "on_change"

// The refresh modes (train's refresh_mode).
const (
	RefreshTrain = "train"
	RefreshLearn = "learn"
)

// Learns reports whether the policy learns new rows rather than training.
func (r *Refresh) Learns() bool { return r.Mode == RefreshLearn }

// The bounds of an interval policy; PostgreSQL's '1 year' is 365.25 days.
const (
	minRefresh = time.Second
	maxRefresh = 365*24*time.Hour + 6*time.Hour
)

// Refresh is a model's refresh policy with what its next training needs.
type Refresh struct {
	Name, Kind string
	Options    map[string]any // the kind's options, after defaults
	Source     string         // the input's SQL as the user wrote it
	Inputs     []InputColumn  // the input's columns, which a refresh must find again
	Holdout    float64
	Promote    string
	// Every is the interval as written (PostgreSQL reads it); empty for
	// on_change, which retrains when the input's row count, or the
	// Watermark column's maximum, grew past Mark.
	Every     string
	Watermark string
	Mark      string // a decimal number; empty when nothing was seen
	// Mode is RefreshTrain (fit again on the whole input) or RefreshLearn
	// (learn only the input's rows past Mark, the watermark's maximum, into
	// the deployed version, as flywheel.learn does).
	Mode string
	// SearchPath and Role are the training session's, under which the
	// worker reads the input again (the store fills them in).
	SearchPath, Role string
	// Generation is the policy row's version a worker's refresh read; the
	// store records the refresh's outcome only while the row still has it,
	// so that each due refresh is stored once, whichever Flywheel ran it.
	// Zero outside the worker.
	Generation int64
	Due        time.Time // when the refresh was due (worker only)
}

// OnChange reports whether the policy is on_change.
func (r *Refresh) OnChange() bool { return r.Every == "" }

// RefreshStore is implemented by a model store that keeps refresh
// policies.
type RefreshStore interface {
	// RefreshInterval reads PostgreSQL interval text outside the session's
	// transaction (a bad one must not abort it) and returns its length.
	RefreshInterval(ctx context.Context, text string) (time.Duration, error)
	// SetRefresh stores name's refresh policy (nil: none) through db, in
	// the session's transaction.
	SetRefresh(ctx context.Context, db DB, name string, r *Refresh) error
}

// trainRefresh reads train's refresh and watermark arguments into the
// policy to store after the version (nil: none), before anything is
// fitted.
func trainRefresh(ctx context.Context, call *Call, st ModelStore, t *Trained, rel *Relation, holdout float64) (*Refresh, error) {
	const fn = "train"
	mode, err := call.String("refresh_mode")
	if err != nil {
		return nil, err
	}
	if mode != RefreshTrain && mode != RefreshLearn {
		return nil, &ArgError{Func: fn, Arg: "refresh_mode", Msg: fmt.Sprintf("must be 'train' or 'learn', got %q", mode)}
	}
	if call.Values["refresh"] == nil {
		if call.Values["watermark"] != nil {
			return nil, &ArgError{Func: fn, Arg: "watermark", Msg: "applies only with refresh => 'on_change', or with refresh_mode => 'learn'"}
		}
		if mode == RefreshLearn {
			return nil, &ArgError{Func: fn, Arg: "refresh_mode", Msg: "'learn' applies only with refresh => ..."}
		}
		return nil, nil
	}
	policy, err := call.String("refresh")
	if err != nil {
		return nil, err
	}
	rs, ok := st.(RefreshStore)
	if !ok {
		return nil, &Error{Code: "0A000", Message: "train: this Flywheel's model store does not refresh models"}
	}
	switch call.Unrepeatable["input"] {
	case SourceParams:
		return nil, &Error{Code: "0A000", Message: "train: a refresh policy needs an input without parameters",
			Hint: "The policy keeps the input's SQL and runs it again later, without this statement's parameters: write their values into the query, or train on a view."}
	case SourceCalls:
		return nil, &Error{Code: "0A000", Message: "train: a refresh policy needs an input that calls no model functions",
			Hint: "The policy runs the input's SQL again in PostgreSQL alone: keep the calls' results in a table and train on it."}
	}
	r := &Refresh{Name: t.Name, Kind: t.Kind, Options: t.Options, Source: call.Sources["input"], Inputs: t.Inputs,
		Holdout: holdout, Promote: t.Promote, Mode: mode}
	if r.Source == "" {
		return nil, &Error{Code: "0A000", Message: "train: a refresh policy needs the input's SQL"}
	}
	water := ""
	if call.Values["watermark"] != nil {
		if water, err = call.String("watermark"); err != nil {
			return nil, err
		}
	}
	onChange := strings.EqualFold(strings.TrimSpace(policy), RefreshOnChange)
	if mode == RefreshLearn {
		if water == "" {
			return nil, &ArgError{Func: fn, Arg: "watermark", Msg: "is required with refresh_mode => 'learn': the input column (number, date or timestamp) past whose maximum rows are new"}
		}
		if k := modelKinds()[t.Kind]; k == nil || k.learn == nil {
			return nil, &Error{Code: "0A000", Message: fmt.Sprintf("train: %s models cannot learn new rows, so refresh_mode => 'learn' does not apply", t.Kind),
				Hint: "Use refresh_mode => 'train' (the default), which fits the whole input again."}
		}
		if t.Kind == "recommend" && t.Options["method"] != "user_cf" {
			return nil, &Error{Code: "0A000", Message: "train: recommend models of method nmf cannot learn new rows, so refresh_mode => 'learn' does not apply",
				Hint: "Use method => 'user_cf', or refresh_mode => 'train'."}
		}
	} else if water != "" && !onChange {
		return nil, &ArgError{Func: fn, Arg: "watermark", Msg: "applies only with refresh => 'on_change', or with refresh_mode => 'learn'"}
	}
	if water != "" {
		i, err := watermarkColumn(rel, water)
		if err != nil {
			return nil, err
		}
		r.Watermark = rel.Columns[i].Name
	}
	// on_change compares the mark; learn reads the rows past it.
	if onChange || mode == RefreshLearn {
		if r.Mark, err = relationMark(rel, r.Watermark); err != nil {
			return nil, err
		}
	}
	if onChange {
		return r, nil
	}
	d, err := rs.RefreshInterval(ctx, policy)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Code: "22023", Message: fmt.Sprintf("train: refresh => %q is neither an interval nor 'on_change': %v", policy, err),
			Hint: "Give an interval such as '10 minutes' or '1 day', or 'on_change'."}
	}
	if d < minRefresh || d > maxRefresh {
		return nil, &Error{Code: "22023", Message: fmt.Sprintf("train: refresh => %q must be between 1 second and 1 year", policy),
			Hint: "Give an interval such as '10 minutes' or '1 day', or 'on_change'."}
	}
	r.Every = policy
	return r, nil
}

// setRefresh stores train's policy after its version: every train states
// the model's policy, so a train without refresh => stops refreshes.
func setRefresh(ctx context.Context, call *Call, st ModelStore, name string, r *Refresh) error {
	rs, ok := st.(RefreshStore)
	if !ok {
		return nil // r is nil: trainRefresh refuses a policy such a store cannot keep
	}
	return rs.SetRefresh(ctx, call.DB, name, r)
}

// watermarkColumn finds the input column a watermark names.
func watermarkColumn(rel *Relation, name string) (int, error) {
	i := slices.IndexFunc(rel.Columns, func(c *Column) bool { return c.Name == name })
	if i < 0 {
		i = slices.IndexFunc(rel.Columns, func(c *Column) bool { return strings.EqualFold(c.Name, name) })
	}
	if i < 0 {
		names := make([]string, len(rel.Columns))
		for j, c := range rel.Columns {
			names[j] = c.Name
		}
		return 0, &Error{Code: "42703", Message: fmt.Sprintf("train: watermark => %q is not a column of the input", name),
			Hint: "The input's columns are " + quoteList(names) + "."}
	}
	c := rel.Columns[i]
	if !c.Numeric() && !isTimeType(c.Type) {
		return 0, &TypeError{Func: "train", Column: c.Name, Msg: "a watermark must be a number, date or timestamp"}
	}
	return i, nil
}

// relationMark is what on_change compares later: the relation's row
// count, or the watermark column's maximum as a decimal number (dates and
// timestamps in microseconds since 1970).
func relationMark(rel *Relation, watermark string) (string, error) {
	if watermark == "" {
		return strconv.Itoa(rel.Rows()), nil
	}
	i, err := watermarkColumn(rel, watermark)
	if err != nil {
		return "", err
	}
	c := rel.Columns[i]
	var best *big.Rat
	mark := ""
	for row := 0; row < c.Len(); row++ {
		if c.Null(row) {
			continue
		}
		v, text, err := markValue(c, row)
		if err != nil {
			return "", err
		}
		if best == nil || v.Cmp(best) > 0 {
			best, mark = v, text
		}
	}
	return mark, nil
}

// markValue reads one watermark value.
func markValue(c *Column, row int) (*big.Rat, string, error) {
	text := c.Text(row)
	if isTimeType(c.Type) {
		t, err := c.Time(row)
		if err != nil {
			return nil, "", err
		}
		text = strconv.FormatInt(t.UnixMicro(), 10)
	}
	v, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, "", fmt.Errorf("watermark %q: %q is not a finite number", c.Name, c.Text(row))
	}
	return v, text, nil
}

// CheckMark measures r's input now, on db, the way relationMark measured
// it at the last training, without reading its rows into Flywheel.
func CheckMark(ctx context.Context, db DB, r *Refresh) (string, error) {
	sql := "SELECT count(*) FROM (" + r.Source + ") AS s"
	if r.Watermark != "" {
		sql = "SELECT max(s." + pgident.Quote(r.Watermark) + ") FROM (" + r.Source + ") AS s"
	}
	var col *Column
	err := db.Query(ctx, sql, nil, nil, nil, func(cols []InputColumn) error {
		col = NewColumn(cols[0])
		col.Name = r.Watermark
		return nil
	}, func(row [][]byte) error {
		if col == nil {
			col = NewColumn(InputColumn{Name: r.Watermark, Type: 20})
		}
		col.Append(row[0])
		return nil
	})
	if err != nil {
		return "", err
	}
	if col == nil || col.Len() != 1 || col.Null(0) {
		return "", nil
	}
	if r.Watermark == "" {
		return col.Text(0), nil
	}
	_, mark, err := markValue(col, 0)
	return mark, err
}

// Grew reports whether an on_change mark passed the last training's.
func Grew(last, now string) bool {
	if now == "" {
		return false
	}
	n, ok := new(big.Rat).SetString(now)
	if !ok {
		return false
	}
	l, ok := new(big.Rat).SetString(last)
	return !ok || n.Cmp(l) > 0
}

// ReadRelation runs sql on db and collects its rows as a relation
// argument, as the planner reads one: text-format values, at most
// maxRows rows and maxBytes bytes (0: no bound). params are text
// parameters $1, $2, ...
func ReadRelation(ctx context.Context, db DB, sql string, maxRows, maxBytes int64, params ...string) (*Relation, error) {
	out := &Relation{}
	var rows, bytes int64
	var oids []uint32
	var values [][]byte
	for _, p := range params {
		oids, values = append(oids, Text.OID), append(values, []byte(p))
	}
	err := db.Query(ctx, sql, oids, values, nil, func(cols []InputColumn) error {
		out.Columns = make([]*Column, len(cols))
		for i, c := range cols {
			out.Columns[i] = NewColumn(c)
		}
		return nil
	}, func(row [][]byte) error {
		for i, v := range row {
			out.Columns[i].Append(v)
			bytes += int64(len(v)) + 9
		}
		rows++
		if rows%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if maxRows > 0 && rows > maxRows || maxBytes > 0 && bytes > maxBytes {
			return &Error{Code: "53200", Message: fmt.Sprintf("the input is over this Flywheel's limit of %d rows or %d bytes", maxRows, maxBytes),
				Hint: "Raise --max-input-rows or --max-input-bytes, or train on less."}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Columns == nil {
		return nil, fmt.Errorf("the input returned no columns")
	}
	return out, nil
}

// Retrain fits the next version of r's model on rel (r's input read
// again) with train's own code, and returns it to be stored with its
// policy (t.Refresh, the new mark included). A version that could not be
// fitted comes back with the error, for the store to record as failed.
func Retrain(ctx context.Context, r *Refresh, rel *Relation) (*Trained, error) {
	t := &Trained{Name: r.Name, Kind: r.Kind, Options: r.Options, Source: r.Source, Promote: r.Promote, Refresh: r}
	if rel != nil {
		t.Inputs, t.Rows = inputColumns(rel), int64(rel.Rows())
	}
	k, ok := modelKinds()[r.Kind]
	if !ok {
		return t, fmt.Errorf("refresh: %q is not a kind of model", r.Kind)
	}
	t.Primary, t.Higher = k.primary, k.higher
	if rel == nil {
		return t, fmt.Errorf("refresh: no input")
	}
	if err := sameColumns(r.Inputs, t.Inputs); err != nil {
		return t, err
	}
	kc, err := kindCall(k, r.Options)
	if err != nil {
		return t, err
	}
	next := *r
	if r.OnChange() {
		if next.Mark, err = relationMark(rel, r.Watermark); err != nil {
			return t, err
		}
	}
	t.Refresh = &next
	return t, fitVersion(ctx, k, kc, rel, r.Holdout, t)
}

// defaultCall is a kind's own call with its defaults.
func defaultCall(k *modelKind) *Call {
	kfn := k.fn()
	kc := &Call{Func: kfn, Values: map[string]any{}}
	for _, a := range kfn.Args {
		if !a.Relation {
			kc.Values[a.Name] = a.Default
		}
	}
	return kc
}

// kindCall is a kind's own call with its defaults and stored options.
func kindCall(k *modelKind, options map[string]any) (*Call, error) {
	kc := defaultCall(k)
	kfn := kc.Func
	for name, v := range options {
		i := slices.IndexFunc(kfn.Args, func(a Arg) bool { return a.Name == name })
		if i < 0 || !kfn.Args[i].Fit {
			return nil, fmt.Errorf("refresh: %q is not an option of %s models", name, kfn.Name)
		}
		if v != nil {
			kc.Values[name] = v
		}
	}
	return kc, nil
}

// sameColumns checks that a refresh's input still has the policy's
// columns: a changed type must not change the model's keys or features
// silently (prepared predictions depend on them); train again for that.
func sameColumns(want, got []InputColumn) error {
	if len(want) == 0 || slices.Equal(want, got) {
		return nil
	}
	return &Error{Code: "42804", Message: fmt.Sprintf("refresh: the input's columns are now %s, not %s as when the policy was set", describeColumns(got), describeColumns(want)),
		Hint: "Train again to change the model's columns."}
}

func describeColumns(cols []InputColumn) string {
	types := pgtype.NewMap()
	parts := make([]string, len(cols))
	for i, c := range cols {
		name := strconv.FormatUint(uint64(c.Type), 10)
		if t, ok := types.TypeForOID(c.Type); ok {
			name = t.Name
		}
		parts[i] = c.Name + " " + name
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// NewRows is the SQL of r's input rows past its mark: what a learn-mode
// refresh reads. Its one parameter is the mark, as text.
func (r *Refresh) NewRows() (sql string, paramOID uint32) {
	col := "s." + pgident.Quote(r.Watermark)
	var typ uint32
	for _, c := range r.Inputs {
		if c.Name == r.Watermark {
			typ = c.Type
		}
	}
	src := "SELECT * FROM (" + r.Source + ") AS s WHERE "
	// A time's mark is microseconds since 1970 (markValue), read as UTC
	// as the planner reads times without a zone.
	switch typ {
	case 1184:
		return src + col + " > to_timestamp($1::numeric / 1000000)", Text.OID
	case 1114:
		return src + col + " > (to_timestamp($1::numeric / 1000000) AT TIME ZONE 'UTC')", Text.OID
	case 1082:
		return src + col + " > (to_timestamp($1::numeric / 1000000) AT TIME ZONE 'UTC')::date", Text.OID
	}
	return src + col + " > $1::numeric", Text.OID
}

// Relearn learns rel, r's input rows past its mark, into m, the deployed
// version, with flywheel.learn's code, and returns the version to store
// with its policy (the mark moved to rel's maximum).
func Relearn(ctx context.Context, r *Refresh, m *Model, rel *Relation) (*Trained, error) {
	t := &Trained{Name: r.Name, Kind: r.Kind, Options: r.Options, Promote: r.Promote, Refresh: r,
		Source: fmt.Sprintf("learn from version %d: rows of %s past %s %s", m.Version, r.Source, r.Watermark, r.Mark)}
	if rel != nil {
		t.Inputs, t.Rows = inputColumns(rel), int64(rel.Rows())
	}
	k, ok := modelKinds()[r.Kind]
	if !ok || k.learn == nil {
		return t, fmt.Errorf("refresh: %s models cannot learn new rows", r.Kind)
	}
	t.Primary, t.Higher = k.primary, k.higher
	if m.Kind != r.Kind {
		return t, kindError(r.Kind, m)
	}
	if err := sameColumns(r.Inputs, t.Inputs); err != nil {
		return t, err
	}
	if err := sameInputs(m, rel); err != nil {
		return t, err
	}
	next := *r
	var err error
	if next.Mark, err = relationMark(rel, r.Watermark); err != nil {
		return t, err
	}
	t.Refresh = &next
	start := time.Now()
	f, err := k.learn(ctx, m, rel)
	t.TrainMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return t, err
	}
	t.Inputs, t.State, t.Metrics, t.Rows, t.Base, t.Decoded = m.Inputs, f.state, f.metrics, int64(f.rows), f.base, f.model(m)
	return t, nil
}
