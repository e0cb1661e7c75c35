// Command roster is the Roster server and its tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"roster/internal/loadgen"
	"roster/internal/server"
)

const usage = `Roster keeps Segment group calls and builds account profiles from them.

Usage:
  roster serve [flags]   run the server (embedded database in ./roster-data by default)
  roster rebuild [flags] rebuild all profiles from the event log (stop the server first)
  roster convert --from OLDDIR --to NEWDIR
                         copy a data directory of an earlier Roster (SQLite, roster.db)
                         into the current format (stop the server first)
  roster import [flags] FILE...
                         send archived events (Segment, RudderStack, roster export)
                         to a running Roster, keeping their history
  roster export [flags]  stream a workspace's events or account profiles as NDJSON
  roster bench [flags]   drive a running Roster with realistic traffic and measure it
  roster destinations    delivery counts, dead letters and re-drive, from a running Roster
  roster version         print the version

Run "roster <command> -h" for the flags.
`

var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "roster:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "rebuild":
		return rebuild(ctx, args[1:], stdout, stderr)
	case "convert":
		return convert(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "import":
		return importCmd(ctx, args[1:], stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case "destinations":
		return destinations(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "roster", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

// storeFlags parses the flags that say where the data is, shared by the
// commands that open the store.
func storeFlags(name string, args []string, stderr io.Writer, opts *server.Options, more func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.DataDir, "data", env("ROSTER_DATA", "roster-data"), "directory of the embedded database (ROSTER_DATA)")
	fs.StringVar(&opts.DatabaseURL, "database-url", env("ROSTER_DATABASE_URL", ""), "postgres:// URL to use PostgreSQL instead of the embedded database (ROSTER_DATABASE_URL)")
	fs.StringVar(&opts.ConfigPath, "config", env("ROSTER_CONFIG", ""), "YAML config file: workspaces, sources, tokens, destinations (ROSTER_CONFIG)")
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return nil
}

func rebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := server.Options{Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if err := storeFlags("rebuild", args, stderr, &opts, nil); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	n, err := server.Rebuild(ctx, opts, rebuildProgress(stderr, start))
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "rebuilt profiles from %d events in %s (%.0f events/s)\n", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := server.Options{Out: stdout}
	var debugAddr, metricsAddr, logFormat string
	if err := storeFlags("serve", args, stderr, &opts, func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Addr, "addr", env("ROSTER_ADDR", ":8080"), "listen address (ROSTER_ADDR)")
		fs.StringVar(&debugAddr, "debug-addr", env("ROSTER_DEBUG_ADDR", ""), "if set, serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (ROSTER_DEBUG_ADDR)")
		fs.StringVar(&metricsAddr, "metrics-addr", env("ROSTER_METRICS_ADDR", ""), "if set, serve GET /metrics on this address instead of the main one, e.g. 127.0.0.1:9090 (ROSTER_METRICS_ADDR)")
		fs.StringVar(&logFormat, "log-format", env("ROSTER_LOG_FORMAT", "text"), "log lines as text or json (ROSTER_LOG_FORMAT)")
	}); err != nil {
		return err
	}
	logger, err := newLogger(stderr, logFormat)
	if err != nil {
		return err
	}
	tuneRuntime(os.LookupEnv)
	// Under overload, acknowledging requests comes before updating
	// profiles; what that gained is measured at pipeline.backgroundNice
	// and backgroundSlice.
	opts.YieldToRequests = true
	opts.WriteKey = os.Getenv("ROSTER_WRITE_KEY")
	opts.AccessToken = os.Getenv("ROSTER_ACCESS_TOKEN")
	opts.Logger = logger
	opts.SeparateMetrics = metricsAddr != ""

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen: %w", err)
	}
	if debugAddr != "" {
		dln, err := net.Listen("tcp", debugAddr)
		if err != nil {
			srv.Close()
			ln.Close()
			return fmt.Errorf("listen for the profiler: %w", err)
		}
		defer serveProfiler(dln, opts.Logger)()
	}
	if metricsAddr != "" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			srv.Close()
			ln.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		defer serveMetrics(mln, srv.MetricsHandler(), opts.Logger)()
	}
	opts.Logger.Info("roster listening", "addr", ln.Addr().String(), "data", opts.DataDir)
	return srv.Serve(ctx, ln)
}

// bench drives --url with generated traffic and reports events/s and
// latency; progress goes to stderr, the report to stdout. It fails when
// nothing was acknowledged or --verify finds an acknowledged event missing.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := loadgen.Config{Progress: stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: roster bench [flags]\n\n"+
			"Sends group/identify/track calls to a running Roster (or any Segment-compatible endpoint)\n"+
			"and reports acknowledged events/s and latency. Traffic goes only to --url.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base URL of the endpoint")
	fs.StringVar(&cfg.WriteKey, "write-key", env("ROSTER_WRITE_KEY", ""), "write key (ROSTER_WRITE_KEY)")
	fs.StringVar(&cfg.Token, "token", env("ROSTER_ACCESS_TOKEN", ""), "access token for --verify (ROSTER_ACCESS_TOKEN)")
	fs.StringVar(&cfg.Workspace, "workspace", loadgen.DefaultWorkspace, "workspace --verify reads")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (with --events and no --duration: until the events are sent)")
	fs.Int64Var(&cfg.Events, "events", 0, "send this many events, then stop")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "first send the same traffic this long without counting it, so that the run starts on open connections")
	fs.IntVar(&cfg.Concurrency, "concurrency", loadgen.DefaultConcurrency, "requests in flight at most")
	fs.IntVar(&cfg.Batch, "batch", loadgen.DefaultBatch, "events per request: 1 sends single calls to /v1/{group,identify,track}, more sends /v1/batch")
	fs.Float64Var(&cfg.Rate, "rate", 0, "events/s, 0 = as fast as answered; with a rate, requests are due at fixed times and latency counts from then (open loop)")
	mix := fs.String("mix", loadgen.DefaultMix, "relative weights of the call types")
	fs.IntVar(&cfg.Groups, "groups", loadgen.DefaultGroups, "distinct groupIds")
	fs.IntVar(&cfg.Users, "users", loadgen.DefaultUsers, "distinct userIds")
	fs.BoolVar(&cfg.Gzip, "gzip", false, "gzip request bodies")
	fs.BoolVar(&cfg.Verify, "verify", false, "afterwards, check through the read API that every acknowledged messageId is stored exactly once")
	floor := fs.Bool("floor", false, "first run the same traffic against a do-nothing handler in this process, and report the ratio")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the traffic: the same seed sends the same messages (with new messageIds)")
	fs.DurationVar(&cfg.Timeout, "timeout", loadgen.DefaultTimeout, "timeout of each request")
	fs.DurationVar(&cfg.VerifyTimeout, "verify-timeout", loadgen.DefaultVerifyTimeout, "time --verify may take")
	fs.DurationVar(&cfg.Window, "window", 0, "also report latency for each window of this length (a soak: --duration 10m --window 1m)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if cfg.Events > 0 && !durationSet {
		cfg.Duration = 0 // --events alone: run until they are sent
	}
	var err error
	if cfg.Mix, err = loadgen.ParseMix(*mix); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	switch {
	case cfg.WriteKey == "":
		return errors.New("bench: a write key is required: --write-key or ROSTER_WRITE_KEY")
	case cfg.Verify && cfg.Token == "":
		return errors.New("bench: --verify needs an access token: --token or ROSTER_ACCESS_TOKEN")
	}

	// The first Ctrl-C stops sending and still prints what was measured.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Bench(ctx, cfg, *floor)
	if rep == nil {
		return fmt.Errorf("bench: %w", err)
	}
	var werr error
	if *asJSON {
		werr = rep.WriteJSON(stdout)
	} else {
		werr = rep.WriteText(stdout)
	}
	if err == nil {
		err = rep.Err()
	}
	return errors.Join(err, werr)
}
