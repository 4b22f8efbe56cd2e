package planner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
)

const bigRatingsSQL = `CREATE TABLE big AS SELECT g % 5000 AS user_id, g AS product_id, (g % 5)::numeric AS rating
	FROM generate_series(1, 200000) g`

func TestMemoryLimit(t *testing.T) {
	mem := membudget.New(4<<20, 50*time.Millisecond)
	s := newSession(t, Options{Memory: mem}, ratingsSQL+bigRatingsSQL)
	// 200,000 rows of about 30 counted bytes are charged at twice that
	// while read: over 4 MiB long before the last row.
	_, err := s.run(`SELECT * FROM rec(1, ratings => (TABLE big))`, nil, nil, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "53200" || !strings.Contains(pe.Hint, "--memory-limit") ||
		!strings.Contains(pe.Message, "memory limit of 4.0 MiB") {
		t.Fatalf("over the memory limit: %v (%+v)", err, pe)
	}
	if u := mem.Stats().Used; u != 0 {
		t.Fatalf("%d bytes still charged after the failed call", u)
	}
	// The session is still usable, and a call that fits runs.
	if r := s.mustRun(`SELECT * FROM rec(1, ratings => (TABLE ratings))`); len(r.cols) != 3 {
		t.Errorf("after the failure: %s", r)
	}
	// Results are charged too: echo_rows returns 200,000 rows as arrays.
	mem = membudget.New(64<<20, 50*time.Millisecond)
	s.p = New(testCatalog(), Options{Memory: mem})
	r := s.mustRun(`SELECT count(*) FROM echo_rows((SELECT user_id FROM big))`)
	if r.rows[0][0] != "200000" {
		t.Fatalf("echo: %s", r)
	}
	st := mem.Stats()
	if st.Used != 0 || st.Peak == 0 {
		t.Fatalf("after a call: %+v", st)
	}
	t.Logf("echo_rows over 200,000 rows charged a peak of %s", membudget.Bytes(st.Peak))
}

// A call waits for memory others hold, and gets it when they release.
func TestMemoryWait(t *testing.T) {
	mem := membudget.New(1<<20, 30*time.Second)
	s := newSession(t, Options{Memory: mem}, ratingsSQL)
	if !mem.TryAcquire(1 << 20) {
		t.Fatal("TryAcquire")
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.run(`SELECT * FROM rec(1, ratings => (TABLE ratings))`, nil, nil, nil)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for mem.Stats().Waiting == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call did not wait")
		}
		time.Sleep(time.Millisecond)
	}
	mem.Release(1 << 20)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if u := mem.Stats().Used; u != 0 {
		t.Fatalf("%d bytes still charged", u)
	}
}

// A cancel ends a wait for memory as 57014, not 53200.
func TestMemoryWaitCancelled(t *testing.T) {
	mem := membudget.New(1<<20, 30*time.Second)
	s := newSession(t, Options{Memory: mem}, ratingsSQL)
	if !mem.TryAcquire(1 << 20) {
		t.Fatal("TryAcquire")
	}
	defer mem.Release(1 << 20)
	ctx, cancel := context.WithTimeout(s.ctx, 100*time.Millisecond)
	defer cancel()
	st, err := s.p.Prepare(ctx, s.conn, `SELECT * FROM rec(1, ratings => (TABLE ratings))`, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Bind(ctx, s.conn, nil, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("cancelled while waiting: %v", err)
	}
}

// bigConn answers a relation argument with n generated ratings from
// memory, so the benchmark measures the planner's reading and the
// budget's accounting rather than PostgreSQL.
type bigConn struct{ n int }

func (bigConn) Describe(ctx context.Context, sql string, oids []uint32) ([]uint32, []catalog.InputColumn, error) {
	return oids, []catalog.InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 23}, {Name: "rating", Type: 1700}}, nil
}

func (c bigConn) Query(ctx context.Context, sql string, oids []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	if cols != nil {
		if err := cols([]catalog.InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 23}, {Name: "rating", Type: 1700}}); err != nil {
			return err
		}
	}
	var u, i, r []byte
	for k := 0; k < c.n; k++ {
		u = strconv.AppendInt(u[:0], int64(k%5000), 10)
		i = strconv.AppendInt(i[:0], int64(k), 10)
		r = strconv.AppendInt(r[:0], int64(k%5), 10)
		if err := row([][]byte{u, i, r}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkMemoryAccounting compares a call over 8 and over 100,000 input
// rows with and without a memory budget: the ratio of the two is the
// accounting's overhead.
//
//	go test ./planner -run '^$' -bench MemoryAccounting -count 5
func BenchmarkMemoryAccounting(b *testing.B) {
	for _, n := range []int{8, 100_000} {
		for _, c := range []struct {
			name string
			mem  *membudget.Budget
		}{{"unlimited", nil}, {"limit=1GiB", membudget.New(1<<30, 0)}} {
			benchMemory(b, fmt.Sprintf("rows=%d/%s", n, c.name), bigConn{n: n}, c.mem)
		}
	}
}

func benchMemory(b *testing.B, name string, conn Conn, mem *membudget.Budget) {
	b.Run(name, func(b *testing.B) {
		p := New(testCatalog(), Options{Memory: mem})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			st, err := p.Prepare(ctx, conn, benchSQL, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Bind(ctx, conn, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cancelConn is bigConn that cancels the execution after half its rows,
// as a client's CancelRequest would.
type cancelConn struct {
	bigConn
	cancel context.CancelFunc
}

func (c cancelConn) Query(ctx context.Context, sql string, oids []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	n := 0
	return c.bigConn.Query(ctx, sql, oids, params, formats, cols, func(r [][]byte) error {
		if n++; n == c.n/2 {
			c.cancel()
		}
		return row(r)
	})
}

// A call cancelled while it reads gives back all it held.
func TestMemoryReleasedOnCancel(t *testing.T) {
	mem := membudget.New(1<<30, 0)
	p := New(testCatalog(), Options{Memory: mem})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := cancelConn{bigConn{n: 400_000}, cancel}
	st, err := p.Prepare(context.Background(), conn, benchSQL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Bind(ctx, conn, nil, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("cancelled while reading: %v", err)
	}
	if s := mem.Stats(); s.Used != 0 || s.Peak < 4<<20 {
		t.Fatalf("after the cancel: %+v (want nothing held, and the partial input charged on the way)", s)
	}
}
