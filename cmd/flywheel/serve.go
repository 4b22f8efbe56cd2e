package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/flywheeldb/flywheel/internal/membudget"
	"github.com/flywheeldb/flywheel/internal/metrics"
	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/flywheeldb/flywheel/models"
	"github.com/flywheeldb/flywheel/planner"
	"github.com/flywheeldb/flywheel/status"
	"github.com/flywheeldb/flywheel/streams"
	"github.com/flywheeldb/flywheel/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type serveFlags struct {
	listen, upstream, dataDir string
	tlsCert, tlsKey, logLevel string
	maxConns                  int
	maxInputRows              int64
	maxInputBytes             int64
	startupTimeout            time.Duration
	busyPoll                  time.Duration
	demo                      bool
	cpuProfile                string
	modelCacheBytes           int64
	memoryLimit               string
	trainWorkers              int
	http, httpAuth            string
	httpSet                   bool // --http was given, not defaulted
	kafkaBrokers              string
}

func newServeFlagSet(f *serveFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("flywheel serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: flywheel serve [flags]\n\nRuns the proxy. With no --upstream it starts and stops its own PostgreSQL.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	f.register(fs)
	return fs
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:6432", "address to accept PostgreSQL clients on")
	fs.StringVar(&f.upstream, "upstream", "", "backing PostgreSQL as a postgres:// URL; empty starts a managed PostgreSQL in --data-dir")
	fs.StringVar(&f.dataDir, "data-dir", "./flywheel-data", "managed PostgreSQL's data directory (initialised on first start, reused after)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate offered to clients that ask for TLS (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.IntVar(&f.maxConns, "max-connections", 100, "most concurrent client sessions; more get SQLSTATE 53300")
	fs.Int64Var(&f.maxInputRows, "max-input-rows", 10_000_000, "most rows one model function call may read (SQLSTATE 53200 beyond)")
	fs.Int64Var(&f.maxInputBytes, "max-input-bytes", 1<<30, "most bytes one model function call may read (SQLSTATE 53200 beyond)")
	fs.DurationVar(&f.startupTimeout, "startup-timeout", 30*time.Second, "time a client has to start up and authenticate")
	fs.DurationVar(&f.busyPoll, "busy-poll", 200*time.Microsecond, "how long a busy session polls its sockets instead of sleeping, while CPUs are idle (lower latency for some CPU); 0 turns it off")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.demo, "demo", false, "load the demo warehouse (scale 1) on first start")
	fs.Int64Var(&f.modelCacheBytes, "model-cache-bytes", 1<<30, "memory for deployed models kept decoded (least recently used go first)")
	fs.StringVar(&f.memoryLimit, "memory-limit", "", "memory for all model work at once: every session's model-function inputs and results and the model cache (e.g. 4GB; SQLSTATE 53200 beyond). Empty means 1/2 of the machine's memory (or of the cgroup's limit); GOMEMLIMIT wins when lower")
	fs.IntVar(&f.trainWorkers, "train-workers", 1, "refreshes of stored models (train's refresh =>) trained at once, when this Flywheel holds the refresh lease; 0 leaves refreshes to other Flywheels")
	fs.StringVar(&f.http, "http", "127.0.0.1:6480", "address of the status page, /metrics, /healthz and /readyz; empty turns them off")
	fs.StringVar(&f.httpAuth, "http-auth", "", "user:password for HTTP basic auth on --http (required for a non-loopback address; HTTPS with --tls-cert)")
	fs.StringVar(&f.kafkaBrokers, "kafka-brokers", "", "Kafka brokers (host:port,...) of streams created without brokers => (with --demo: the embedded broker on 127.0.0.1:9092)")
	fs.StringVar(&f.cpuProfile, "cpu-profile", "", "write a Go CPU profile to this file until shutdown (diagnostics)")
}

// applyEnv sets every flag that has a FLYWHEEL_<NAME> variable, before the
// command line is parsed, so the command line wins.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "FLYWHEEL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newServeFlagSet(&f)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, stderr)
	if err != nil {
		return err
	}
	fs.Visit(func(fl *flag.Flag) { f.httpSet = f.httpSet || fl.Name == "http" })
	if f.http != "" {
		// Before anything starts: a refused bind should cost nothing.
		if err := status.CheckBind(f.http, f.httpAuth); err != nil {
			return err
		}
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	upstream := f.upstream
	if upstream == "" {
		srv, err := pgserver.Start(ctx, pgserver.Config{DataDir: f.dataDir, Port: 5432, Logger: log})
		if err != nil {
			return fmt.Errorf("managed PostgreSQL: %w", err)
		}
		defer func() {
			log.Info("stopping managed PostgreSQL")
			srv.Stop()
		}()
		upstream = srv.URL("postgres")
		log.Info("managed PostgreSQL running", "data_dir", f.dataDir, "socket_dir", srv.SocketDir)
	}
	if f.demo {
		if err := loadDemo(ctx, upstream, 1, false, true, stdout); err != nil {
			return err
		}
	}
	var tlsCfg *tls.Config
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Metrics exist only with the HTTP side: without it nothing would
	// read them, and the relay counts nothing.
	var obs *observed
	if f.http != "" {
		obs = newObserved()
	}
	brokers := f.kafkaBrokers
	if f.demo && brokers == "" {
		broker, err := startDemoBroker(log, filepath.Join(f.dataDir, "kafka"))
		if err != nil {
			return err
		}
		defer broker.Close()
		brokers = demoBrokerAddr
	}
	streamer, err := streams.Open(ctx, streams.Config{URL: upstream, Brokers: brokers, Logger: log})
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	defer streamer.Close()
	if f.demo {
		if err := createDemoStream(ctx, upstream); err != nil {
			return fmt.Errorf("demo stream: %w", err)
		}
	}
	srv, closeStore, err := f.newProxy(ctx, upstream, tlsCfg, log, obs, streamer)
	if err != nil {
		return err
	}
	defer closeStore()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	if f.http != "" {
		stop, err := f.serveHTTP(ctx, upstream, tlsCfg, srv, obs.met, log, stdout)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	log.Info("flywheel ready", "listen", ln.Addr().String())
	fmt.Fprintf(stdout, "flywheel is serving on %s; connect with: psql -h %s -p %s -U postgres\n", ln.Addr(), host, port)
	return srv.Serve(ctx, ln)
}

// newProxy is Flywheel in front of upstream as the flags configure it:
// the stub functions installed, the model store open (close it with the
// returned function after the server has stopped) and a wire server ready
// to Serve. serve and demo loop share it. With obs set, the proxy
// reports to obs's metrics; with st, it has the stream functions.
func (f *serveFlags) newProxy(ctx context.Context, upstream string, tlsCfg *tls.Config, log *slog.Logger, obs *observed, st catalog.Streams) (*wire.Server, func(), error) {
	cat := catalog.Builtin()
	if st != nil {
		cat = catalog.BuiltinWithStreams(st)
	}
	if err := installStubs(ctx, upstream, cat); err != nil {
		log.Warn("could not create the flywheel schema's stub functions", "err", err)
	}
	mem, err := f.memoryBudget(log)
	if err != nil {
		return nil, nil, err
	}
	mcfg := models.Config{URL: upstream, CacheBytes: f.modelCacheBytes, Memory: mem, Decode: catalog.DecodeModel, Logger: log,
		Refresh: models.RefreshConfig{Workers: f.trainWorkers, MaxInputRows: f.maxInputRows, MaxInputBytes: f.maxInputBytes}}
	opts := f.plannerOptions(log)
	opts.Memory = mem
	wcfg := wire.Config{Upstream: upstream, TLS: tlsCfg, MaxConnections: f.maxConns,
		StartupTimeout: f.startupTimeout, Logger: log, BusyPoll: f.busyPoll}
	if obs != nil {
		mcfg.Observer, opts.Observer, wcfg.Counters = obs.met, obs.met, obs.counters
	}
	store, err := models.Open(ctx, mcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("model store: %w", err)
	}
	opts.Models = store
	wcfg.Planner = planner.New(cat, opts)
	srv, err := wire.NewServer(wcfg)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	if obs != nil {
		obs.srv, obs.store, obs.mem = srv, store, mem
	}
	return srv, store.Close, nil
}

// observed is what the metrics read from a proxy: the relay's counters,
// and the server and store that newProxy fills in (scrapes come after).
type observed struct {
	counters *wire.Counters
	met      *metrics.Metrics
	srv      *wire.Server
	store    *models.Store
	mem      *membudget.Budget
}

func newObserved() *observed {
	o := &observed{counters: new(wire.Counters)}
	o.met = metrics.New(metrics.Sources{Relay: o.counters,
		Sessions: func() int { return o.srv.Sessions() },
		Cache:    func() models.CacheStats { return o.store.CacheStats() },
		Refresh:  func() models.RefreshStatus { return o.store.RefreshStatus() },
		Memory:   func() membudget.Stats { return o.mem.Stats() }})
	return o
}

// serveHTTP starts the status page and metrics on --http, and returns
// what stops them.
func (f *serveFlags) serveHTTP(ctx context.Context, upstream string, tlsCfg *tls.Config, srv *wire.Server, met *metrics.Metrics,
	log *slog.Logger, stdout io.Writer) (func(), error) {
	pcfg, err := pgxpool.ParseConfig(upstream)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	// Its own small pool: a page render never takes a connection that
	// sessions or the model store need.
	pcfg.MaxConns = 2
	pcfg.ConnConfig.RuntimeParams["application_name"] = "flywheel status"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	met.Registry.MustRegister(status.NewStreamCollector(pool, log))
	st, err := status.New(status.Config{Auth: f.httpAuth, TLS: tlsCfg, DB: pool,
		Sessions: srv.Sessions, BackendPIDs: srv.BackendPIDs, ComputingPIDs: srv.ComputingPIDs, Metrics: met.Handler(), Logger: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	hln, err := net.Listen("tcp", f.http)
	if err != nil && !f.httpSet {
		// The default port may be another Flywheel's on this machine:
		// the page is an aid, and the proxy serves without it.
		log.Warn("status page off: its default address is taken (set --http)", "http", f.http, "err", err)
		pool.Close()
		return func() {}, nil
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("--http: %w", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	log.Info("status page ready", "url", scheme+"://"+hln.Addr().String()+"/")
	fmt.Fprintf(stdout, "status page on %s://%s/ (metrics on /metrics)\n", scheme, hln.Addr())
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := st.Serve(sctx, hln); err != nil {
			log.Error("status page stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
		pool.Close()
	}, nil
}

// plannerOptions are the planner's limits as the flags set them.
func (f *serveFlags) plannerOptions(log *slog.Logger) planner.Options {
	return planner.Options{MaxInputRows: f.maxInputRows, MaxInputBytes: f.maxInputBytes, Logger: log}
}

// memoryBudget makes the budget --memory-limit asks for (see
// internal/membudget: the default, GOMEMLIMIT, the runtime's soft limit).
func (f *serveFlags) memoryBudget(log *slog.Logger) (*membudget.Budget, error) {
	configured, err := membudget.ParseSize(f.memoryLimit)
	if err != nil {
		return nil, fmt.Errorf("--memory-limit: %w", err)
	}
	limit, source := membudget.Resolve(configured)
	log.Info("memory budget for model work", "limit", membudget.Bytes(limit), "from", source)
	return membudget.New(limit, 0), nil
}

// installStubs creates the flywheel schema's stub functions in the
// upstream, so \df and BI tools see the model functions.
func installStubs(ctx context.Context, url string, cat *catalog.Catalog) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range catalog.StubDDL(cat) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
}
