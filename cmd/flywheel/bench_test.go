package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCPUTicks checks the /proc readers bench proxy uses for CPU per
// transaction: both count this process's own busy loop.
func TestCPUTicks(t *testing.T) {
	m0, err := machineTicks()
	if err != nil {
		t.Fatal(err)
	}
	p0, err := processTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the process has used 10 ticks (100 ms) of CPU.
	p1 := p0
	for deadline := time.Now().Add(10 * time.Second); p1-p0 < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of busy looping counted %d ticks for the process", p1-p0)
		}
		if p1, err = processTicks(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	m1, err := machineTicks()
	if err != nil {
		t.Fatal(err)
	}
	if m1-m0+2 < p1-p0 { // two ticks of slack: the two clocks are sampled apart
		t.Errorf("the machine counted %d busy ticks while this process alone used %d", m1-m0, p1-p0)
	}
	if n, err := processTicks(0); n != 0 || err != nil {
		t.Errorf("processTicks(0) = %d, %v; want 0 for direct", n, err)
	}
}

// TestPgbenchLatencies checks the percentiles bench models reports from
// pgbench -l logs (one file per thread, latency in µs in the third field).
func TestPgbenchLatencies(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	for i := 1; i <= 100; i++ {
		w := &a
		if i%2 == 0 {
			w = &b
		}
		fmt.Fprintf(w, "0 %d %d 0 1700000000 %d\n", i, i*1000, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "tx.123"), []byte(a.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tx.123.1"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lat, err := readPgbenchLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 100 {
		t.Fatalf("read %d latencies, want 100", len(lat))
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(lat, c.p); got != c.want {
			t.Errorf("p%g = %g ms, want %g", c.p, got, c.want)
		}
	}
	if _, err := readPgbenchLogs(t.TempDir()); err == nil {
		t.Error("no logs: want an error")
	}
}
