package membudget

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

func TestNilIsUnlimited(t *testing.T) {
	var b *Budget
	r := b.Reserve()
	if r != nil || r.Held() != 0 {
		t.Fatal("a nil budget's reservation is not nil")
	}
	if err := r.Grow(context.Background(), 1<<62); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if !b.TryAcquire(1 << 62) {
		t.Fatal("TryAcquire on nil budget failed")
	}
	b.Release(1 << 62)
	if New(0, 0) != nil {
		t.Fatal("New(0) is not unlimited")
	}
}

func TestGrowAndRelease(t *testing.T) {
	ctx := context.Background()
	b := New(100, 10*time.Millisecond)
	r := b.Reserve()
	if err := r.Grow(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := r.Grow(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Used; got != 100 {
		t.Fatalf("used %d, want 100", got)
	}
	r2 := b.Reserve()
	err := r2.Grow(ctx, 1)
	var ee *ExceededError
	if !errors.As(err, &ee) || !errors.Is(err, ErrTimeout) || ee.Limit != 100 || ee.Need != 1 {
		t.Fatalf("got %v, want a timeout ExceededError", err)
	}
	r.Release()
	r.Release() // twice is fine
	if err := r2.Grow(ctx, 100); err != nil {
		t.Fatal(err)
	}
	r2.Release()
	if s := b.Stats(); s.Used != 0 || s.Peak != 100 || s.Failures != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTooLargeFailsAtOnce(t *testing.T) {
	b := New(100, time.Hour)
	r := b.Reserve()
	if err := r.Grow(context.Background(), 50); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Grow(context.Background(), 51); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if time.Since(start) > time.Minute {
		t.Fatal("waited for a reservation that can never fit")
	}
	if r.Held() != 50 {
		t.Fatalf("held %d after a failed Grow, want 50", r.Held())
	}
	r.Release()
}

// A waiter gets its memory as soon as a holder releases.
func TestWaitThenGranted(t *testing.T) {
	ctx := context.Background()
	b := New(100, time.Hour)
	r := b.Reserve()
	if err := r.Grow(ctx, 80); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	r2 := b.Reserve()
	go func() { done <- r2.Grow(ctx, 50) }()
	waitFor(t, func() bool { return b.Stats().Waiting == 1 })
	r.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r2.Release()
}

func TestContextEndsWait(t *testing.T) {
	b := New(10, time.Hour)
	if !b.TryAcquire(10) {
		t.Fatal("TryAcquire")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := b.Reserve()
	if err := r.Grow(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if b.Stats().Waiting != 0 {
		t.Fatal("a waiter was left behind")
	}
	b.Release(10)
}

// When every holder waits for more, one gives up at once instead of all
// of them timing out together.
func TestDeadlockFailsOne(t *testing.T) {
	ctx := context.Background()
	b := New(100, time.Hour)
	r1, r2 := b.Reserve(), b.Reserve()
	if err := r1.Grow(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := r2.Grow(ctx, 40); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r1.Grow(ctx, 30) }()
	waitFor(t, func() bool { return b.Stats().Waiting == 1 })
	// r2 now waits too: a deadlock, and r2 (holding less) is the one to go.
	if err := r2.Grow(ctx, 30); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("got %v, want ErrDeadlock", err)
	}
	r2.Release()
	if err := <-done; err != nil {
		t.Fatalf("the older holder failed too: %v", err)
	}
	r1.Release()
	if u := b.Stats().Used; u != 0 {
		t.Fatalf("used %d after all released", u)
	}
}

func TestReclaimerMakesRoom(t *testing.T) {
	b := New(100, time.Hour)
	var mu sync.Mutex
	cached := int64(90)
	if !b.TryAcquire(cached) {
		t.Fatal("TryAcquire")
	}
	b.AddReclaimer(func(need int64) int64 {
		mu.Lock()
		defer mu.Unlock()
		n := min(need, cached)
		cached -= n
		b.Release(n)
		return n
	})
	r := b.Reserve()
	if err := r.Grow(context.Background(), 50); err != nil {
		t.Fatal(err)
	}
	if cached != 50 {
		t.Fatalf("cache holds %d, want 50 (only what was missing reclaimed)", cached)
	}
	// The cache may not take memory while someone waits or it does not fit.
	if b.TryAcquire(1) {
		t.Fatal("TryAcquire over the limit")
	}
	r.Release()
	b.Release(cached)
}

// Many holders growing in small steps at once: every byte comes back, and
// the budget never goes over its limit.
func TestConcurrentNeverOver(t *testing.T) {
	b := New(1000, 50*time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.Reserve()
			defer r.Release()
			for step := 0; step < 30; step++ {
				if err := r.Grow(context.Background(), 10); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					return
				}
				if u := b.Stats().Used; u > 1000 {
					t.Errorf("used %d over the limit", u)
				}
				time.Sleep(100 * time.Microsecond) // let the holders overlap
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	s := b.Stats()
	if s.Used != 0 || s.Waiting != 0 {
		t.Fatalf("left behind: %+v", s)
	}
	if ok == 0 || ok+failed != 40 {
		t.Fatalf("%d succeeded, %d failed: the oldest holders should finish", ok, failed)
	}
	t.Logf("%d of 40 finished, %d got the error, peak %d", ok, failed, s.Peak)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "1024": 1024, "64MB": 64 << 20, "1.5 GiB": 3 << 29, "2g": 2 << 30, "512kB": 512 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-1", "10 parsecs"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestMachineFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := meminfo(write("meminfo", "MemTotal:       2048 kB\nMemFree: 1 kB\n")); got != 2048*1024 {
		t.Fatalf("meminfo %d", got)
	}
	if got := cgroupLimit(write("max", "max\n")); got != 0 {
		t.Fatalf("cgroup max %d", got)
	}
	if got := cgroupLimit(write("v1", "9223372036854771712\n")); got != 0 {
		t.Fatalf("cgroup v1 unlimited %d", got)
	}
	if got := cgroupLimit(write("lim", "1073741824\n")); got != 1<<30 {
		t.Fatalf("cgroup limit %d", got)
	}
	if Machine() <= 0 {
		t.Fatal("Machine() read nothing on this machine")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestResolve(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	debug.SetMemoryLimit(math.MaxInt64) // no GOMEMLIMIT
	if limit, src := Resolve(64 << 20); limit != 64<<20 || src != "--memory-limit" {
		t.Fatalf("Resolve(64 MiB) = %d, %s", limit, src)
	}
	if got := debug.SetMemoryLimit(-1); got != 64<<20+Slack(64<<20)/2 {
		t.Fatalf("runtime soft limit %d, want the limit plus half its slack", got)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if limit, _ := Resolve(0); limit != Machine()/DefaultShare {
		t.Fatalf("default limit %d, want %d", limit, Machine()/DefaultShare)
	}
	debug.SetMemoryLimit(32 << 20) // as GOMEMLIMIT=32MiB sets it
	if limit, src := Resolve(64 << 20); limit != 16<<20 || src != "GOMEMLIMIT" {
		t.Fatalf("with a small GOMEMLIMIT: %d, %s; want half of it", limit, src)
	}
	if got := debug.SetMemoryLimit(-1); got != 32<<20 {
		t.Fatalf("GOMEMLIMIT changed to %d", got)
	}
	debug.SetMemoryLimit(1 << 30) // GOMEMLIMIT=1GiB
	limit, src := Resolve(0)
	if src != "GOMEMLIMIT" || limit+Slack(limit)/2 > 1<<30 || limit < 800<<20 {
		t.Fatalf("with GOMEMLIMIT=1GiB: %d, %s; want what fits under it with half the slack", limit, src)
	}
	// A GOMEMLIMIT above what the flag gives is lowered to it.
	debug.SetMemoryLimit(1 << 30)
	if limit, _ := Resolve(64 << 20); limit != 64<<20 || debug.SetMemoryLimit(-1) != 64<<20+Slack(64<<20)/2 {
		t.Fatalf("with GOMEMLIMIT above the flag: %d, soft limit %d", limit, debug.SetMemoryLimit(-1))
	}
}

// BenchmarkGrowRelease is the budget's cost per chunk a call reserves
// (a call takes one Grow per mebibyte of input, and one Release).
func BenchmarkGrowRelease(b *testing.B) {
	bud := New(1<<40, 0)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := bud.Reserve()
			if err := r.Grow(ctx, Chunk); err != nil {
				b.Fatal(err)
			}
			r.Release()
		}
	})
}

// Waiters are served oldest first: a small request that would fit does
// not overtake a large one that waits, so the large one is not starved.
func TestWaitersInOrder(t *testing.T) {
	ctx := context.Background()
	b := New(100, time.Hour)
	if !b.TryAcquire(90) {
		t.Fatal("TryAcquire")
	}
	big, small := b.Reserve(), b.Reserve()
	bigDone := make(chan error, 1)
	go func() { bigDone <- big.Grow(ctx, 50) }()
	waitFor(t, func() bool { return b.Stats().Waiting == 1 })
	smallDone := make(chan error, 1)
	go func() { smallDone <- small.Grow(ctx, 5) }()
	waitFor(t, func() bool { return b.Stats().Waiting == 2 })
	select {
	case <-smallDone:
		t.Fatal("the small request overtook the waiting large one")
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(90)
	if err := <-bigDone; err != nil {
		t.Fatal(err)
	}
	if err := <-smallDone; err != nil {
		t.Fatal(err)
	}
	big.Release()
	small.Release()
}

func TestRemoveReclaimer(t *testing.T) {
	b := New(10, time.Millisecond)
	asked := 0
	remove := b.AddReclaimer(func(int64) int64 { asked++; return 0 })
	b.TryAcquire(10)
	r := b.Reserve()
	_ = r.Grow(context.Background(), 1)
	remove()
	_ = r.Grow(context.Background(), 1)
	if asked != 1 {
		t.Fatalf("reclaimer asked %d times, want once (before it was removed)", asked)
	}
	b.Release(10)
}

// A reservation part-way through its work goes before newcomers that
// wait: it will finish and give its memory back, they have not started.
func TestHoldersBeforeNewcomers(t *testing.T) {
	ctx := context.Background()
	b := New(100, time.Hour)
	if !b.TryAcquire(50) {
		t.Fatal("TryAcquire")
	}
	holder, newcomer := b.Reserve(), b.Reserve()
	if err := holder.Grow(ctx, 10); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- newcomer.Grow(ctx, 60) }()
	waitFor(t, func() bool { return b.Stats().Waiting == 1 })
	if err := holder.Grow(ctx, 40); err != nil { // fits, though a newcomer waits
		t.Fatal(err)
	}
	holder.Release()
	b.Release(50)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	newcomer.Release()
}
