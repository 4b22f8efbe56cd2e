package planner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
)

// step is what one call did in one execution, for EXPLAIN.
type step struct {
	name    string
	inRows  int
	outRows int
	calls   int // function runs: one, or one per distinct argument tuple
	dur     time.Duration
	lateral bool
}

func (s *Statement) bind(ctx context.Context, conn Conn, params [][]byte, formats []int16) ([][]byte, error) {
	if ex, ok := s.v.(*executeCall); ok {
		return s.bindExecute(ctx, conn, ex, params, formats)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The watch reads statement_timeout while a function runs, and a
	// lifecycle function runs queries of its own: they take turns.
	conn = &lockedConn{Conn: conn}
	w := &timeoutWatch{conn: conn, start: time.Now(), cancel: cancel}
	defer w.stop()
	// Held until the arrays are handed back: released on every path,
	// errors and cancels and recovered panics included. Nil without a
	// budget.
	w.mem = s.p.opts.Memory.Reserve()
	defer w.mem.Release()
	extra, steps, err := s.run(ctx, conn, params, formats, w)
	if err != nil {
		return nil, err
	}
	if e, ok := s.v.(*explainPlan); ok {
		return s.runExplain(ctx, conn, e, params, formats, extra, steps)
	}
	return extra, nil
}

// errStatementTimeout is the cause of a call's context ending at the
// session's statement_timeout.
var errStatementTimeout = errors.New("statement timeout")

// timeoutGrace is how long an execution runs before it asks for the
// session's statement_timeout: most calls are done sooner, and the round
// trip would be a large share of their time.
const timeoutGrace = time.Millisecond

// timeoutWatch applies the session's statement_timeout to the Go work of
// one execution. PostgreSQL bounds each side query with it, but not the
// functions that run between them, which the client sees as part of the
// same statement. The setting is read from the session once the execution
// has run for timeoutGrace, while a function computes and the upstream
// connection is idle; the deadline counts from the execution's start.
type timeoutWatch struct {
	conn   Conn
	start  time.Time
	cancel context.CancelCauseFunc

	looked   bool        // the setting has been read
	err      error       // reading it failed
	pending  *time.Timer // a read due at the end of the grace period
	done     chan struct{}
	deadline *time.Timer // cancels at the timeout

	// mem is the execution's share of the memory budget (nil without
	// one). It rides along with the watch because both are per execution
	// and reach every call, nested ones included.
	mem *membudget.Reservation
}

// run runs f, one function call's Go work, under the watch.
func (w *timeoutWatch) run(ctx context.Context, f func() (*catalog.Result, error)) (res *catalog.Result, err error) {
	if !w.looked {
		if grace := timeoutGrace - time.Since(w.start); grace <= 0 {
			w.look(ctx)
		} else {
			w.done = make(chan struct{})
			w.pending = time.AfterFunc(grace, func() {
				w.look(ctx)
				close(w.done)
			})
		}
	}
	// Deferred, so that a panicking function (which Bind recovers from)
	// leaves no read behind to run on the connection later.
	defer func() {
		if w.pending != nil {
			if !w.pending.Stop() {
				<-w.done // the read is under way on the connection: let it end
			}
			w.pending = nil
		}
		if err == nil && w.err != nil {
			res, err = nil, w.err
		}
	}()
	return f()
}

// look reads statement_timeout and arms the deadline.
func (w *timeoutWatch) look(ctx context.Context) {
	w.looked = true
	d, err := statementTimeout(ctx, w.conn)
	if err != nil {
		w.err = err
		return
	}
	if d > 0 {
		w.deadline = time.AfterFunc(time.Until(w.start.Add(d)), func() { w.cancel(errStatementTimeout) })
	}
}

func (w *timeoutWatch) stop() {
	if w.deadline != nil {
		w.deadline.Stop()
	}
}

// statementTimeout reads the session's statement_timeout.
func statementTimeout(ctx context.Context, conn Conn) (time.Duration, error) {
	var ms int64
	err := conn.Query(ctx, "SELECT (extract(epoch FROM current_setting('statement_timeout')::interval) * 1000)::int8",
		nil, nil, nil, nil, func(row [][]byte) error {
			var err error
			if row[0] != nil {
				ms, err = strconv.ParseInt(string(row[0]), 10, 64)
			}
			return err
		})
	if err != nil {
		return 0, sideErr(ctx, err, noPosition)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// run runs the statement's calls, those inside relation arguments first,
// and returns the proxy's arrays and what each call did.
func (s *Statement) run(ctx context.Context, conn Conn, params [][]byte, formats []int16, w *timeoutWatch) ([][]byte, []step, error) {
	if len(params) != s.ClientParams {
		return nil, nil, &Error{Code: "08P01", Message: fmt.Sprintf("bind message supplies %d parameters, but prepared statement requires %d", len(params), s.ClientParams)}
	}
	if len(formats) > 1 && len(formats) != len(params) {
		return nil, nil, &Error{Code: "08P01", Message: fmt.Sprintf("bind message has %d parameter formats but %d parameters", len(formats), len(params))}
	}
	var extra [][]byte
	steps := make([]step, 0, len(s.calls))
	for _, c := range s.calls {
		arrays, err := c.bind(ctx, conn, s, params, formats, &steps, w)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, arrays...)
	}
	return extra, steps, nil
}

// paramFormat is parameter i's format code in a Bind's format list.
func paramFormat(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	return formats[i]
}

// budget counts what one call has read against the caps, and charges
// what it holds to the process's memory budget (see memory.go).
type budget struct {
	fn               string
	rows, bytes      int64
	maxRows, maxByte int64

	mem                   *membudget.Reservation // nil without a memory budget
	pendingIn, pendingOut int64                  // counted, not yet reserved
	inCharged, outCharged int64                  // reserved for input and work, for results
}

func (b *budget) add(ctx context.Context, rows, bytes int64) error {
	b.rows += rows
	b.bytes += bytes
	if b.rows > b.maxRows {
		return &Error{Code: "53200", Message: fmt.Sprintf("input of %s exceeds the limit of %d rows", b.fn, b.maxRows),
			Hint: "Raise the limit with --max-input-rows, or reduce the input with WHERE or LIMIT."}
	}
	if b.bytes > b.maxByte {
		return &Error{Code: "53200", Message: fmt.Sprintf("input of %s exceeds the limit of %d bytes", b.fn, b.maxByte),
			Hint: "Raise the limit with --max-input-bytes, or reduce the input with WHERE or LIMIT (--max-input-rows caps rows)."}
	}
	return b.charge(ctx, memInputFactor*bytes)
}

// bind evaluates one call's arguments, runs it, and returns its arrays.
// What it did, and what calls in its relation arguments did, goes to
// steps.
func (c *call) bind(ctx context.Context, conn Conn, s *Statement, params [][]byte, formats []int16, steps *[]step, w *timeoutWatch) ([][]byte, error) {
	start := time.Now()
	arrays, st, err := c.bindOne(ctx, conn, s, params, formats, steps, w)
	if o := s.p.opts.Observer; o != nil {
		o.ObserveCall(c.fn.Name, err, time.Since(start))
	}
	if err != nil {
		return nil, err
	}
	*steps = append(*steps, st)
	return arrays, nil
}

func (c *call) bindOne(ctx context.Context, conn Conn, s *Statement, params [][]byte, formats []int16, steps *[]step, w *timeoutWatch) ([][]byte, step, error) {
	st := step{name: c.fn.Name, calls: 1}
	b := &budget{fn: c.fn.Name, maxRows: s.p.opts.MaxInputRows, maxByte: s.p.opts.MaxInputBytes, mem: w.mem}
	defer b.release()
	values := make(map[string]any, len(c.args))
	prog := newProgress(conn, s.p.opts.ProgressAfter, time.Now())
	proto := catalog.Call{Func: c.fn, Values: values, DB: conn, Store: s.p.opts.Models, Memo: map[any]any{},
		Progress: prog.reporter()}
	if c.sink != nil {
		proto.Sink = &catalog.SinkRows{}
	}
	if c.model != "" {
		m, err := c.deployed(ctx, s.p)
		if err != nil {
			return nil, st, err
		}
		proto.Model = m
	}
	for i, spec := range c.args {
		fa := c.fn.Args[i]
		switch spec.kind {
		case argDefault, argConst, argParam:
			v := spec.value
			var err error
			if spec.kind == argParam {
				v, err = c.paramValue(spec, fa, s, params, formats)
			}
			if err == nil && spec.kind != argDefault && fa.Type.OID == catalog.AnyType.OID && c.keyType != 0 {
				v, err = c.keyText(ctx, conn, v)
			}
			if err != nil {
				return nil, st, err
			}
			values[fa.Name] = v
		case argRelation:
			rel, err := c.read(ctx, conn, spec.rel, s, params, formats, b, steps, w)
			if err != nil {
				return nil, st, err
			}
			values[fa.Name] = rel
			st.inRows += rel.Rows()
			prog.report("%s: read %d rows of %s (%d bytes)", c.fn.Name, rel.Rows(), fa.Name, b.bytes)
			if proto.Sources == nil {
				proto.Sources = map[string]string{}
			}
			proto.Sources[fa.Name] = spec.rel.sql
			if len(spec.rel.params) > 0 || spec.rel.sub != nil {
				// The text alone does not run again later (a refresh).
				if proto.Unrepeatable == nil {
					proto.Unrepeatable = map[string]string{}
				}
				proto.Unrepeatable[fa.Name] = unrepeatable(spec.rel)
			}
		}
	}
	arrays := make([]arrayBuf, c.arrays())
	if c.lateral == nil {
		if err := b.beforeRun(ctx); err != nil {
			return nil, st, err
		}
		start := time.Now()
		res, err := w.run(ctx, func() (*catalog.Result, error) {
			call := proto
			return c.fn.Run(ctx, &call)
		})
		st.dur = time.Since(start)
		if err != nil {
			return nil, st, c.wrap(ctx, err)
		}
		if st.outRows, err = c.appendResult(ctx, arrays, res, b); err != nil {
			return nil, st, err
		}
		if err := b.resultsDone(ctx); err != nil {
			return nil, st, err
		}
		out := finish(arrays)
		if err := c.writeSink(ctx, conn, proto.Sink, out); err != nil {
			return nil, st, c.wrap(ctx, err)
		}
		return out, st, nil
	}

	tuples, err := c.tuples(ctx, conn, s, params, formats, b)
	if err != nil {
		return nil, st, err
	}
	st.lateral, st.calls = true, len(tuples)
	nargs := len(c.lateral.types)
	if err := b.beforeRun(ctx); err != nil {
		return nil, st, err
	}
	runs := make([]lateralRun, 0, len(tuples))
	for t, tuple := range tuples {
		if t%64 == 0 && ctx.Err() != nil {
			return nil, st, c.wrap(ctx, ctx.Err())
		}
		vals := maps.Clone(values)
		bad := false
		for i, spec := range c.args {
			if spec.kind != argExpr {
				continue
			}
			fa := c.fn.Args[i]
			v, err := decodeText(tuple[spec.expr], c.lateral.types[spec.expr])
			if err == nil {
				v, err = coerce(v, c.lateral.types[spec.expr], fa, c.fn.Name)
			}
			if err != nil {
				return nil, st, c.wrap(ctx, err)
			}
			if v == nil && !fa.Nullable {
				// PostgreSQL would pass NULL to a strict function and get
				// no rows: that outer row joins nothing.
				bad = true
			}
			vals[fa.Name] = v
		}
		if !bad {
			runs = append(runs, lateralRun{tuple: tuple, values: vals})
		}
	}
	start := time.Now()
	_, err = w.run(ctx, func() (*catalog.Result, error) {
		return nil, c.runLateral(ctx, s.p, proto, runs)
	})
	st.dur = time.Since(start)
	if err != nil {
		return nil, st, c.wrap(ctx, err)
	}
	for _, r := range runs {
		n, err := c.appendResult(ctx, arrays[nargs:], r.res, b)
		if err != nil {
			return nil, st, err
		}
		st.outRows += n
		for i := 0; i < nargs; i++ {
			before := len(arrays[i].b)
			for range n {
				if r.tuple[i] == nil {
					arrays[i].null()
				} else {
					arrays[i].quoted(r.tuple[i])
				}
			}
			if err := b.chargeResult(ctx, int64(len(arrays[i].b)-before)); err != nil {
				return nil, st, err
			}
		}
		if r.sink != nil {
			for i, col := range r.sink.Cols {
				if len(proto.Sink.Cols) < len(r.sink.Cols) {
					proto.Sink.Cols = make([][]string, len(r.sink.Cols))
				}
				proto.Sink.Cols[i] = append(proto.Sink.Cols[i], col...)
			}
		}
	}
	if err := b.resultsDone(ctx); err != nil {
		return nil, st, err
	}
	out := finish(arrays)
	if err := c.writeSink(ctx, conn, proto.Sink, out); err != nil {
		return nil, st, c.wrap(ctx, err)
	}
	return out, st, nil
}

// unrepeatable says why a relation argument's text cannot run on its own.
func unrepeatable(rel *relArg) string {
	if len(rel.params) > 0 {
		return catalog.SourceParams
	}
	return catalog.SourceCalls
}

// lateralRun is one run of a LATERAL call: an outer value's arguments and
// what the function returned for them.
type lateralRun struct {
	tuple  [][]byte
	values map[string]any
	res    *catalog.Result
	sink   *catalog.SinkRows
}

// runLateral runs a LATERAL call once per run. Calls that predict from a
// stored model read nothing but the model, so they run on every core
// (1,000 users' recommendations at once); the others run in order and
// share proto's memo, so a function indexes its relation arguments once
// for the batch. Either way the results keep the runs' order, and so do
// the sink's rows.
func (c *call) runLateral(ctx context.Context, p *Planner, proto catalog.Call, runs []lateralRun) error {
	one := func(ctx context.Context, r *lateralRun, call catalog.Call) (err error) {
		call.Values = r.values
		if proto.Sink != nil {
			r.sink = &catalog.SinkRows{}
			call.Sink = r.sink
		}
		r.res, err = c.fn.Run(ctx, &call)
		return err
	}
	workers := min(runtime.GOMAXPROCS(0), len(runs)/lateralPerWorker)
	if c.model == "" || workers < 2 {
		for i := range runs {
			if i%64 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := one(ctx, &runs[i], proto); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(runs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := proto
			call.Memo, call.Progress = nil, nil // neither is safe to share across goroutines
			for {
				i := int(next.Add(1) - 1)
				if i >= len(runs) || ctx.Err() != nil {
					return
				}
				func() {
					// A panic here is out of Bind's reach: make it this
					// statement's error, as Bind would.
					var res *catalog.Result
					defer recovered(p, &res, &errs[i])
					errs[i] = one(ctx, &runs[i], call)
				}()
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		// The first run's error in order, as the sequential runs give.
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// lateralPerWorker is how many runs make a worker worth starting.
const lateralPerWorker = 32

// writeSink writes the rows the call's runs added to its sink: into the
// statement's last parameters, out's tail, when the statement inserts them
// itself, else with an INSERT of their own, before the statement.
func (c *call) writeSink(ctx context.Context, conn Conn, rows *catalog.SinkRows, out [][]byte) error {
	if c.sink == nil {
		return nil
	}
	n := len(c.fn.Sink.Columns)
	if c.sink.inline {
		tail := out[len(out)-n:]
		switch {
		case !c.sink.single:
			for i := range tail {
				tail[i] = sinkArray(rows, i)
			}
			return nil
		case rows.Len() <= 1:
			for i := range tail {
				tail[i] = nil
				if rows.Len() == 1 {
					tail[i] = []byte(rows.Cols[i][0])
				}
			}
			return nil
		}
		// A run that added several rows: none inline, all below.
		clear(tail)
	}
	if rows.Len() == 0 {
		return nil
	}
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = sinkArray(rows, i)
	}
	var from strings.Builder
	writeUnnestCall(&from, 1, n, false)
	writeSinkAlias(&from, c.fn.Sink)
	err := conn.Query(ctx, c.fn.Sink.Insert(from.String()), c.sink.arrays, vals, nil, nil, func([][]byte) error { return nil })
	if err != nil {
		return fmt.Errorf("%s: writing its %s rows: %w", c.fn.Name, c.fn.Sink.Arg, err)
	}
	return nil
}

// sinkArray is sink column i of rows as an array literal.
func sinkArray(rows *catalog.SinkRows, i int) []byte {
	var a arrayBuf
	if i < len(rows.Cols) {
		for _, v := range rows.Cols[i] {
			a.quotedString(v)
		}
	}
	return finish([]arrayBuf{a})[0]
}

// paramValue reads a client parameter used as a scalar argument.
func (c *call) paramValue(spec argSpec, fa catalog.Arg, s *Statement, params [][]byte, formats []int16) (any, error) {
	i := spec.param - 1
	oid := s.ParamOIDs[i]
	var v any
	var err error
	if paramFormat(formats, i) == 1 {
		v, err = decodeBinary(params[i], oid)
	} else {
		v, err = decodeText(params[i], oid)
	}
	if err == nil && spec.cast != 0 && spec.cast != oid {
		v, err = castValue(v, oid, spec.cast)
		oid = spec.cast
	}
	if err == nil {
		v, err = coerce(v, oid, fa, c.fn.Name)
	}
	if err == nil && v == nil && !fa.Nullable {
		err = &Error{Code: "22023", Message: fmt.Sprintf("%s: argument %q must not be NULL", c.fn.Name, fa.Name)}
	}
	if e, ok := err.(*Error); ok && e.Position == 0 {
		e.Position = c.pos
	}
	return v, err
}

// keyText is an anyelement argument (a user, an item) as PostgreSQL prints
// a value of the key column's type. Functions match it to the key column's
// values by text, and those arrive as PostgreSQL printed them, so
// '2024-1-1' must become 2024-01-01, a uuid lower case, a timestamptz sent
// in binary its text in the session's time zone. A value the type does not
// accept is PostgreSQL's error, as it would be for a direct call.
func (c *call) keyText(ctx context.Context, conn Conn, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	text := catalog.KeyText(v)
	var out any
	err := conn.Query(ctx, "SELECT $1", []uint32{c.keyType}, [][]byte{[]byte(text)}, nil, nil, func(row [][]byte) error {
		if row[0] != nil {
			out = string(row[0])
		}
		return nil
	})
	if err != nil {
		return nil, sideErr(ctx, err, noPosition)
	}
	return out, nil
}

// subParams picks the client parameters a side query uses.
func subParams(nums []int, s *Statement, params [][]byte, formats []int16) ([]uint32, [][]byte, []int16) {
	oids := make([]uint32, len(nums))
	vals := make([][]byte, len(nums))
	fmts := make([]int16, len(nums))
	for k, q := range nums {
		oids[k] = s.ParamOIDs[q-1]
		vals[k] = params[q-1]
		fmts[k] = paramFormat(formats, q-1)
	}
	return oids, vals, fmts
}

// read runs a relation argument's query and collects its rows.
func (c *call) read(ctx context.Context, conn Conn, rel *relArg, s *Statement, params [][]byte, formats []int16, b *budget, steps *[]step, w *timeoutWatch) (*catalog.Relation, error) {
	oids, vals, fmts := subParams(rel.params, s, params, formats)
	sql := rel.sql
	if rel.sub != nil {
		extra, sub, err := rel.sub.run(ctx, conn, vals, fmts, w)
		*steps = append(*steps, sub...)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) && pe.Position > 0 && rel.pos > 0 {
				pe.Position += rel.pos - 1
			}
			return nil, sideErr(ctx, err, shifted(rel.pos))
		}
		sql, oids = rel.sub.SQL, rel.sub.ParamOIDs
		vals = append(vals, extra...)
		fmts = append(fmts, make([]int16, len(extra))...)
	}
	out := &catalog.Relation{}
	setCols := func(cols []catalog.InputColumn) error {
		if len(cols) != len(rel.cols) {
			return &Error{Code: "0A000", Message: fmt.Sprintf("the columns of a relation argument of %s changed since the statement was prepared", c.fn.Name)}
		}
		for i := range cols {
			if cols[i].Type != rel.cols[i].Type {
				return &Error{Code: "0A000", Message: fmt.Sprintf("the columns of a relation argument of %s changed since the statement was prepared", c.fn.Name)}
			}
		}
		out.Columns = make([]*catalog.Column, len(cols))
		for i, col := range cols {
			out.Columns[i] = catalog.NewColumn(col)
		}
		return nil
	}
	n := 0
	err := conn.Query(ctx, sql, oids, vals, fmts, setCols, func(row [][]byte) error {
		if out.Columns == nil {
			if err := setCols(rel.cols); err != nil {
				return err
			}
		}
		size := int64(0)
		for i, v := range row {
			out.Columns[i].Append(v)
			size += int64(len(v)) + 9
		}
		n++
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		return b.add(ctx, 1, size)
	})
	if err != nil {
		// PostgreSQL's errors (and the wire's wrapping of them) pass
		// unchanged, as do the caps' errors from row.
		return nil, sideErr(ctx, err, shifted(rel.pos))
	}
	if out.Columns == nil {
		if err := setCols(rel.cols); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tuples runs a lateral call's side query: the distinct values of its
// expression arguments, in text format.
func (c *call) tuples(ctx context.Context, conn Conn, s *Statement, params [][]byte, formats []int16, b *budget) ([][][]byte, error) {
	oids, vals, fmts := subParams(c.lateral.params, s, params, formats)
	var tuples [][][]byte
	err := conn.Query(ctx, c.lateral.sql, oids, vals, fmts, nil, func(row [][]byte) error {
		t := make([][]byte, len(row))
		size := int64(0)
		for i, v := range row {
			if v != nil {
				t[i] = append([]byte{}, v...)
			}
			size += int64(len(v)) + 9
		}
		tuples = append(tuples, t)
		return b.add(ctx, 1, size)
	})
	if err != nil {
		return nil, sideErr(ctx, err, noPosition)
	}
	return tuples, nil
}

// appendResult adds a function's result to the output arrays, charging
// them to b's memory budget as they grow.
func (c *call) appendResult(ctx context.Context, arrays []arrayBuf, res *catalog.Result, b *budget) (int, error) {
	if res == nil || len(res.Columns) != len(c.out) {
		got := 0
		if res != nil {
			got = len(res.Columns)
		}
		return 0, &Error{Code: "XX000", Message: fmt.Sprintf("%s returned %d columns, its declaration has %d", c.fn.Name, got, len(c.out))}
	}
	rows := res.Columns[0].Len()
	for j := range res.Columns {
		col := &res.Columns[j]
		if col.Len() != rows {
			return 0, &Error{Code: "XX000", Message: fmt.Sprintf("%s returned columns of different lengths (%d and %d)", c.fn.Name, rows, col.Len())}
		}
		a := &arrays[j]
		counted := len(a.b)
		for i := 0; i < rows; i++ {
			if i&0xffff == 0xffff && b.mem != nil {
				// A large result (nmf's dense one) fails while it is
				// built, not after.
				if err := b.chargeResult(ctx, int64(len(a.b)-counted)); err != nil {
					return 0, err
				}
				counted = len(a.b)
			}
			if col.Nulls != nil && col.Nulls[i] {
				a.null()
				continue
			}
			switch {
			case col.From != nil:
				r := col.Rows[i]
				if col.From.Null(r) {
					a.null()
				} else {
					a.quoted(col.From.Bytes(r))
				}
			case col.Floats != nil:
				a.float(col.Floats[i])
			case col.Ints != nil:
				a.int(col.Ints[i])
			default:
				a.quotedString(col.Texts[i])
			}
		}
		if err := b.chargeResult(ctx, int64(len(a.b)-counted)); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

// arrayBuf builds a PostgreSQL array literal in text format.
type arrayBuf struct {
	b []byte
	n int
}

func (a *arrayBuf) sep() {
	if a.n == 0 {
		a.b = append(a.b, '{')
	} else {
		a.b = append(a.b, ',')
	}
	a.n++
}

func (a *arrayBuf) null() {
	a.sep()
	a.b = append(a.b, "NULL"...)
}

func (a *arrayBuf) int(v int64) {
	a.sep()
	a.b = strconv.AppendInt(a.b, v, 10)
}

// float writes the shortest text that reads back as exactly v.
func (a *arrayBuf) float(v float64) {
	a.sep()
	switch {
	case math.IsNaN(v):
		a.b = append(a.b, "NaN"...)
	case math.IsInf(v, 1):
		a.b = append(a.b, "Infinity"...)
	case math.IsInf(v, -1):
		a.b = append(a.b, "-Infinity"...)
	default:
		a.b = strconv.AppendFloat(a.b, v, 'g', -1, 64)
	}
}

func (a *arrayBuf) quoted(v []byte) {
	a.sep()
	a.b = append(a.b, '"')
	for _, c := range v {
		if c == '"' || c == '\\' {
			a.b = append(a.b, '\\')
		}
		a.b = append(a.b, c)
	}
	a.b = append(a.b, '"')
}

func (a *arrayBuf) quotedString(v string) {
	a.sep()
	a.b = append(a.b, '"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' || c == '\\' {
			a.b = append(a.b, '\\')
		}
		a.b = append(a.b, c)
	}
	a.b = append(a.b, '"')
}

func finish(arrays []arrayBuf) [][]byte {
	out := make([][]byte, len(arrays))
	for i := range arrays {
		a := &arrays[i]
		if a.n == 0 {
			out[i] = []byte("{}")
		} else {
			out[i] = append(a.b, '}')
		}
	}
	return out
}

// runExplain runs EXPLAIN of the rewritten statement with this
// execution's arrays and returns its lines, Flywheel's steps first.
func (s *Statement) runExplain(ctx context.Context, conn Conn, e *explainPlan, params [][]byte, formats []int16, extra [][]byte, steps []step) ([][]byte, error) {
	vals := make([][]byte, 0, len(params)+len(extra))
	vals = append(vals, params...)
	vals = append(vals, extra...)
	fmts := make([]int16, len(vals))
	for i := range params {
		fmts[i] = paramFormat(formats, i)
	}
	var a arrayBuf
	if e.textLines {
		for _, st := range steps {
			line := fmt.Sprintf("Flywheel Function Scan: %s  (input rows=%d, output rows=%d, time=%.3f ms)",
				st.name, st.inRows, st.outRows, float64(st.dur.Nanoseconds())/1e6)
			if st.lateral {
				line = fmt.Sprintf("Flywheel Function Scan: %s  (input rows=%d, output rows=%d, calls=%d, time=%.3f ms)",
					st.name, st.inRows, st.outRows, st.calls, float64(st.dur.Nanoseconds())/1e6)
			}
			a.quotedString(line)
		}
	}
	err := conn.Query(ctx, e.sql, e.oids, vals, fmts, nil, func(row [][]byte) error {
		a.quoted(row[0])
		return nil
	})
	if err != nil {
		return nil, sideErr(ctx, err, func(p int) int { return mapPosition(s.orig, e.sql, s.splices, p) })
	}
	return finish([]arrayBuf{a}), nil
}

// sqlStater is implemented by PostgreSQL's errors as the wire package
// relays them (pgconn.PgError has it).
type sqlStater interface{ SQLState() string }

// wrap maps an error from a function or its evaluation to an *Error:
// ArgError 22023, TypeError 42804, cancellation 57014; PostgreSQL's own
// errors pass unchanged.
func (c *call) wrap(ctx context.Context, err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cancelled(ctx)
	}
	var ss sqlStater
	if errors.As(err, &ss) {
		return err
	}
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return &Error{Code: ce.Code, Message: ce.Message, Hint: ce.Hint, Position: c.pos}
	}
	var ae *catalog.ArgError
	if errors.As(err, &ae) {
		return &Error{Code: "22023", Message: err.Error(), Position: c.pos}
	}
	var te *catalog.TypeError
	if errors.As(err, &te) {
		return &Error{Code: "42804", Message: err.Error(), Position: c.pos}
	}
	if ctx.Err() != nil {
		return cancelled(ctx)
	}
	// Functions report bad input; anything else untyped is still about
	// the call's input.
	return &Error{Code: "22023", Message: fmt.Sprintf("%s: %v", c.fn.Name, err), Position: c.pos}
}

// deployed resolves the call's model for this execution: the version
// deployed now, which must give the result the statement was prepared
// with (PostgreSQL's own rule for a cached plan).
func (c *call) deployed(ctx context.Context, p *Planner) (*catalog.Model, error) {
	if p.opts.Models == nil {
		return nil, &Error{Code: "55000", Message: "this Flywheel runs without a model store", Position: c.pos}
	}
	m, err := p.opts.Models.Deployed(ctx, c.model)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	out, err := c.columns(m, c.inputs)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	if !slices.Equal(out, c.out) {
		return nil, &Error{Code: "0A000", Message: "cached plan must not change result type", Position: c.pos,
			Detail: fmt.Sprintf("model %q version %d has other columns than the version the statement was prepared with", m.Name, m.Version),
			Hint:   "Prepare the statement again."}
	}
	return m, nil
}

// lockedConn lets one execution's users of the connection take turns.
type lockedConn struct {
	Conn
	mu sync.Mutex
}

func (l *lockedConn) Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Conn.Query(ctx, sql, paramOIDs, params, formats, cols, row)
}

func (l *lockedConn) Describe(ctx context.Context, sql string, paramOIDs []uint32) ([]uint32, []catalog.InputColumn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Conn.Describe(ctx, sql, paramOIDs)
}
