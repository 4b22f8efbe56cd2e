package wire

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/flywheeldb/flywheel/executor"
)

// repeat is an endless stream of one message.
type repeat struct {
	msg []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.msg[r.off:])
		n += c
		r.off = (r.off + c) % len(r.msg)
	}
	return n, nil
}

func frame(typ byte, body string) []byte {
	var out []byte
	out = append(out, typ, 0, 0, 0, 0)
	n := len(body) + 4
	out[1], out[2], out[3], out[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(out, body...)
}

func testSession(client, upstream io.Reader) *session {
	s := &session{
		srv: &Server{}, log: slog.New(slog.DiscardHandler),
		cr: newFrameReader(client, DefaultMaxMessageSize), cw: bufio.NewWriter(io.Discard),
		ur: newFrameReader(upstream, DefaultMaxMessageSize), uw: bufio.NewWriter(io.Discard),
	}
	s.ex = executor.New(nil, s, s.log)
	return s
}

// The relay's steady state allocates nothing per message: not for the
// upstream's rows, not for the client's extended-protocol requests.
func TestRelayAllocatesNothing(t *testing.T) {
	row := frame('D', "\x00\x02\x00\x00\x00\x0342a\x00\x00\x00\x05hello")
	s := testSession(&repeat{msg: frame('B', "\x00\x00\x00\x00\x00\x00\x00\x00")}, &repeat{msg: row})
	s.push(entry{kind: 'E', act: forward, trim: -1})
	upstream := testing.AllocsPerRun(10000, func() {
		typ, n, err := s.ur.next()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.onUpstream(typ, n); err != nil {
			t.Fatal(err)
		}
	})
	if upstream != 0 {
		t.Errorf("relaying a DataRow allocates %v times", upstream)
	}
	client := testing.AllocsPerRun(10000, func() {
		typ, n, err := s.cr.next()
		if err != nil || typ != 'B' {
			t.Fatal(typ, err)
		}
		if err := s.onBind(n); err != nil {
			t.Fatal(err)
		}
		// Keep the queue from growing: answer the Bind.
		s.q.mu.Lock()
		for s.q.n > 1 {
			s.q.ents[(s.q.head+1)%len(s.q.ents)] = entry{}
			s.q.n--
		}
		s.q.mu.Unlock()
	})
	if client != 0 {
		t.Errorf("relaying a Bind allocates %v times", client)
	}
}

func BenchmarkRelayDataRow(b *testing.B) {
	row := frame('D', "\x00\x02\x00\x00\x00\x0342a\x00\x00\x00\x05hello")
	s := testSession(&repeat{msg: row}, &repeat{msg: row})
	s.push(entry{kind: 'E', act: forward, trim: -1})
	b.ReportAllocs()
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		typ, n, err := s.ur.next()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.onUpstream(typ, n); err != nil {
			b.Fatal(err)
		}
	}
}

// A panic while relaying ends that session only, and whoever waits on its
// queue is released.
func TestUpstreamPanicEndsSessionOnly(t *testing.T) {
	s := testSession(&repeat{msg: frame('S', "\x00\x00\x00\x00")}, &repeat{msg: frame('D', "\x00\x01\x00\x00\x00\x01x")})
	sq := s.newSide(nil, func([][]byte) error { panic("row callback bug") })
	s.push(entry{kind: 'E', act: capture, side: sq, last: true})
	err := s.upstreamLoopSafe()
	if err == nil || !strings.Contains(err.Error(), "row callback bug") {
		t.Fatalf("upstreamLoopSafe: %v", err)
	}
}
