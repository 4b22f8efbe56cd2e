package executor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeSession records the requests the executor makes, in order.
type fakeSession struct {
	fakeUpstream
	log []string
}

func (f *fakeSession) Context() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func (f *fakeSession) Simple(sql string, own bool) (byte, bool, error) {
	f.log = append(f.log, fmt.Sprintf("simple %q own=%v", sql, own))
	switch sql {
	case "", "ROLLBACK", "COMMIT":
		return 'I', false, nil
	}
	return 'T', false, nil
}

func (f *fakeSession) Call(st *planner.Statement, offset int, extra [][]byte) (byte, bool, error) {
	f.log = append(f.log, fmt.Sprintf("call at %d", offset))
	return 'T', false, nil
}

func (f *fakeSession) Fail(resp *pgproto3.ErrorResponse, abort bool) (byte, error) {
	f.log = append(f.log, fmt.Sprintf("fail %s abort=%v", resp.Code, abort))
	return 'E', nil
}

func (f *fakeSession) HoldComplete() { f.log = append(f.log, "hold") }
func (f *fakeSession) ReleaseComplete(send bool) {
	f.log = append(f.log, fmt.Sprintf("release send=%v", send))
}
func (f *fakeSession) SideFailed() bool { return false }
func (f *fakeSession) Ready(status byte) error {
	f.log = append(f.log, fmt.Sprintf("ready %c", status))
	return nil
}

func newTestExecutor(s Session) *Executor {
	return New(planner.New(catalog.Builtin(), planner.Options{}), s, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestQueryWithoutCallsIsRelayed(t *testing.T) {
	f := &fakeSession{}
	ran, err := newTestExecutor(f).Query("SELECT 1; SELECT 2")
	if ran || err != nil || len(f.log) > 0 {
		t.Errorf("Query = %v, %v after %v; want it left to the relay", ran, err, f.log)
	}
}

// A failed call in a multi-statement Query rolls back the proxy's own
// implicit block and drops the held CommandComplete.
func TestQueryImplicitBlockRollsBack(t *testing.T) {
	f := &fakeSession{}
	f.err = &UpstreamError{Resp: &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42P01", Message: "no table"}}
	ran, err := newTestExecutor(f).Query("SELECT 1; SELECT * FROM kmeans((SELECT * FROM nowhere), 2)")
	if !ran || err != nil {
		t.Fatalf("Query = %v, %v", ran, err)
	}
	want := []string{
		`simple "" own=true`, `simple "BEGIN" own=true`, `simple "SELECT 1" own=false`,
		"hold", "fail 42P01 abort=false", `simple "ROLLBACK" own=true`, "release send=false", "ready I",
	}
	if !reflect.DeepEqual(f.log, want) {
		t.Errorf("requests\n%q\nwant\n%q", f.log, want)
	}
}

func TestQueryInsideBlockRunsAlone(t *testing.T) {
	f := &fakeSession{}
	f.err = ErrSkipped
	ran, err := newTestExecutor(f).Query("BEGIN; SELECT * FROM kmeans((SELECT * FROM nowhere), 2)")
	if !ran || err != nil {
		t.Fatalf("Query = %v, %v", ran, err)
	}
	// Skipped after an earlier error: the Query gets no response at all.
	want := []string{`simple "BEGIN" own=false`}
	if !reflect.DeepEqual(f.log, want) {
		t.Errorf("requests %q, want %q", f.log, want)
	}
}
