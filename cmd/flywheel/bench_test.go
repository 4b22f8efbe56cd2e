package main

import (
	"os"
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
