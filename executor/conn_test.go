package executor

import (
	"context"
	"errors"
	"testing"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeUpstream records what the executor sends.
type fakeUpstream struct {
	sent     [][]pgproto3.FrontendMessage
	toClient []pgproto3.BackendMessage
	params   []uint32
	cols     []catalog.InputColumn
	err      error
}

func (f *fakeUpstream) Side(msgs []pgproto3.FrontendMessage, cols func([]catalog.InputColumn) error, row func([][]byte) error) ([]uint32, []catalog.InputColumn, error) {
	f.sent = append(f.sent, msgs)
	if f.err != nil {
		return nil, nil, f.err
	}
	if cols != nil {
		if err := cols(f.cols); err != nil {
			return nil, nil, err
		}
	}
	return f.params, f.cols, nil
}

func (f *fakeUpstream) ToClient(msg pgproto3.BackendMessage) error {
	f.toClient = append(f.toClient, msg)
	return nil
}

var (
	_ planner.Conn    = (*Conn)(nil)
	_ planner.Noticer = (*Conn)(nil)
)

func TestConnDescribe(t *testing.T) {
	up := &fakeUpstream{params: []uint32{23}, cols: []catalog.InputColumn{{Name: "a", Type: 25}}}
	params, cols, err := NewConn(up).Describe(context.Background(), "SELECT $1", []uint32{0})
	if err != nil {
		t.Fatal(err)
	}
	// The results outlive the session's buffers they came from.
	up.params[0], up.cols[0].Name = 0, "changed"
	if params[0] != 23 || cols[0].Name != "a" {
		t.Errorf("Describe returned the upstream's buffers: %v %v", params, cols)
	}
	msgs := up.sent[0]
	if len(msgs) != 4 {
		t.Fatalf("sent %d messages, want Close, Parse, Describe, Close", len(msgs))
	}
	if p, ok := msgs[1].(*pgproto3.Parse); !ok || p.Name != SideName || p.Query != "SELECT $1" {
		t.Errorf("second message %#v, want the Parse of the side statement", msgs[1])
	}
	up.cols = nil
	if _, cols, _ := NewConn(up).Describe(context.Background(), "SET x = 1", nil); cols != nil {
		t.Errorf("a statement without rows has columns %v", cols)
	}
}

func TestConnQuery(t *testing.T) {
	stop := errors.New("stop")
	up := &fakeUpstream{cols: []catalog.InputColumn{{Name: "a"}}}
	err := NewConn(up).Query(context.Background(), "SELECT 1", nil, nil, nil,
		func([]catalog.InputColumn) error { return stop }, func([][]byte) error { return nil })
	if !errors.Is(err, stop) {
		t.Errorf("Query = %v, want the callback's error", err)
	}
	if n := len(up.sent[0]); n != 7 {
		t.Errorf("sent %d messages, want 7", n)
	}
	up.err = ErrSkipped
	if err := NewConn(up).Query(context.Background(), "SELECT 1", nil, nil, nil, nil, nil); !errors.Is(err, ErrSkipped) {
		t.Errorf("Query = %v, want ErrSkipped", err)
	}
}

func TestConnNotice(t *testing.T) {
	up := &fakeUpstream{}
	if err := NewConn(up).Notice("half way"); err != nil {
		t.Fatal(err)
	}
	if n, ok := up.toClient[0].(*pgproto3.NoticeResponse); !ok || n.Message != "half way" || n.Severity != "NOTICE" {
		t.Errorf("sent %#v", up.toClient[0])
	}
}
