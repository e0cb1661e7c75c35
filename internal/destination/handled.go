package destination

import (
	"context"
	"math"
)

// Handled returns the log position every destination has handled: events
// up to it are delivered, or kept in the outbox as a retry or a dead
// letter with their body, so the log may let them go (retention).
// math.MaxInt64 when there is no destination.
func (m *Manager) Handled(ctx context.Context) (int64, error) {
	low := int64(math.MaxInt64)
	for _, d := range m.deliverers {
		c, err := m.outbox.DeliveryCursor(ctx, d.target.ID())
		if err != nil {
			return 0, err
		}
		low = min(low, c)
	}
	return low, nil
}
