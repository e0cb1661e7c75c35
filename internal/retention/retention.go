// Package retention bounds the event log: events older than the retention
// period are written to archive files (internal/archive) and then trimmed
// from the log, once every processor is past them.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"roster/internal/archive"
	"roster/internal/store"
)

// Log is what retention reads and trims.
type Log interface {
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
	store.Trimmer
}

// Retainer archives and trims the start of the log.
type Retainer struct {
	Log Log
	// Dir is where archive files go.
	Dir string
	// Keep is how long events stay in the log, by receivedAt.
	Keep time.Duration
	// Handled returns the log position every processor (profiles, each
	// destination) has handled; nothing after it is removed.
	Handled func(ctx context.Context) (int64, error)
	Now     func() time.Time
	Logger  *slog.Logger
	// FileEvents is the most events one archive file holds (and the
	// most held in memory at once).
	FileEvents int
}

const defaultFileEvents = 20000

// Step archives and trims what is due, and says how many events it
// removed. It trims a prefix of the log: it stops at the first event that
// is not yet old enough or not yet handled, so that the log stays one
// range of positions (an imported event with an old receivedAt after a
// recent one waits for that one).
func (r *Retainer) Step(ctx context.Context) (int, error) {
	if r.Keep <= 0 {
		return 0, nil // without a retention period nothing is removed
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	per := r.FileEvents
	if per <= 0 {
		per = defaultFileEvents
	}
	cutoff := now().Add(-r.Keep)
	handled, err := r.Handled(ctx)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	total := 0
	for {
		evs, err := r.Log.Read(ctx, 0, per)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		n := 0
		for n < len(evs) && evs[n].Seq <= handled && evs[n].ReceivedAt.Before(cutoff) {
			n++
		}
		if n == 0 {
			return total, nil
		}
		// The archive is complete and synced before anything is trimmed;
		// a crash in between leaves events in both, which a rebuild reads
		// once (archive.Log) and the next step archives again.
		f, err := archive.Write(r.Dir, evs[:n])
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		trimmed, err := r.Log.TrimLog(ctx, f.Last)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		for _, e := range evs[:n] {
			if e.Seq <= trimmed {
				total++
			}
		}
		if r.Logger != nil {
			r.Logger.Info("retention archived and trimmed the log", "archived", n, "trimmed_through", trimmed, "file", f.Path)
		}
		// A store may trim less than asked (profiles not yet written
		// out): the rest waits for the next step, and is archived again
		// then; readers of the archive take an event once.
		if trimmed < f.Last || n < len(evs) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
