// Package pgserver runs a PostgreSQL server from the machine's binaries:
// initdb into a data directory on first start, postgres as a child process,
// a clean stop. It is Flywheel's managed backing database and the test
// suite's throwaway database alike.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config says where and how to run the server.
type Config struct {
	// DataDir holds the cluster; initdb runs into it when it is empty.
	DataDir string
	// Port is the port number in the socket's name, and the TCP port when
	// ListenTCP is set. Zero picks a free one.
	Port int
	// ListenTCP also listens on 127.0.0.1:Port (tests compare against
	// direct TCP connections). Otherwise only the unix socket exists.
	ListenTCP bool
	// Settings are extra postgres -c settings.
	Settings map[string]string
	// HBA replaces pg_hba.conf when non-empty.
	HBA    string
	Logger *slog.Logger
}

// Server is a running postgres.
type Server struct {
	cfg       Config
	bin       string
	SocketDir string
	Port      int
	cmd       *exec.Cmd
	done      chan error
	cred      *syscall.Credential
}

// FindBinaries locates the directory holding initdb and postgres: the one
// pg_config names, then the newest /usr/lib/postgresql/*/bin, then PATH.
func FindBinaries() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) found via pg_config, /usr/lib/postgresql/*/bin or PATH; install them, e.g. apt-get install postgresql, or pass --upstream")
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises the data directory if needed and starts postgres,
// returning once it accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, bin: bin, done: make(chan error, 1)}
	if s.cred, err = credential(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.cfg.DataDir = dir
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	if cfg.HBA != "" {
		if err := s.writeOwned(filepath.Join(dir, "pg_hba.conf"), cfg.HBA); err != nil {
			return nil, err
		}
	}
	s.Port = cfg.Port
	if s.Port == 0 {
		if s.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	// Unix socket paths are limited to about 100 bytes; fall back to a
	// short directory of our own when the data directory's path is long.
	s.SocketDir = dir
	if len(dir)+len("/.s.PGSQL.65535") > 100 {
		if s.SocketDir, err = os.MkdirTemp("", "fwsock"); err != nil {
			return nil, err
		}
		if err := s.chown(s.SocketDir); err != nil {
			return nil, err
		}
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// credential returns the unprivileged user to run PostgreSQL as when we
// are root (initdb and postgres refuse to run as root), or nil.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user and there is no 'postgres' user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) writeOwned(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return s.chown(path)
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	dir := s.cfg.DataDir
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return nil // second start: reuse the cluster
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if err := s.chown(dir); err != nil {
		return fmt.Errorf("hand data directory to the postgres user: %w", err)
	}
	s.cfg.Logger.Info("initialising PostgreSQL cluster", "data_dir", dir)
	cmd := s.command(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	listen := ""
	if s.cfg.ListenTCP {
		listen = "127.0.0.1"
	}
	args := []string{"-D", s.cfg.DataDir, "-k", s.SocketDir, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=" + listen, "-c", "fsync=off", "-c", "max_connections=400",
		"-c", "logging_collector=off"}
	for _, k := range slices.Sorted(maps.Keys(s.cfg.Settings)) {
		args = append(args, "-c", k+"="+s.cfg.Settings[k])
	}
	// The child outlives ctx: Stop ends it.
	cmd := s.command(context.Background(), "postgres", args...)
	logPath := filepath.Join(s.cfg.DataDir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	done := s.done
	go func() { done <- cmd.Wait() }()
	sock := filepath.Join(s.SocketDir, fmt.Sprintf(".s.PGSQL.%d", s.Port))
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.cmd = nil // nothing left for Stop to wait for
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("%w: %v\n%s", errExited, err, tail(log, 2000))
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		// A socket that answers may be another server's (the same port,
		// or this data directory already running): ours is ready when
		// the data directory's postmaster.pid is its own too.
		if ready(sock) && ownsDataDir(s.cfg.DataDir, cmd.Process.Pid) {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return errors.New("postgres did not accept connections within 60s; see " + logPath)
		}
	}
}

// ownsDataDir reports whether postmaster.pid in dir names pid, as the
// first line of the file PostgreSQL writes when it takes the directory.
func ownsDataDir(dir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first) == strconv.Itoa(pid)
}

// ready asks the server for a startup through the socket and checks that
// it answers with something other than "the database system is starting up".
func ready(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// StartupMessage for user postgres, database postgres.
	body := []byte("\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00")
	msg := append([]byte{0, 0, 0, 0}, body...)
	n := len(msg)
	msg[0], msg[1], msg[2], msg[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	if _, err := c.Write(msg); err != nil {
		return false
	}
	buf := make([]byte, 512)
	m, err := c.Read(buf)
	if err != nil || m == 0 {
		return false
	}
	if buf[0] == 'E' && strings.Contains(string(buf[:m]), "57P03") {
		return false // starting up
	}
	return true
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is a connection string for the superuser over the unix socket.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", database, s.SocketDir, s.Port)
}

// TCPURL is a connection string over TCP (only with ListenTCP).
func (s *Server) TCPURL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// Reload makes postgres re-read its configuration files.
func (s *Server) Reload() error {
	return s.cmd.Process.Signal(syscall.SIGHUP)
}

// WriteHBA replaces pg_hba.conf and reloads.
func (s *Server) WriteHBA(content string) error {
	if err := s.writeOwned(filepath.Join(s.cfg.DataDir, "pg_hba.conf"), content); err != nil {
		return err
	}
	return s.Reload()
}

// Kill ends postgres abruptly (tests of upstream death).
func (s *Server) Kill() error {
	if s.cmd == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
	return nil
}

// errExited is a postgres that exited during start-up.
var errExited = errors.New("postgres exited during start-up")

// Restart starts postgres again after Kill or Stop, on the same port. Just
// after a Kill the old server's backends may still be exiting, holding
// its shared memory, which makes a new postmaster give up: it tries again
// for a few seconds.
func (s *Server) Restart(ctx context.Context) error {
	var err error
	for try := 0; try < 20; try++ {
		s.done = make(chan error, 1)
		if err = s.start(ctx); !errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return err
}

// Stop shuts postgres down (fast shutdown: sessions are ended, no wait for
// clients) and waits for it to exit.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
	return nil
}
