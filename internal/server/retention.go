package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"roster/internal/config"
	"roster/internal/destination"
	"roster/internal/pipeline"
	"roster/internal/retention"
	"roster/internal/store"
)

// archiveDir is where retention's archive files are: as configured, else
// in the data directory, or ./roster-archive with PostgreSQL.
func archiveDir(opts Options, cfg *config.Config) string {
	switch {
	case cfg.Retention.Archive != "":
		return cfg.Retention.Archive
	case opts.DatabaseURL != "":
		return "roster-archive"
	}
	return filepath.Join(opts.DataDir, "archive")
}

// retainer returns the job that archives and trims the log, or nil when
// no retention period is configured (then nothing is removed).
func retainer(st store.Store, delivery *destination.Manager, opts Options, cfg *config.Config) *retention.Retainer {
	if cfg.Retention.Events <= 0 {
		return nil
	}
	return &retention.Retainer{
		Log:  st,
		Dir:  archiveDir(opts, cfg),
		Keep: time.Duration(cfg.Retention.Events),
		Handled: func(ctx context.Context) (int64, error) {
			profiles, err := st.Cursor(ctx, store.ProfileCursor)
			if err != nil {
				return 0, err
			}
			destinations, err := delivery.Handled(ctx)
			if err != nil {
				return 0, err
			}
			return min(profiles, destinations), nil
		},
		Logger: opts.Logger,
	}
}

// runRetention runs the retainer every period, on one node of several
// (the lease), until ctx ends.
func runRetention(ctx context.Context, r *retention.Retainer, lease *store.Keeper, every time.Duration, logger *slog.Logger) {
	pipeline.Loop(ctx, lease, logger.With("job", "retention"), every, func(ctx context.Context) (time.Duration, error) {
		_, err := r.Step(ctx)
		return every, err
	})
}
