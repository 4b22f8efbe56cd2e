// Package wire speaks the PostgreSQL protocol: it accepts clients, relays
// their authentication and messages to a backing PostgreSQL frame by frame,
// and hands the statements that call model functions to the planner.
package wire

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flywheeldb/flywheel/executor"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Config configures a Server.
type Config struct {
	// Upstream is the backing PostgreSQL's URL (postgres://...; a host
	// that is a directory means a unix socket).
	Upstream string
	// TLS, when set, is offered to clients that send SSLRequest.
	TLS *tls.Config
	// MaxConnections caps concurrent client sessions (default 100).
	MaxConnections int
	// StartupTimeout bounds start-up and authentication (default 30s).
	StartupTimeout time.Duration
	// MaxMessageSize caps one message's body (default 1 GiB).
	MaxMessageSize int
	// Planner rewrites statements that call model functions; nil relays
	// everything unchanged.
	Planner *planner.Planner
	Logger  *slog.Logger
	// BusyPoll is how long a busy session keeps polling its sockets
	// instead of sleeping, while the machine has idle CPU (see spin.go);
	// 0 turns busy polling off.
	BusyPoll time.Duration
	// Counters, when set, receives the relay's totals (metrics); nil
	// keeps them private to the server.
	Counters *Counters
	// alwaysSpin makes every session busy-poll regardless of CPU pressure
	// (tests use it to exercise that path).
	alwaysSpin bool
}

// Server accepts client connections and relays each to its own upstream
// connection.
type Server struct {
	cfg       Config
	planner   *planner.Planner
	log       *slog.Logger
	upNetwork string
	upAddr    string
	upTLS     *tls.Config

	mu sync.Mutex
	// sessions finds a session by the key its client was given.
	sessions map[cancelKey]*session
	conns    map[net.Conn]struct{}
	active   atomic.Int64
	wg       sync.WaitGroup
	spin     *spinPolicy // nil: sessions never busy-poll
	counters *Counters   // nil: nothing is counted
}

// Protocol codes of the start-up packets.
const (
	codeCancel  = 80877102
	codeSSL     = 80877103
	codeGSSENC  = 80877104
	maxStartup  = 10000 // PostgreSQL's MAX_STARTUP_PACKET_LENGTH
	protocolMaj = 3
)

// NewServer checks the configuration and returns a server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = 30 * time.Second
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pc, err := pgconn.ParseConfig(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream URL: %w", err)
	}
	s := &Server{cfg: cfg, planner: cfg.Planner, log: cfg.Logger, counters: cfg.Counters,
		sessions: make(map[cancelKey]*session), conns: make(map[net.Conn]struct{})}
	s.spin = newSpinPolicy(cfg.BusyPoll, cfg.alwaysSpin)
	if filepath.IsAbs(pc.Host) {
		s.upNetwork, s.upAddr = "unix", filepath.Join(pc.Host, ".s.PGSQL."+strconv.Itoa(int(pc.Port)))
	} else {
		s.upNetwork, s.upAddr = "tcp", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
		s.upTLS = pc.TLSConfig
	}
	return s, nil
}

// Serve accepts connections until ctx ends or the listener fails, then
// closes every session and waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	if s.spin != nil && !s.cfg.alwaysSpin {
		gctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go s.spin.govern(gctx)
	}
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer s.recoverSession(c)
			s.handle(ctx, c)
		}()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
		c.Close()
	}
}

// recoverSession turns a panic in one session into that session's end:
// the other sessions and the proxy stay up.
func (s *Server) recoverSession(c net.Conn) {
	if r := recover(); r != nil {
		s.log.Error("session panicked; closing it", "panic", r, "stack", string(debug.Stack()))
		c.Close()
	}
}

// Sessions reports the number of live sessions.
func (s *Server) Sessions() int { return int(s.active.Load()) }

// handle runs one client connection from its first byte to its end.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(s.cfg.StartupTimeout))
	br := bufio.NewReaderSize(c, 8<<10)
	var conn net.Conn = c
	for {
		code, body, err := readStartup(br)
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				writeFatal(conn, "08P01", pe.Msg)
			}
			return
		}
		switch code {
		case codeSSL:
			if br.Buffered() > 0 {
				// Bytes sent after SSLRequest before the answer could only
				// come from a man in the middle.
				return
			}
			if s.cfg.TLS == nil || conn != c {
				if _, err := conn.Write([]byte{'N'}); err != nil {
					return
				}
				continue
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(c, s.cfg.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				s.log.Debug("TLS handshake failed", "err", err)
				return
			}
			conn = tc
			br = bufio.NewReaderSize(tc, 8<<10)
		case codeGSSENC:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return
			}
		case codeCancel:
			s.cancel(body)
			return
		default:
			if code>>16 != protocolMaj {
				writeFatal(conn, "0A000", fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0 to 3.2", code>>16, code&0xffff))
				return
			}
			var sm pgproto3.StartupMessage
			if err := sm.Decode(body); err != nil {
				writeFatal(conn, "08P01", "invalid startup packet: "+err.Error())
				return
			}
			s.serveSession(ctx, conn, br, &sm)
			return
		}
	}
}

// readStartup reads one start-up packet: a length, a code, the rest.
func readStartup(r *bufio.Reader) (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	if n < 8 || n > maxStartup {
		return 0, nil, &ProtocolError{fmt.Sprintf("invalid length of startup packet: %d", n)}
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(body), body, nil
}

// writeFatal sends a FATAL ErrorResponse before a connection is closed.
func writeFatal(w io.Writer, code, msg string) {
	out, err := (&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}).Encode(nil)
	if err == nil {
		_, _ = w.Write(out)
	}
}

// serveSession authenticates a client through its own upstream connection
// and relays until either side leaves.
func (s *Server) serveSession(ctx context.Context, c net.Conn, br *bufio.Reader, sm *pgproto3.StartupMessage) {
	if s.active.Add(1) > int64(s.cfg.MaxConnections) {
		s.active.Add(-1)
		writeFatal(c, "53300", "sorry, too many clients already")
		return
	}
	defer s.active.Add(-1)
	if c := s.counters; c != nil {
		c.Sessions.Add(1)
	}
	up, err := s.dialUpstream(ctx)
	if err != nil {
		s.log.Warn("cannot reach upstream", "err", err)
		writeFatal(c, "08006", "could not connect to the upstream PostgreSQL: "+err.Error())
		return
	}
	defer up.Close()
	var upSource io.Reader = up
	var toClient io.Writer = c
	var lend *clientSource
	var spinUp *upstreamSource
	if s.spin != nil {
		// The client's reads can be lent to the spinner only when nothing
		// is buffered ahead of them and the client is a plain socket.
		if br.Buffered() == 0 {
			if lend = newClientSource(c); lend != nil {
				br.Reset(lend)
				toClient = &clientSink{conn: c, lend: lend}
			}
		}
		spinUp = &upstreamSource{conn: up, raw: newRawIO(up), policy: s.spin}
		upSource = spinUp
	}
	sess := &session{srv: s, client: c, up: up,
		cr:     &frameReader{r: br, max: s.cfg.MaxMessageSize},
		cw:     bufio.NewWriterSize(toClient, 32<<10),
		ur:     newFrameReader(upSource, s.cfg.MaxMessageSize),
		lend:   lend,
		spinUp: spinUp,
		uw:     bufio.NewWriterSize(up, 32<<10),
	}
	var sctx context.Context
	var cancel context.CancelFunc
	sctx, cancel = context.WithCancel(ctx)
	defer cancel()
	sess.ctx = sctx
	// The session is registered for cancels once the upstream has sent
	// its BackendKeyData (see authenticate).
	defer s.unregister(sess)
	sess.log = s.log.With("user", sm.Parameters["user"])
	sess.ex = executor.New(s.planner, sess, sess.log)

	err = sess.writeUp(sm)
	if err == nil {
		err = sess.authenticate()
	}
	if err != nil {
		sess.log.Debug("start-up failed", "err", err)
		var ue *upstreamStartupError
		if errors.As(err, &ue) {
			_ = sess.cw.Flush()
			writeFatal(c, "08006", ue.Error())
		}
		return
	}
	_ = c.SetDeadline(time.Time{})
	sess.log.Debug("session started", "database", sm.Parameters["database"])
	sess.relay()
}

func (s *Server) dialUpstream(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, s.upNetwork, s.upAddr)
	if err != nil {
		return nil, err
	}
	if s.upTLS == nil {
		return c, nil
	}
	// Ask for TLS; carry on in plaintext when the server declines (sslmode=prefer).
	if _, err := c.Write([]byte{0, 0, 0, 8, 4, 210, 22, 47}); err != nil {
		c.Close()
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return nil, err
	}
	if b[0] != 'S' {
		return c, nil
	}
	tc := tls.Client(c, s.upTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// cancelKey is the key a client cancels its session with: the upstream
// backend's own process ID, so that the client sees the PID that
// pg_backend_pid(), pg_stat_activity and the server's log show, and a
// secret of the proxy's own, so that the upstream's secret never leaves the
// proxy and a cancel always passes through it (to stop a model computation
// too). PIDs are unique only per server, and one may be reused once its
// backend exits while the proxy still holds the old session, so the secret
// is part of the key.
type cancelKey struct {
	pid    uint32
	secret string
}

// register gives sess its client key for the upstream's BackendKeyData
// body upKey and makes the session reachable by CancelRequest. The secret
// is as long as the upstream's (4 bytes in protocol 3.0, up to 256 in 3.2).
func (s *Server) register(sess *session, upKey []byte) error {
	if len(upKey) < 8 || len(upKey) > 4+256 {
		return &ProtocolError{fmt.Sprintf("malformed BackendKeyData from upstream (%d bytes)", len(upKey))}
	}
	if sess.upKey != nil {
		return &ProtocolError{"second BackendKeyData from upstream"}
	}
	sess.upKey = append([]byte(nil), upKey...)
	secret := make([]byte, len(upKey)-4)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		_, _ = rand.Read(secret)
		k := cancelKey{pid: binary.BigEndian.Uint32(upKey), secret: string(secret)}
		if _, taken := s.sessions[k]; !taken {
			sess.key = k
			s.sessions[k] = sess
			return nil
		}
	}
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.key] == sess {
		delete(s.sessions, sess.key)
	}
}

// cancel handles a CancelRequest: it stops the session's model
// computation and forwards the cancel to the session's upstream.
func (s *Server) cancel(body []byte) {
	if len(body) < 12 {
		return
	}
	k := cancelKey{pid: binary.BigEndian.Uint32(body[4:]), secret: string(body[8:])}
	s.mu.Lock()
	sess := s.sessions[k]
	s.mu.Unlock()
	if sess == nil {
		return // as PostgreSQL: say nothing
	}
	// Upstream first: once PostgreSQL has taken the cancel, the backend
	// has its signal, and a cancel that finds it idle (the proxy
	// computing) is dropped. Stopping the computation first would answer
	// the client at once, and a late cancel could hit its next statement.
	s.cancelUpstream(sess.upKey, sess.log)
	sess.cancelComputation()
}

// cancelUpstream sends a CancelRequest for the given upstream key.
func (s *Server) cancelUpstream(key []byte, log *slog.Logger) {
	if len(key) < 8 {
		return
	}
	c, err := net.DialTimeout(s.upNetwork, s.upAddr, 5*time.Second)
	if err != nil {
		log.Warn("cannot forward cancel", "err", err)
		return
	}
	defer c.Close()
	msg := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint32(msg, uint32(8+len(key)))
	binary.BigEndian.PutUint32(msg[4:], codeCancel)
	msg = append(msg, key...)
	_, _ = c.Write(msg)
	// PostgreSQL closes the connection when done; wait for that so the
	// cancel has been delivered before we return.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, _ = c.Read(b[:])
}
