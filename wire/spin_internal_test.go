package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestSpinPolicyNeedsTwoPs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if p := newSpinPolicy(time.Millisecond, true); p != nil {
		t.Fatal("a single P must never spin: the spinner would starve every other goroutine")
	}
}

func TestSpinGovernorHysteresis(t *testing.T) {
	p := &spinPolicy{}
	for _, step := range []struct {
		share float64
		want  bool
	}{
		{0.50, false}, // not yet allowed: needs to fall below stallStart
		{0.30, true},
		{0.55, true}, // allowed: stays on until above stallStop
		{0.70, false},
		{0.50, false},
		{0.10, true},
	} {
		p.update(step.share)
		if got := p.allowed.Load(); got != step.want {
			t.Fatalf("after share %.2f: allowed=%v, want %v", step.share, got, step.want)
		}
	}
}

func TestReadStall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu")
	text := "some avg10=62.65 avg60=52.21 avg300=41.24 total=2999896378\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readStall(path)
	if err != nil || got != 2999896378 {
		t.Fatalf("readStall = %d, %v", got, err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readStall(path); err == nil {
		t.Fatal("readStall accepted a file without total=")
	}
}

func TestPlainMessages(t *testing.T) {
	mentions := func(sql []byte) bool { return bytes.Contains(sql, []byte("recommend")) }
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"query", frame('Q', "SELECT 1\x00"), true},
		{"extended", cat(frame('P', "\x00SELECT $1\x00\x00\x00"), frame('B', "\x00\x00\x00\x00\x00\x00\x00\x00"), frame('D', "P\x00"), frame('E', "\x00\x00\x00\x00\x00"), frame('S', "")), true},
		{"call", frame('Q', "SELECT * FROM recommend(1, 5)\x00"), false},
		{"call in parse", frame('P', "\x00SELECT * FROM recommend($1, 5)\x00\x00\x00"), false},
		{"terminate", frame('X', ""), false},
		{"copy data", frame('d', "1\t2\n"), false},
		{"split header", frame('Q', "SELECT 1\x00")[:3], false},
		{"split body", frame('Q', "SELECT 1\x00")[:8], false},
		{"bad length", []byte{'Q', 0, 0, 0, 2}, false},
		{"empty query body", frame('Q', ""), false},
	} {
		if got := plainMessages(tc.b, mentions); got != tc.want {
			t.Errorf("%s: plainMessages = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzPlainMessages: the spinner classifies raw client bytes; whatever
// they are, it must not panic, and what it calls plain must be whole
// frames that the relay's own reader reads back exactly.
func FuzzPlainMessages(f *testing.F) {
	f.Add(frame('Q', "SELECT 1\x00"))
	f.Add(append(frame('P', "s\x00SELECT 1\x00\x00\x00"), frame('S', "")...))
	f.Add([]byte{'Q', 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !plainMessages(b, func([]byte) bool { return false }) {
			return
		}
		fr := newFrameReader(bytes.NewReader(b), DefaultMaxMessageSize)
		read := 0
		for read < len(b) {
			_, n, err := fr.next()
			if err != nil {
				t.Fatalf("plain bytes do not frame: %v", err)
			}
			if _, err := fr.body(n); err != nil {
				t.Fatalf("plain bytes do not frame: %v", err)
			}
			read += 5 + n
		}
		if read != len(b) {
			t.Fatalf("framed %d of %d bytes", read, len(b))
		}
	})
}
