package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"roster/internal/importer"
)

const importUsage = `Usage: roster import [flags] FILE... (- for stdin)

Sends archived events to a running Roster through /v1/import, which validates,
deduplicates and quarantines them as live traffic, and keeps each event's
recorded receivedAt and timestamp. Reads NDJSON, gzip'd or not: Segment's S3
and GCS archives, RudderStack backups, roster export files and retention
archives, and {"batch":[...]} files. See docs/import-export.md.

`

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := importer.Config{Problems: stderr}
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage); fs.PrintDefaults() }
	fs.StringVar(&cfg.URL, "url", env("ROSTER_URL", "http://127.0.0.1:8080"), "base URL of the server (ROSTER_URL)")
	fs.StringVar(&cfg.WriteKey, "write-key", env("ROSTER_WRITE_KEY", ""), "write key of the source the events are imported into (ROSTER_WRITE_KEY)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "requests in flight")
	fs.IntVar(&cfg.BatchSize, "batch", 500, "messages per request")
	fs.StringVar(&cfg.StatePath, "state", "", "file the progress is saved to for --resume (default .roster-import-<hash of the inputs>.json)")
	fs.BoolVar(&cfg.Resume, "resume", false, "continue an interrupted import of the same inputs where it stopped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Inputs = fs.Args()
	if cfg.WriteKey == "" {
		return errors.New("import: a write key is required: --write-key or ROSTER_WRITE_KEY")
	}
	if cfg.StatePath == "" {
		cfg.StatePath = importer.DefaultStatePath(cfg.Inputs)
	}
	im, err := importer.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	progress := newTransferProgress(stderr, isTerminal(stderr), start)
	done := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				s := im.Stats()
				progress.update(now, s.Sent, s.BytesRead, s.BytesTotal, false)
			case <-done:
				return
			}
		}
	}()
	st, err := im.Run(ctx)
	close(done)
	<-ticked
	progress.update(time.Now(), st.Sent, st.BytesRead, st.BytesTotal, true)
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "sent %d, accepted %d, deduplicated %d, rejected %d, unparsable %d in %s (%.0f events/s)\n",
		st.Sent, st.Accepted, st.Deduplicated, st.Rejected, st.Unparsable, elapsed.Round(time.Millisecond), float64(st.Sent)/elapsed.Seconds())
	if st.Skipped > 0 {
		fmt.Fprintf(stdout, "resumed: %d lines already imported were skipped\n", st.Skipped)
	}
	if err != nil {
		fmt.Fprintf(stderr, "import stopped; run the same command with --resume to continue (state in %s)\n", cfg.StatePath)
		return err
	}
	os.Remove(cfg.StatePath) // done: nothing to resume
	return nil
}
