package config

import (
	"errors"
	"time"
)

// Retention bounds the event log: events older than Events are written to
// gzip'd NDJSON archive files in Archive and then removed from the log.
// Profiles keep what they learned from them, `roster rebuild` reads the
// archives and then the log, and nothing a destination has not delivered
// is removed. Without Events nothing is removed.
type Retention struct {
	// Events is how long events stay in the log, by their receivedAt
	// (0: for ever).
	Events Duration `yaml:"events"`
	// Archive is the directory of the archive files; by default "archive"
	// in the data directory, or "roster-archive" with PostgreSQL.
	Archive string `yaml:"archive"`
	// Every is how often the log is looked at (default an hour).
	Every Duration `yaml:"every"`
}

// DefaultRetentionEvery is how often retention runs when not configured.
const DefaultRetentionEvery = time.Hour

func (r Retention) validate(dedupWindow time.Duration) error {
	switch {
	case r.Events < 0:
		return errors.New("retention.events: must not be negative")
	case r.Every < 0:
		return errors.New("retention.every: must not be negative")
	case r.Events > 0 && time.Duration(r.Events) < max(dedupWindow, 24*time.Hour):
		// Events still inside the dedup window are what a client's retry
		// is compared against; the log is what dedup's answer rests on.
		return errors.New("retention.events: must be at least a day and at least the dedup window")
	}
	return nil
}
