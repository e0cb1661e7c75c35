package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"roster/internal/config"
	"roster/internal/store"
	"roster/internal/store/dirlock"
	"roster/internal/store/pebble"
	"roster/internal/store/sqliteimport"
)

// convertBatch is how many events one append carries: large enough that a
// sync is shared by many, small enough that memory holds little of the log.
const convertBatch = 5000

// convertBatchSpan bounds the time between the first and last event of a
// batch (see batches).
const convertBatchSpan = time.Hour

// convertQuarantineBatch is how many quarantined messages one append
// carries; they hold raw requests of up to a batch each.
const convertQuarantineBatch = 500

func convert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: roster convert --from OLDDIR --to NEWDIR [--config FILE]\n\n"+
			"Copies a data directory in the SQLite format of an earlier Roster (roster.db) into a new one:\n"+
			"sources, access tokens, the event log in order and the quarantine. OLDDIR is only read;\n"+
			"stop the Roster that uses it first. Profiles are rebuilt when roster serve starts on NEWDIR.\n\n")
		fs.PrintDefaults()
	}
	c := converter{progress: stderr, progressEvery: 2 * time.Second}
	fs.StringVar(&c.from, "from", "", "data directory in the SQLite format (read only)")
	fs.StringVar(&c.to, "to", "", "new data directory; it must not exist or be empty")
	configPath := fs.String("config", env("ROSTER_CONFIG", ""), "YAML config roster serve will use, for its dedupWindow (ROSTER_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("convert: unexpected argument %q", fs.Arg(0))
	case c.from == "" || c.to == "":
		fs.Usage()
		return errors.New("convert: --from and --to are required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	c.window = store.Options{DedupWindow: time.Duration(cfg.DedupWindow)}.WithDefaults().DedupWindow
	c.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := c.run(ctx)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	fmt.Fprintf(stdout, "converted %d events, %d quarantined messages, %d sources and %d access tokens from %s to %s in %s (%.0f events/s)\n",
		sum.events, sum.quarantined, sum.sources, sum.tokens, c.from, c.to, sum.elapsed.Round(time.Millisecond), sum.rate())
	fmt.Fprintf(stdout, "Profiles are rebuilt from the log when `roster serve --data %s` starts (the processor starts at the beginning of the log).\n", c.to)
	fmt.Fprintf(stdout, "Destinations start at the end of the log: deliveries the old server had not made, its retries and dead letters are not carried over.\n")
	fmt.Fprintf(stdout, "%s is untouched; remove it once %s serves as expected.\n", c.from, c.to)
	return nil
}

// converter copies one old directory into a new Pebble store.
type converter struct {
	from, to      string
	window        time.Duration // the dedup window serve will use
	progress      io.Writer
	progressEvery time.Duration
	logger        *slog.Logger
	// clock is the new store's clock: it follows the converted events'
	// receivedAt, so that their dedup keys are as old as they were in the
	// old store, and the window kept for serve is that of the last events.
	clock atomic.Int64 // Unix nanoseconds
}

type convertSummary struct {
	events, quarantined, sources, tokens int64
	elapsed                              time.Duration
}

func (s convertSummary) rate() float64 { return float64(s.events) / max(s.elapsed.Seconds(), 1e-9) }

func (c *converter) now() time.Time { return time.Unix(0, c.clock.Load()).UTC() }

func (c *converter) run(ctx context.Context) (convertSummary, error) {
	start := time.Now()
	var sum convertSummary
	if err := checkEmptyTarget(c.to); err != nil {
		return sum, err
	}
	// A Roster still serving the old directory would add events behind
	// the conversion. Its lock file exists if a Roster ever ran there;
	// none is created, so as to leave the directory as it is.
	if _, err := os.Stat(filepath.Join(c.from, "roster.lock")); err == nil {
		lock, err := dirlock.Lock(c.from)
		if err != nil {
			return sum, fmt.Errorf("%s: stop the Roster that uses it first: %w", c.from, err)
		}
		defer lock.Close()
	}
	old, err := sqliteimport.Open(ctx, c.from)
	if err != nil {
		return sum, err
	}
	defer old.Close()
	total, totalQuarantined, err := old.Counts(ctx)
	if err != nil {
		return sum, err
	}
	c.clock.Store(time.Now().UnixNano())
	st, err := pebble.Open(ctx, c.to, store.Options{DedupWindow: c.window, Now: c.now}, c.logger)
	if err != nil {
		return sum, err
	}
	fail := func(err error) (convertSummary, error) {
		st.Close()
		return sum, fmt.Errorf("%w; %s is incomplete: delete it before converting again", err, c.to)
	}
	if sum.sources, sum.tokens, err = c.copyCredentials(ctx, old, st); err != nil {
		return fail(err)
	}
	if sum.events, err = c.copyEvents(ctx, old, st, total, start); err != nil {
		return fail(err)
	}
	if sum.quarantined, err = c.copyQuarantine(ctx, old, st); err != nil {
		return fail(err)
	}
	head, err := st.Head(ctx)
	if err != nil {
		return fail(err)
	}
	if head != total || sum.events != total || sum.quarantined != totalQuarantined {
		return fail(fmt.Errorf("%s holds %d events and %d quarantined messages, %s %d and %d: the conversion lost some",
			c.from, total, totalQuarantined, c.to, head, sum.quarantined))
	}
	if err := st.Close(); err != nil {
		return sum, fmt.Errorf("close %s: %w", c.to, err)
	}
	sum.elapsed = time.Since(start)
	return sum, nil
}

// checkEmptyTarget refuses a --to that holds anything: converting into a
// data directory in use would mix two logs.
func checkEmptyTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--to: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("--to %s is not empty: convert into a new directory", dir)
	}
	return nil
}

// copyCredentials copies the sources and access tokens (hashes as they
// are), each created at its old time, so that they list in the same order.
func (c *converter) copyCredentials(ctx context.Context, old *sqliteimport.Reader, st *pebble.Store) (sources, tokens int64, err error) {
	srcs, err := old.Sources(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range srcs {
		c.clock.Store(s.CreatedAt.UnixNano())
		if err := st.PutSource(ctx, s.Source); err != nil {
			return 0, 0, err
		}
	}
	toks, err := old.AccessTokens(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range toks {
		c.clock.Store(t.CreatedAt.UnixNano())
		if err := st.PutAccessToken(ctx, t.AccessToken); err != nil {
			return 0, 0, err
		}
	}
	c.clock.Store(0)
	return int64(len(srcs)), int64(len(toks)), nil
}

// copyEvents appends the log page by page, in seq order, and checks after
// each append that every event of it was taken.
func (c *converter) copyEvents(ctx context.Context, old *sqliteimport.Reader, st *pebble.Store, total int64, start time.Time) (int64, error) {
	var after, copied int64
	lastReport := start
	for {
		page, err := old.Events(ctx, after, convertBatch)
		if err != nil {
			return copied, err
		}
		if len(page) == 0 {
			return copied, nil
		}
		for _, batch := range batches(page, min(convertBatchSpan, c.window/8)) {
			if err := c.appendEvents(ctx, st, batch, copied); err != nil {
				return copied, err
			}
			copied += int64(len(batch))
		}
		after = page[len(page)-1].Seq
		if now := time.Now(); now.Sub(lastReport) >= c.progressEvery {
			lastReport = now
			fmt.Fprintf(c.progress, "convert: %d of %d events (%.1f%%), %.0f events/s\n",
				copied, total, 100*float64(copied)/float64(max(total, 1)), float64(copied)/now.Sub(start).Seconds())
		}
	}
}

// appendEvents appends one batch at the time its last event was received
// and fails if the store took any of them for a duplicate.
func (c *converter) appendEvents(ctx context.Context, st *pebble.Store, batch []store.Event, before int64) error {
	latest := c.clock.Load()
	for i := range batch {
		latest = max(latest, batch[i].ReceivedAt.UnixNano())
	}
	c.clock.Store(latest)
	// Append sets each event's Seq to its new position: the old ones are
	// kept for the error.
	firstSeq, lastSeq := batch[0].Seq, batch[len(batch)-1].Seq
	if err := st.Append(ctx, batch, nil); err != nil {
		return err
	}
	head, err := st.Head(ctx)
	if err != nil {
		return err
	}
	if taken := head - before; taken != int64(len(batch)) {
		return fmt.Errorf("the new log took %d of the %d events of old seqs %d-%d for repeats of earlier messageIds "+
			"(they came again after the old dedup window); convert with a config whose dedupWindow is shorter than %s",
			int64(len(batch))-taken, len(batch), firstSeq, lastSeq, c.window)
	}
	return nil
}

// batches cuts a page of events where a batch would hold a messageId twice
// (Append would take the second for a duplicate, however far apart they
// are) or span more than span: a batch's dedup keys all carry its last
// event's time, and a repeat that the old store took as new for coming
// after its window must find the first key expired here too.
func batches(page []store.Event, span time.Duration) [][]store.Event {
	var out [][]store.Event
	first := 0
	keys := make(map[store.DedupKey]bool, min(len(page), convertBatch))
	for i := range page {
		k := store.KeyOf(&page[i])
		if i > first && (keys[k] || i-first >= convertBatch || page[i].ReceivedAt.Sub(page[first].ReceivedAt) > span) {
			out = append(out, page[first:i])
			first = i
			clear(keys)
		}
		keys[k] = true
	}
	return append(out, page[first:])
}

// copyQuarantine appends the quarantine in id order.
func (c *converter) copyQuarantine(ctx context.Context, old *sqliteimport.Reader, st *pebble.Store) (int64, error) {
	var after, copied int64
	for {
		page, err := old.Quarantined(ctx, after, convertQuarantineBatch)
		if err != nil {
			return copied, err
		}
		if len(page) == 0 {
			return copied, nil
		}
		// Quarantined messages have no dedup keys, but an append prunes
		// the expired ones by the clock, which must not go back.
		latest := c.clock.Load()
		for i := range page {
			latest = max(latest, page[i].ReceivedAt.UnixNano())
		}
		c.clock.Store(latest)
		if err := st.Append(ctx, nil, page); err != nil {
			return copied, err
		}
		copied += int64(len(page))
		after = page[len(page)-1].ID
	}
}
