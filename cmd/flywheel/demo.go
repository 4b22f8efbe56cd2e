package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/flywheeldb/flywheel/internal/demo"
	"github.com/flywheeldb/flywheel/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

// demoLoad is `flywheel demo load`: the demo warehouse into a database
// (the managed one in --data-dir when no --upstream is given).
func demoLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flywheel demo load", flag.ContinueOnError)
	scale := fs.Int("scale", 1, "size: 1 = 1,000 customers, 200 products, ~50,000 sales; linear above")
	replace := fs.Bool("replace", false, "drop tables in the way (a demo at another scale, or your own tables with the same names)")
	upstream := fs.String("upstream", "", "database to load into, as a postgres:// URL; empty uses the managed PostgreSQL in --data-dir")
	dataDir := fs.String("data-dir", "./flywheel-data", "managed PostgreSQL's data directory")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: flywheel demo load [flags]\n\nGenerates the demo star schema (deterministic, streamed with COPY) and the seed\nexamples' tables (schema seed), in one transaction.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := demo.CheckScale(*scale); err != nil {
		return err
	}
	url := *upstream
	if url == "" {
		srv, err := pgserver.Start(ctx, pgserver.Config{DataDir: *dataDir, Port: 5432})
		if err != nil {
			return fmt.Errorf("managed PostgreSQL: %w", err)
		}
		defer srv.Stop()
		url = srv.URL("postgres")
	}
	return loadDemo(ctx, url, *scale, *replace, false, stdout)
}

// loadDemo loads the demo warehouse unless it is already there (at this
// scale, or at any scale when anyScale), printing progress while it runs.
func loadDemo(ctx context.Context, url string, scale int, replace, anyScale bool, out io.Writer) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if loaded, err := demo.Loaded(ctx, conn); err != nil {
		return err
	} else if loaded && !replace {
		meta, _, err := demo.Status(ctx, conn)
		if err == nil && (anyScale || meta.Scale == scale) {
			fmt.Fprintf(out, "demo warehouse (scale %d) already loaded\n", meta.Scale)
			return nil
		}
	}
	stats, err := demo.Load(ctx, conn, demo.Options{Scale: scale, Replace: replace,
		Progress: func(p demo.Progress) { fmt.Fprint(out, "\r"+p.String()+"   ") }})
	fmt.Fprintln(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, stats.String())
	return nil
}
