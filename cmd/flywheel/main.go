// Command flywheel is a PostgreSQL-compatible proxy that runs model
// functions (recommend, kmeans, holt_forecast, nmf, similar_items,
// sgd_regress) inline in SQL. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `flywheel: model functions inline in SQL, behind a PostgreSQL-compatible proxy.

Usage:
  flywheel serve [flags]         run the proxy (with no --upstream: a managed PostgreSQL)
  flywheel demo load [flags]     load the demo warehouse into a database
  flywheel demo loop [flags]     simulated customers, served and retrained weekly: hit rate per version
  flywheel demo produce [flags]  publish simulated behaviour events to Kafka (serve --demo's broker)
  flywheel bench proxy [flags]   pgbench through the proxy vs. directly (and pgbouncer)
  flywheel bench models [flags]  stored models: training, recommend latency, LATERAL, load after restart
  flywheel help [command]        this text, or a command's flags

Every flag can also be set in the environment as FLYWHEEL_<FLAG>, e.g.
FLYWHEEL_LISTEN=0.0.0.0:6432 or FLYWHEEL_UPSTREAM=postgres://...
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errHelp) {
			return
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "flywheel:", err)
		}
		os.Exit(1)
	}
}

// errUsage: the command line was wrong and usage was printed; errHelp:
// help was asked for and printed.
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "demo":
		if len(args) >= 2 {
			switch args[1] {
			case "load":
				return demoLoad(ctx, args[2:], stdout, stderr)
			case "loop":
				return demoLoop(ctx, args[2:], stdout, stderr)
			case "produce":
				return demoProduce(ctx, args[2:], stdout, stderr)
			}
		}
		fmt.Fprint(stderr, "usage: flywheel demo load [--scale N] [--upstream URL] [--replace]\n       flywheel demo loop [--rounds N] [--customers N] [--seed N] [--plot FILE]\n       flywheel demo produce [--rate N] [--count N] [--brokers host:port]\n")
		return errUsage
	case "bench":
		if len(args) >= 2 {
			switch args[1] {
			case "proxy":
				return benchProxy(ctx, args[2:], stdout, stderr)
			case "models":
				return benchModels(ctx, args[2:], stdout, stderr)
			}
		}
		fmt.Fprint(stderr, "usage: flywheel bench proxy|models [flags]\n")
		return errUsage
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "flywheel: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
