package pipeline

import (
	"context"
	"fmt"
	"time"

	"roster/internal/store"
)

// PositionSource is what ProfilePosition reads.
type PositionSource interface {
	Head(ctx context.Context) (int64, error)
	Cursor(ctx context.Context, name string) (int64, error)
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
}

// Position says how far the profile processor has applied the log.
type Position struct {
	Head   int64
	Cursor int64
	// Behind is the events in the log not applied yet.
	Behind int64
	// Lag is the age of the oldest event not applied yet (by its
	// receivedAt), 0 when none is behind.
	Lag time.Duration
}

// ProfilePosition reads the profile processor's position at now. The API's
// processing route and the metrics both show it, so they agree.
func ProfilePosition(ctx context.Context, src PositionSource, now time.Time) (Position, error) {
	// The cursor first: read after the head, it could pass it.
	cursor, err := src.Cursor(ctx, store.ProfileCursor)
	if err != nil {
		return Position{}, fmt.Errorf("read the profile cursor: %w", err)
	}
	head, err := src.Head(ctx)
	if err != nil {
		return Position{}, fmt.Errorf("read the log head: %w", err)
	}
	p := Position{Head: head, Cursor: cursor, Behind: max(0, head-cursor)}
	if p.Behind == 0 {
		return p, nil
	}
	next, err := src.Read(ctx, cursor, 1)
	if err != nil {
		return Position{}, fmt.Errorf("read the log: %w", err)
	}
	if len(next) == 1 {
		p.Lag = max(0, now.Sub(next[0].ReceivedAt))
	}
	return p, nil
}
