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

	"roster/internal/server"
)

const usage = `Roster keeps Segment group calls and builds account profiles from them.

Usage:
  roster serve [flags]   run the server (embedded database in ./roster-data by default)
  roster rebuild [flags] rebuild all profiles from the event log (stop the server first)
  roster version         print the version

Run "roster serve -h" for the flags.
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
	n, err := server.Rebuild(ctx, opts)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "rebuilt profiles from %d events in %s (%.0f events/s)\n", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := server.Options{Out: stdout}
	if err := storeFlags("serve", args, stderr, &opts, func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Addr, "addr", env("ROSTER_ADDR", ":8080"), "listen address (ROSTER_ADDR)")
	}); err != nil {
		return err
	}
	opts.WriteKey = os.Getenv("ROSTER_WRITE_KEY")
	opts.AccessToken = os.Getenv("ROSTER_ACCESS_TOKEN")
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))

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
	opts.Logger.Info("roster listening", "addr", ln.Addr().String(), "data", opts.DataDir)
	return srv.Serve(ctx, ln)
}
