package pipeline

import (
	"context"
	"log/slog"
	"time"

	"roster/internal/store"
)

// Loop calls step until ctx ends: the shape of every job that follows the
// log (the profile processor, each destination's delivery). step returns
// how long to wait before its next call. A failing step is logged and
// called again after a backoff that doubles from idle up to 5 s: jobs keep
// their cursor with their state, so a retry skips nothing. With a lease,
// step runs only while this node holds it, and the lease is released when
// ctx ends, so that another node takes over at once.
func Loop(ctx context.Context, lease *store.Keeper, logger *slog.Logger, idle time.Duration, step func(context.Context) (time.Duration, error)) {
	if lease != nil {
		defer lease.Release(ctx)
	}
	backoff := idle
	for ctx.Err() == nil {
		if lease != nil {
			if ok, err := lease.Hold(ctx); !ok {
				if err != nil && ctx.Err() == nil {
					logger.Error("lease failed", "err", err)
				}
				Sleep(ctx, lease.Wait())
				continue
			}
		}
		wait, err := step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Error("failed; retrying", "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, 5*time.Second)
		} else {
			backoff = idle
		}
		Sleep(ctx, wait)
	}
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
