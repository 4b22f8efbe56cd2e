package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestMemoryLimitConcurrent runs 20 large model calls at once against the
// built flywheel binary with --memory-limit 128MiB: each would hold about
// 60 MiB, so only a few fit at a time. Some must fail with 53200 and a
// HINT, none may kill the proxy, a plain SELECT on another session keeps
// answering meanwhile, and the process's peak resident memory (VmHWM)
// stays under the limit plus membudget.Slack, the documented slack.
func TestMemoryLimitConcurrent(t *testing.T) {
	const limit = 128 << 20
	ctx := context.Background()
	db := srv.NewDatabase(t)
	// 300,000 ratings by 20,000 users of 200 items; and a table for
	// kmeans of 150,000 rows with three features.
	srv.Exec(t, db, `CREATE TABLE ratings AS
		SELECT 1 + g % 20000 AS user_id, 1 + ((g / 20000) * 11 + (g % 20000) * 7) % 200 AS item_id, 1 + g % 5 AS rating
		FROM generate_series(0, 299999) g;
	CREATE TABLE points AS SELECT g AS id, random() AS a, random() AS b, random() AS c FROM generate_series(1, 150000) g;`)

	bin := buildFlywheel(t)
	proc := startBinary(t, bin, "--upstream", srv.URL(db), "--listen", "127.0.0.1:0",
		"--memory-limit", strconv.Itoa(limit), "--log-level", "warn", "--http=")
	url := pgURL(proc.addr, db)
	idle := proc.status(t, "VmRSS")

	calls := []string{
		`SELECT count(*) FROM recommend(10, 10, ratings => (SELECT user_id, item_id, rating FROM ratings))`,
		`SELECT count(*) FROM kmeans((SELECT id, a, b, c FROM points), 4, n_init => 1, max_iter => 20)`,
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, oom := 0, 0
	var other []string
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			c, err := pgx.Connect(cctx, url)
			if err != nil {
				mu.Lock()
				other = append(other, "connect: "+err.Error())
				mu.Unlock()
				return
			}
			defer c.Close(ctx)
			var n int64
			err = c.QueryRow(cctx, calls[i%len(calls)]).Scan(&n)
			var pe *pgconn.PgError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &pe) && pe.Code == "53200":
				oom++
				if !strings.Contains(pe.Hint, "--memory-limit") || !strings.Contains(pe.Message, "memory limit of 128.0 MiB") {
					other = append(other, fmt.Sprintf("53200 without the limit or the hint: %s (hint %q)", pe.Message, pe.Hint))
				}
				// The session is still usable.
				if err := c.QueryRow(cctx, "SELECT 1").Scan(&n); err != nil {
					other = append(other, "after 53200: "+err.Error())
				}
			default:
				other = append(other, err.Error())
			}
		}()
	}
	// Other sessions keep working while the calls run.
	done := make(chan struct{})
	plain := make(chan error, 1)
	go func() {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			plain <- err
			return
		}
		defer c.Close(ctx)
		n := 0
		for {
			select {
			case <-done:
				if n == 0 {
					plain <- errors.New("no plain SELECT ran during the calls")
				} else {
					plain <- nil
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			var got int64
			err := c.QueryRow(qctx, "SELECT count(*) FROM points WHERE id <= 10").Scan(&got)
			cancel()
			if err != nil || got != 10 {
				plain <- fmt.Errorf("plain SELECT during the calls: %d, %v", got, err)
				return
			}
			n++
		}
	}()
	wg.Wait()
	close(done)
	if err := <-plain; err != nil {
		t.Error(err)
	}
	for _, e := range other {
		t.Error(e)
	}
	if oom == 0 || ok == 0 {
		t.Errorf("%d calls succeeded and %d got 53200: want some of each", ok, oom)
	}
	// The proxy is still up and serves a model call that fits.
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("proxy down after the calls: %v", err)
	}
	defer c.Close(ctx)
	var n int64
	if err := c.QueryRow(ctx, `SELECT count(*) FROM kmeans((SELECT id, a, b, c FROM points WHERE id <= 1000), 3)`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("a small call after the big ones: %d, %v", n, err)
	}
	hwm := proc.status(t, "VmHWM")
	bound := int64(limit) + membudget.Slack(limit)
	t.Logf("20 concurrent calls: %d succeeded, %d got 53200; peak RSS %s (idle %s) for a limit of %s (bound with slack %s)",
		ok, oom, membudget.Bytes(hwm), membudget.Bytes(idle), membudget.Bytes(limit), membudget.Bytes(bound))
	if hwm > bound {
		t.Errorf("peak RSS %s over the limit plus slack, %s", membudget.Bytes(hwm), membudget.Bytes(bound))
	}
}

// buildFlywheel builds the flywheel binary into the test's temp dir.
func buildFlywheel(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flywheel")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/flywheeldb/flywheel/cmd/flywheel")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type binaryProc struct {
	cmd  *exec.Cmd
	addr string
}

// startBinary runs flywheel serve with args until the test ends, without
// GOMEMLIMIT (the test sets the limit by flag).
func startBinary(t *testing.T, bin string, args ...string) *binaryProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOMEMLIMIT=") && !strings.HasPrefix(e, "FLYWHEEL_") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &binaryProc{cmd: cmd}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := make(chan string, 1)
	servingRE := regexp.MustCompile(`flywheel is serving on (\S+);`)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case p.addr = <-addr:
	case <-exited:
		t.Fatal("flywheel serve exited during start-up")
	case <-time.After(time.Minute):
		t.Fatal("flywheel serve did not start")
	}
	return p
}

// status reads a size field (VmHWM, VmRSS) of /proc/<pid>/status in bytes.
func (p *binaryProc) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == field+":" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
	return 0
}
