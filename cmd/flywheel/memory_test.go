package main

import (
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev) // Resolve sets the runtime's soft limit
	log := slog.New(slog.DiscardHandler)
	f := serveFlags{memoryLimit: "64MB"}
	mem, err := f.memoryBudget(log)
	if err != nil || mem.Limit() != 64<<20 {
		t.Fatalf("--memory-limit 64MB: %v, %v", mem.Limit(), err)
	}
	f.memoryLimit = "10 parsecs"
	if _, err := f.memoryBudget(log); err == nil {
		t.Fatal("a bad --memory-limit was accepted")
	}
	f.memoryLimit = ""
	if mem, err := f.memoryBudget(log); err != nil || mem.Limit() <= 0 {
		t.Fatalf("default --memory-limit: %v, %v", mem.Limit(), err)
	}
}
