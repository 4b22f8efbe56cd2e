package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

// benchProxy measures pass-through cost: pgbench -S directly against a
// PostgreSQL, through Flywheel and (when installed) through pgbouncer in
// session mode, alternating, and reports TPS and ratios to direct.
func benchProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flywheel bench proxy", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Second, "length of each pgbench run")
	pairs := fs.Int("pairs", 5, "alternating direct/proxy runs per configuration (the median is reported)")
	clientList := fs.String("clients", "1,8", "pgbench client counts")
	modes := fs.String("modes", "simple,extended", "pgbench query modes")
	idle := fs.Int("idle", 500, "idle sessions opened to measure memory per session (0 skips)")
	busyPoll := fs.Duration("busy-poll", 200*time.Microsecond, "Flywheel's --busy-poll for the run (0 turns busy polling off)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: flywheel bench proxy [flags]\n\nStarts a throwaway PostgreSQL, Flywheel (this binary) and pgbouncer if installed,\nruns pgbench -S against each in turn and prints TPS and the ratio to direct.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	pgbench, dir, pg, stop, err := benchPostgres(ctx, "flywheel-bench-", "", map[string]string{"max_connections": "700", "shared_buffers": "128MB"})
	if err != nil {
		return err
	}
	defer stop()

	fw, fwPort, err := startFlywheel(ctx, pg.URL("postgres"), stderr, "--max-connections", "1000", "--busy-poll", busyPoll.String())
	if err != nil {
		return err
	}
	defer fw.stop()

	targets := []benchTarget{{name: "direct", port: pg.Port}, {name: "flywheel", port: fwPort, pid: fw.pid()}}
	if bouncerPort, bouncerPid, stop, err := startPgbouncer(ctx, dir, pg); err != nil {
		fmt.Fprintf(stdout, "pgbouncer: not measured (%v)\n", err)
	} else {
		defer stop()
		targets = append(targets, benchTarget{name: "pgbouncer", port: bouncerPort, pid: bouncerPid})
	}

	init := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", "postgres")
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	fmt.Fprintf(stdout, "pgbench -S, %s per run, median of %d alternating runs, %d cores, flywheel --busy-poll %s\n\n", *duration, *pairs, numCPU(), *busyPoll)
	fmt.Fprintf(stdout, "%-9s %7s", "mode", "clients")
	for _, t := range targets {
		fmt.Fprintf(stdout, " %12s", t.name+" tps")
	}
	for _, t := range targets[1:] {
		fmt.Fprintf(stdout, " %10s", t.name)
	}
	fmt.Fprintln(stdout)
	var cpuRows []string
	for _, mode := range strings.Split(*modes, ",") {
		for _, cs := range strings.Split(*clientList, ",") {
			clients, err := strconv.Atoi(cs)
			if err != nil {
				return fmt.Errorf("--clients: %w", err)
			}
			tps := make([][]float64, len(targets))
			ratios := make([][]float64, len(targets))
			machineCPU := make([][]float64, len(targets))
			proxyCPU := make([][]float64, len(targets))
			for p := 0; p < *pairs; p++ {
				var direct float64
				for i, t := range targets {
					r, err := measurePgbench(ctx, pgbench, t, mode, clients, *duration, "-S")
					if err != nil {
						return fmt.Errorf("%s: %w", t.name, err)
					}
					if i == 0 {
						direct = r.tps
					}
					tps[i] = append(tps[i], r.tps)
					ratios[i] = append(ratios[i], r.tps/direct)
					machineCPU[i] = append(machineCPU[i], r.machineCPU)
					proxyCPU[i] = append(proxyCPU[i], r.proxyCPU)
				}
			}
			row := fmt.Sprintf("%-9s %7d %12.1f", mode, clients, median(machineCPU[0]))
			for i := range targets[1:] {
				d, c := median(machineCPU[0]), median(proxyCPU[i+1])
				limit := "-" // below saturation, latency rather than CPU bounds TPS
				if clients > numCPU() {
					limit = fmt.Sprintf("%.3f", d/(d+c))
				}
				row += fmt.Sprintf(" %12.1f %10s", c, limit)
			}
			cpuRows = append(cpuRows, row)
			fmt.Fprintf(stdout, "%-9s %7d", mode, clients)
			for i := range targets {
				fmt.Fprintf(stdout, " %12.0f", median(tps[i]))
			}
			for i := range targets[1:] {
				fmt.Fprintf(stdout, " %10.3f", median(ratios[i+1]))
			}
			fmt.Fprintln(stdout)
		}
	}
	// Under saturation (more clients than cores) TPS is bounded by CPU per
	// transaction: a proxy adding c µs to direct's d µs cannot pass d/(d+c).
	fmt.Fprintf(stdout, "\nCPU per transaction in µs (medians, from /proc; the limit is direct/(direct+proxy),\nthe most a proxy of that cost can reach once the cores are saturated,\nshown when there are more clients than cores; busy polling spends idle CPU at 1 client)\n\n%-9s %7s %12s", "mode", "clients", "direct")
	for _, t := range targets[1:] {
		fmt.Fprintf(stdout, " %12s %10s", t.name, "limit")
	}
	fmt.Fprintln(stdout)
	for _, row := range cpuRows {
		fmt.Fprintln(stdout, row)
	}
	if *idle > 0 {
		perSession, err := idleMemory(ctx, fw.pid(), fwPort, *idle)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nidle sessions: %d add %.1f MiB RSS to flywheel (%.1f KiB each)\n", *idle, perSession*float64(*idle)/(1<<20), perSession/1024)
	}
	return nil
}

// benchPostgres finds pgbench and starts a throwaway PostgreSQL listening on
// TCP, in a new temporary directory dir (its data in dataDir when that is
// set); stop stops it and removes dir.
func benchPostgres(ctx context.Context, prefix, dataDir string, settings map[string]string) (pgbench, dir string, pg *pgserver.Server, stop func(), err error) {
	if pgbench, err = findTool("pgbench"); err != nil {
		return "", "", nil, nil, err
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", nil, nil, err
	}
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	if err = os.Chmod(dir, 0o755); err == nil {
		pg, err = pgserver.Start(ctx, pgserver.Config{DataDir: dataDir, ListenTCP: true, Settings: settings})
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, nil, err
	}
	return pgbench, dir, pg, func() { pg.Stop(); os.RemoveAll(dir) }, nil
}

// flywheelProc is Flywheel (this binary) serving as its own process, so
// its CPU and memory can be read from /proc.
type flywheelProc struct {
	cmd *exec.Cmd
}

func (f *flywheelProc) pid() int { return f.cmd.Process.Pid }

// stop shuts Flywheel down gracefully (a CPU profile is written then).
func (f *flywheelProc) stop() {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	_ = f.cmd.Wait()
}

// startFlywheel serves upstream on a free port with serve's extra flags
// and waits until it accepts connections.
func startFlywheel(ctx context.Context, upstream string, stderr io.Writer, extra ...string) (*flywheelProc, int, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	port, err := pgserver.FreePort()
	if err != nil {
		return nil, 0, err
	}
	args := append([]string{"serve", "--upstream", upstream, "--listen", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start flywheel: %w", err)
	}
	f := &flywheelProc{cmd: cmd}
	if err := waitPort(ctx, port); err != nil {
		f.stop()
		return nil, 0, err
	}
	return f, port, nil
}

type benchTarget struct {
	name string
	port int
	pid  int // the proxy's process, 0 for direct
}

// pgbenchResult is one run: TPS, and the CPU each transaction cost the
// whole machine and the proxy alone, in µs.
type pgbenchResult struct {
	tps, machineCPU, proxyCPU float64
}

var (
	tpsLine = regexp.MustCompile(`tps = ([0-9.]+)`)
	txnLine = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// measurePgbench runs pgbench against t with the workload given by
// workload (-S, or -f script and logging options).
func measurePgbench(ctx context.Context, pgbench string, t benchTarget, mode string, clients int, d time.Duration, workload ...string) (pgbenchResult, error) {
	machine0, proxy0, err := cpuTicks(t.pid)
	if err != nil {
		return pgbenchResult{}, err
	}
	args := append(append([]string(nil), workload...), "-n", "-M", mode, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(max(1, int(d.Seconds()))), "-h", "127.0.0.1", "-p", strconv.Itoa(t.port), "-U", "postgres", "postgres")
	cmd := exec.CommandContext(ctx, pgbench, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	machine1, proxy1, err := cpuTicks(t.pid)
	if err != nil {
		return pgbenchResult{}, err
	}
	m, n := tpsLine.FindSubmatch(out), txnLine.FindSubmatch(out)
	if m == nil || n == nil {
		return pgbenchResult{}, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	var r pgbenchResult
	if r.tps, err = strconv.ParseFloat(string(m[1]), 64); err != nil {
		return r, err
	}
	txns, err := strconv.ParseFloat(string(n[1]), 64)
	if err != nil || txns == 0 {
		return r, fmt.Errorf("no transactions in pgbench output:\n%s", out)
	}
	r.machineCPU = float64(machine1-machine0) * tickMicros / txns
	r.proxyCPU = float64(proxy1-proxy0) * tickMicros / txns
	return r, nil
}

// cpuTicks reads the machine's busy ticks and process pid's.
func cpuTicks(pid int) (machine, process int64, err error) {
	if machine, err = machineTicks(); err != nil {
		return 0, 0, err
	}
	process, err = processTicks(pid)
	return machine, process, err
}

// tickMicros is the length of a /proc clock tick: USER_HZ is 100 on every
// Linux architecture Go supports.
const tickMicros = 1e6 / 100

// machineTicks is the CPU time all cores spent busy (user, nice, system,
// irq, softirq, steal) since boot, in ticks.
func machineTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return busy, nil
}

// processTicks is the user and system CPU time of process pid, in ticks;
// 0 for pid 0.
func processTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// idleMemory opens n idle sessions through the proxy and returns the RSS
// they add, per session, in bytes.
func idleMemory(ctx context.Context, pid, port, n int) (float64, error) {
	before, err := rss(pid)
	if err != nil {
		return 0, err
	}
	conns := make([]*pgx.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close(ctx)
		}
	}()
	for i := 0; i < n; i++ {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
		if err != nil {
			return 0, fmt.Errorf("idle session %d: %w", i, err)
		}
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}
	time.Sleep(time.Second)
	after, err := rss(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// startPgbouncer runs pgbouncer in session mode in front of pg.
func startPgbouncer(ctx context.Context, dir string, pg *pgserver.Server) (port, pid int, stop func(), err error) {
	bin, err := findTool("pgbouncer")
	if err != nil {
		return 0, 0, nil, err
	}
	port, err = pgserver.FreePort()
	if err != nil {
		return 0, 0, nil, err
	}
	bdir := filepath.Join(dir, "pgbouncer")
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return 0, 0, nil, err
	}
	ini := fmt.Sprintf(`[databases]
postgres = host=%s port=%d dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s/users.txt
pool_mode = session
max_client_conn = 1000
default_pool_size = 100
logfile = %s/pgbouncer.log
`, pg.SocketDir, pg.Port, port, bdir, bdir)
	if err := os.WriteFile(filepath.Join(bdir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		return 0, 0, nil, err
	}
	if err := os.WriteFile(filepath.Join(bdir, "users.txt"), []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		return 0, 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, filepath.Join(bdir, "pgbouncer.ini"))
	if os.Geteuid() == 0 { // pgbouncer refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			return 0, 0, nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(bdir, uid, gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, err
	}
	stop = func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }
	if err := waitPort(ctx, port); err != nil {
		stop()
		return 0, 0, nil, fmt.Errorf("%w: %s", err, out.String())
	}
	return port, cmd.Process.Pid, stop, nil
}

func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if bin, err := pgserver.FindBinaries(); err == nil {
		if p := filepath.Join(bin, name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitPort(ctx context.Context, port int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on port %d", port)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
