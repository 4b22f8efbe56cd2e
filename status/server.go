// Package status serves Flywheel's HTTP endpoints: a status page (/), the
// Prometheus metrics (/metrics), and the health and readiness checks
// (/healthz, /readyz).
//
// The page reads the same state the SQL views show (flywheel.models,
// flywheel.model_versions, flywheel.streams when it exists, and
// pg_stat_activity for the proxy's own sessions), through a small pool of
// its own: there is no second source of truth to drift, and what an
// operator sees here is what `SELECT * FROM flywheel.models` says. It is
// read-only: no endpoint changes anything.
package status

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Server.
type Config struct {
	// Auth is "user:password" for HTTP basic authentication; empty serves
	// without it, which CheckBind allows on loopback addresses only.
	Auth string
	// TLS, when set, serves HTTPS (so basic auth never crosses in clear).
	TLS *tls.Config
	// DB reads the views. The status page's own pool, so that a slow page
	// never takes a connection a client session or the model store needs.
	DB *pgxpool.Pool
	// Sessions reports the live client sessions, those still starting up
	// included.
	Sessions func() int
	// BackendPIDs lists the upstream backends of the proxy's sessions, to
	// find them in pg_stat_activity.
	BackendPIDs func() []uint32
	// ComputingPIDs lists those of them running a model function in the
	// proxy: busy, whatever pg_stat_activity says of their backends.
	ComputingPIDs func() []uint32
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Ready reports whether the proxy accepts clients; nil means it does
	// once the upstream answers.
	Ready  func() error
	Logger *slog.Logger
}

// Server is the HTTP side of Flywheel.
type Server struct {
	cfg  Config
	log  *slog.Logger
	user []byte
	pass []byte
	hist *history // streams' rows_per_s over the last hour
}

// CheckBind refuses to serve a non-loopback address without
// authentication: the page shows model names, errors and client
// application names, which are not for the whole network.
func CheckBind(addr, auth string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if auth != "" {
		if u, _, ok := strings.Cut(auth, ":"); !ok || u == "" {
			return errors.New("--http-auth must be user:password")
		}
		return nil
	}
	if !loopback(host) {
		return fmt.Errorf("--http %s is not a loopback address: set --http-auth user:password to serve the status page there (over TLS with --tls-cert), or bind 127.0.0.1", addr)
	}
	return nil
}

// loopback reports whether host names only this machine. An empty host
// (":6480") listens on every interface, so it is not loopback.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New checks the configuration and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("status: Config.DB is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hist: newHistory()}
	if cfg.Auth != "" {
		u, p, ok := strings.Cut(cfg.Auth, ":")
		if !ok || u == "" {
			return nil, errors.New("status: Auth must be user:password")
		}
		s.user, s.pass = []byte(u), []byte(p)
	}
	return s, nil
}

// Handler routes the endpoints, behind basic auth when it is configured.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	if s.user == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		// Both compared every time: the answer's timing says nothing
		// about which one was wrong.
		uok := subtle.ConstantTimeCompare([]byte(u), s.user)
		pok := subtle.ConstantTimeCompare([]byte(p), s.pass)
		if !ok || uok&pok != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="flywheel", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Serve serves on ln until ctx ends, then shuts down, giving requests in
// flight a few seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	go s.sampleStreams(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err := hs.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("status: %w", err)
}

// checkTimeout bounds a health check's query: a probe that hangs is
// worse than one that fails.
const checkTimeout = 2 * time.Second

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var one int
	if err := s.cfg.DB.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	return nil
}

// healthz answers 200 when the upstream PostgreSQL answers a query.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ping(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 when the proxy accepts clients and the upstream
// answers: a load balancer may send clients.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := s.ping(r.Context())
	if err == nil && s.cfg.Ready != nil {
		err = s.cfg.Ready()
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}
