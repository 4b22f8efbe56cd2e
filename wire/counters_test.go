package wire

import (
	"testing"
)

// Counting costs the relay no allocation, and counts what it relays.
func TestCountersAllocateNothing(t *testing.T) {
	row := frame('D', "\x00\x02\x00\x00\x00\x0342a\x00\x00\x00\x05hello")
	s := testSession(&repeat{msg: row}, &repeat{msg: row})
	s.srv.counters = new(Counters)
	s.push(entry{kind: 'E', act: forward, trim: -1})
	allocs := testing.AllocsPerRun(1000, func() {
		typ, n, err := s.ur.next()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.onUpstream(typ, n); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("relaying a DataRow with counters allocates %v times", allocs)
	}
	c := s.srv.counters
	if m, b := c.UpstreamMessages.Load(), c.UpstreamBytes.Load(); m < 1000 || b != m*uint64(len(row)) {
		t.Errorf("counted %d messages, %d bytes; want >= 1000 messages of %d bytes", m, b, len(row))
	}
}

// BenchmarkRelayDataRowCounted is BenchmarkRelayDataRow with metrics on:
// the ratio of the two is the counters' cost on the hot path.
func BenchmarkRelayDataRowCounted(b *testing.B) {
	row := frame('D', "\x00\x02\x00\x00\x00\x0342a\x00\x00\x00\x05hello")
	s := testSession(&repeat{msg: row}, &repeat{msg: row})
	s.srv.counters = new(Counters)
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
