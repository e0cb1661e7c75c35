package destination

import "time"

// Observer counts what delivery does, by destination. Its labels are the
// workspace, the destination's name and its type, never a setting.
type Observer interface {
	// Settled counts the events of a round: delivered, scheduled for a
	// retry, given up on (dead letters).
	Settled(t Target, delivered, retried, dead int)
	// Sent times one request to the provider; status is 0 when no answer
	// came.
	Sent(t Target, status int, took time.Duration)
}
