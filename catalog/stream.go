package catalog

import (
	"context"
	"strings"
)

// The stream functions: flywheel.create_stream, drop_stream,
// pause_stream, resume_stream and create_aggregate declare Kafka topics
// consumed into tables. Only their declarations live here; the work is
// done by a Streams (package streams), which catalog must not import, so
// the functions are built around one (StreamFuncs) and cmd/flywheel hands
// it in. Like the lifecycle functions they write through the session's
// connection, so a stream created inside BEGIN ... ROLLBACK never was.

// Streams is what the stream functions ask of the stream manager. Every
// method writes through db, the session's own connection.
type Streams interface {
	CreateStream(ctx context.Context, db DB, s *StreamSpec) (*StreamInfo, error)
	DropStream(ctx context.Context, db DB, name string) (*StreamInfo, error)
	// PauseStream pauses (paused true) or resumes a stream.
	PauseStream(ctx context.Context, db DB, name string, paused bool) (*StreamInfo, error)
	CreateAggregate(ctx context.Context, db DB, a *AggregateSpec) (*AggregateInfo, error)
}

// StreamSpec is create_stream's arguments.
type StreamSpec struct {
	Name     string
	Brokers  string // empty: the Flywheel's --kafka-brokers
	Topic    string
	Target   string // a table name as SQL would resolve it (search_path)
	Format   string // "json"
	Mapping  string // jsonb text {"column": "field"}; empty: columns by name
	TimeZone string
	Start    string // "earliest" or "latest"
}

// StreamInfo is the row the stream functions return.
type StreamInfo struct {
	Name, Topic, Target string
	Columns             string // "column <- field, ..." as stored
	Paused              bool
}

// AggregateSpec is create_aggregate's arguments.
type AggregateSpec struct {
	Name, Stream string
	GroupBy      string // comma-separated target columns
	Aggregates   string // "count(*), sum(amount), max(event_time)"
	Window       string // interval text; empty: no window
	TimeColumn   string // the column windows are cut on; empty: the target's only timestamp
}

// AggregateInfo is the row create_aggregate returns.
type AggregateInfo struct {
	Name, Stream, Table string
	Columns             string
	Rows                int64 // groups filled from the target's existing rows
}

// StreamFuncs declares the stream functions over s (nil: a Flywheel
// without streams; the functions then fail with 55000 but still have
// their stubs, so \df shows them).
func StreamFuncs(s Streams) []*Func {
	info := []ReturnColumn{{"stream", Text}, {"topic", Text}, {"target", Text}, {"columns", Text}, {"paused", Bool}}
	one := func(name, doc string, run func(ctx context.Context, db DB, name string) (*StreamInfo, error)) *Func {
		return &Func{
			Name: name, Qualified: true, Doc: doc,
			Args:    []Arg{{Name: "name", Type: Text, Required: true, Doc: "the stream"}},
			Columns: fixedColumns(returnsColumns(info)),
			Returns: info,
			Run: func(ctx context.Context, call *Call) (*Result, error) {
				if err := streamsAvailable(s, call); err != nil {
					return nil, err
				}
				n, err := nonEmpty(call, "name")
				if err != nil {
					return nil, err
				}
				si, err := run(ctx, call.DB, n)
				if err != nil {
					return nil, err
				}
				return streamResult(si), nil
			},
		}
	}
	create := &Func{
		Name: "create_stream", Qualified: true,
		Doc: "Consumes a Kafka topic into a table, exactly once: each batch of messages is copied into the target in the same transaction that advances the stream's offsets (flywheel.stream_offset). " +
			"Messages that cannot be stored go to flywheel.dead_letters and the stream goes on. The view flywheel.streams shows offsets, lag, rows/s and errors. " +
			"Part of the session's transaction: consumption starts once it commits.",
		Args: []Arg{
			{Name: "name", Type: Text, Required: true, Doc: "the stream's name"},
			{Name: "brokers", Type: Text, Default: nil, Nullable: true, Doc: "'host:port,...' of the Kafka cluster; NULL: the Flywheel's --kafka-brokers"},
			{Name: "topic", Type: Text, Required: true, Doc: "the topic to consume"},
			{Name: "target", Type: Text, Required: true, Doc: "the table the rows go to (as search_path resolves it)"},
			{Name: "format", Type: Text, Default: "json", Doc: "the messages' format: 'json' (one object per message)"},
			{Name: "mapping", Type: Text, Default: nil, Nullable: true, Doc: "a JSON object {\"column\": \"field\", ...}: which message field fills which target column (only those columns); NULL: every column from the field of its name"},
			{Name: "time_zone", Type: Text, Default: "UTC", Doc: "the time zone of timestamps written without one"},
			{Name: "start", Type: Text, Default: "earliest", Doc: "where a partition with no stored offset starts: 'earliest' or 'latest'"},
		},
		Columns: fixedColumns(returnsColumns(info)),
		Returns: info,
		Run: func(ctx context.Context, call *Call) (*Result, error) {
			if err := streamsAvailable(s, call); err != nil {
				return nil, err
			}
			var spec StreamSpec
			if err := readStrings(call,
				[]stringArg{{"name", &spec.Name}, {"topic", &spec.Topic}, {"target", &spec.Target}},
				[]stringArg{{"brokers", &spec.Brokers}, {"format", &spec.Format}, {"mapping", &spec.Mapping}, {"time_zone", &spec.TimeZone}, {"start", &spec.Start}},
			); err != nil {
				return nil, err
			}
			si, err := s.CreateStream(ctx, call.DB, &spec)
			if err != nil {
				return nil, err
			}
			return streamResult(si), nil
		},
	}
	aggInfo := []ReturnColumn{{"aggregate", Text}, {"stream", Text}, {"table", Text}, {"columns", Text}, {"groups", Int8}}
	agg := &Func{
		Name: "create_aggregate", Qualified: true,
		Doc: "Keeps a table of running aggregates of a stream's target, per group (and per tumbling window), updated in the same transaction as every batch of rows, " +
			"so it always equals the GROUP BY over the target. The table is named after the aggregate and filled from the target's existing rows.",
		Args: []Arg{
			{Name: "name", Type: Text, Required: true, Doc: "the aggregate, also the name of its table (created beside the target)"},
			{Name: "stream", Type: Text, Required: true, Doc: "the stream whose target is aggregated"},
			{Name: "group_by", Type: Text, Required: true, Doc: "comma-separated target columns to group by"},
			{Name: "aggregates", Type: Text, Default: "count(*)", Doc: "comma-separated count(*), count(col), sum(col), min(col), max(col); columns are named count, sum_col, ..."},
			{Name: "window", Type: Text, Default: nil, Nullable: true, Doc: "a tumbling window ('1 hour'): groups are also cut by window_start; NULL: none"},
			{Name: "time_column", Type: Text, Default: nil, Nullable: true, Doc: "with window: the timestamp column windows are cut on; NULL: the target's only timestamp column"},
		},
		Columns: fixedColumns(returnsColumns(aggInfo)),
		Returns: aggInfo,
		Run: func(ctx context.Context, call *Call) (*Result, error) {
			if err := streamsAvailable(s, call); err != nil {
				return nil, err
			}
			var spec AggregateSpec
			if err := readStrings(call,
				[]stringArg{{"name", &spec.Name}, {"stream", &spec.Stream}, {"group_by", &spec.GroupBy}, {"aggregates", &spec.Aggregates}},
				[]stringArg{{"window", &spec.Window}, {"time_column", &spec.TimeColumn}},
			); err != nil {
				return nil, err
			}
			ai, err := s.CreateAggregate(ctx, call.DB, &spec)
			if err != nil {
				return nil, err
			}
			return &Result{Columns: []ResultColumn{
				{OutputColumn: OutputColumn{Name: "aggregate", Type: Text.OID}, Texts: []string{ai.Name}},
				{OutputColumn: OutputColumn{Name: "stream", Type: Text.OID}, Texts: []string{ai.Stream}},
				{OutputColumn: OutputColumn{Name: "table", Type: Text.OID}, Texts: []string{ai.Table}},
				{OutputColumn: OutputColumn{Name: "columns", Type: Text.OID}, Texts: []string{ai.Columns}},
				{OutputColumn: OutputColumn{Name: "groups", Type: Int8.OID}, Ints: []int64{ai.Rows}},
			}}, nil
		},
	}
	return []*Func{
		create,
		one("drop_stream", "Stops a stream and removes it with its offsets (its dead letters and the target's rows stay).", func(ctx context.Context, db DB, name string) (*StreamInfo, error) {
			return s.DropStream(ctx, db, name)
		}),
		one("pause_stream", "Stops consuming a stream, in every Flywheel, once the transaction commits; its offsets stay where they are.", func(ctx context.Context, db DB, name string) (*StreamInfo, error) {
			return s.PauseStream(ctx, db, name, true)
		}),
		one("resume_stream", "Consumes a paused stream again from its stored offsets.", func(ctx context.Context, db DB, name string) (*StreamInfo, error) {
			return s.PauseStream(ctx, db, name, false)
		}),
		agg,
	}
}

func streamsAvailable(s Streams, call *Call) error {
	if s == nil || call.DB == nil {
		return &Error{Code: "55000", Message: "this Flywheel runs without streams"}
	}
	return nil
}

// stringArg is a text argument and where its value goes.
type stringArg struct {
	name string
	to   *string
}

// readStrings reads the required arguments, which must not be empty, then
// those of the optional ones that are not NULL.
func readStrings(call *Call, required, optional []stringArg) error {
	var err error
	for _, a := range required {
		if *a.to, err = nonEmpty(call, a.name); err != nil {
			return err
		}
	}
	for _, a := range optional {
		if call.Values[a.name] == nil {
			continue
		}
		if *a.to, err = call.String(a.name); err != nil {
			return err
		}
	}
	return nil
}

// nonEmpty reads a text argument that must not be empty.
func nonEmpty(call *Call, arg string) (string, error) {
	v, err := call.String(arg)
	if err == nil && strings.TrimSpace(v) == "" {
		err = &ArgError{Func: call.Func.Name, Arg: arg, Msg: "must not be empty"}
	}
	return v, err
}

func streamResult(s *StreamInfo) *Result {
	return &Result{Columns: []ResultColumn{
		{OutputColumn: OutputColumn{Name: "stream", Type: Text.OID}, Texts: []string{s.Name}},
		{OutputColumn: OutputColumn{Name: "topic", Type: Text.OID}, Texts: []string{s.Topic}},
		{OutputColumn: OutputColumn{Name: "target", Type: Text.OID}, Texts: []string{s.Target}},
		{OutputColumn: OutputColumn{Name: "columns", Type: Text.OID}, Texts: []string{s.Columns}},
		{OutputColumn: OutputColumn{Name: "paused", Type: Bool.OID}, Texts: []string{boolText(s.Paused)}},
	}}
}
