package membudget

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultShare is the share of the machine's memory the default limit
// takes: the rest is left to the proxy's own buffers, to PostgreSQL when
// it runs on the same machine (flywheel serve's managed one does), and to
// the page cache.
const DefaultShare = 2

// Machine reads the memory this process may use: physical memory
// (/proc/meminfo's MemTotal), or the cgroup's limit when that is lower
// (v2 memory.max, v1 memory.limit_in_bytes). 0 when neither can be read.
func Machine() int64 {
	phys := meminfo("/proc/meminfo")
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if c := cgroupLimit(path); c > 0 && (phys == 0 || c < phys) {
			phys = c
		}
	}
	return phys
}

func meminfo(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       24684248 kB
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

func cgroupLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 0
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	// cgroup v1 says "no limit" with a huge number near MaxInt64.
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0
	}
	return n
}

// Slack is how far past a budget of limit bytes the process's resident
// memory may go: the proxy's own memory (sessions' buffers, goroutines,
// the runtime), what calls allocate beyond the planner's estimate of them,
// a model in use after the cache dropped it, and garbage the collector has
// not reached yet. 64 MiB plus a quarter of the limit; the e2e memory
// test checks it.
func Slack(limit int64) int64 { return 64<<20 + limit/4 }

// Resolve picks the budget's limit and sets the Go runtime's soft limit
// to match. The runtime's soft limit is the budget plus half its Slack:
// the collector lets garbage grow up to the soft limit before it works
// harder, and the other half is for what the runtime's limit does not see
// (memory C code allocates: the SQL parser) and for live memory past the
// estimate.
//
// The budget is the configured one (0 for the default, 1/DefaultShare of
// Machine()), unless GOMEMLIMIT asks for a lower soft limit than that
// gives: then GOMEMLIMIT stays as it is and the budget is what fits under
// it with half its slack (but at least half of GOMEMLIMIT), since a
// budget that filled GOMEMLIMIT would have the collector run without end.
// It returns the limit and where it came from, for the log.
func Resolve(configured int64) (limit int64, source string) {
	goLimit := debug.SetMemoryLimit(-1) // reads GOMEMLIMIT's effect without changing it
	limit, source = configured, "--memory-limit"
	if configured <= 0 {
		limit, source = Machine()/DefaultShare, fmt.Sprintf("1/%d of the machine's memory", DefaultShare)
	}
	soft := limit + Slack(limit)/2
	if goLimit > 0 && goLimit < math.MaxInt64 && (limit <= 0 || goLimit < soft) {
		// L + (64 MiB + L/4)/2 = GOMEMLIMIT
		return max((goLimit-32<<20)*8/9, goLimit/2), "GOMEMLIMIT"
	}
	if limit <= 0 {
		return 0, "unlimited: the machine's memory could not be read"
	}
	debug.SetMemoryLimit(soft)
	return limit, source
}

// ParseSize reads a size: a number of bytes, optionally with a unit (kB,
// MB, GB, TB as PostgreSQL's settings use them, i.e. powers of 1024, or
// KiB, MiB, GiB, TiB). Empty or "0" is 0.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with kB, MB, GB or TB", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1 << 10, "kib": 1 << 10, "k": 1 << 10,
		"mb": 1 << 20, "mib": 1 << 20, "m": 1 << 20, "gb": 1 << 30, "gib": 1 << 30, "g": 1 << 30,
		"tb": 1 << 40, "tib": 1 << 40, "t": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: %w %q", s, errUnit, s[i:])
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

var errUnit = errors.New("unknown unit")
