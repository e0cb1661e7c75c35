package store

import (
	"context"
	"time"
)

// Delivery is an event a destination has not delivered yet (a scheduled
// retry) or has given up on (a dead letter).
type Delivery struct {
	// Destination is "<workspace>/<name>".
	Destination string
	Seq         int64
	// Body is the normalized event, kept so that a retry or a re-driven
	// dead letter needs nothing else.
	Body     []byte
	Attempts int
	// NextAt is when a retry is due.
	NextAt time.Time
	// Status is the last HTTP status (0 for a network error or a
	// conversion error), Error what went wrong and Response the start of
	// the provider's answer.
	Status   int
	Error    string
	Response []byte
	FailedAt time.Time
}

// DeliveryOutcome is what one round of delivery did.
type DeliveryOutcome struct {
	// Delivered are the log positions delivered; a scheduled retry of one
	// of them is removed.
	Delivered []int64
	// Retry are scheduled (or rescheduled) retries, keyed by Seq.
	Retry []Delivery
	// Dead are dead letters; a scheduled retry of one of them is removed.
	Dead []Delivery
	// Skipped counts events the destination does not take (filtered by
	// the integrations object or the call types); they only move the
	// cursor.
	Skipped int
}

// DeliveryStats counts a destination's deliveries.
type DeliveryStats struct {
	Cursor    int64
	Retrying  int
	Delivered int64
	Dead      int
}

// Outbox keeps each destination's position in the log, its scheduled
// retries and its dead letters. The cursor and the outcome of the events
// up to it move together, so that a restart neither loses nor repeats a
// round (delivery to the provider is at least once).
type Outbox interface {
	// StartDelivery puts a destination's cursor at position at unless the
	// destination has one already: a destination added to a running
	// workspace gets what arrives from then on, as in Segment, not the
	// whole history.
	StartDelivery(ctx context.Context, dest string, at int64) error
	// DeliveryCursor returns the log position a destination has handled.
	DeliveryCursor(ctx context.Context, dest string) (int64, error)
	// RecordDeliveries records an outcome and, when upTo is greater than
	// the cursor, moves the cursor to upTo, in one transaction.
	RecordDeliveries(ctx context.Context, dest string, upTo int64, o DeliveryOutcome) error
	// DueRetries returns the retries due at now, earliest first.
	DueRetries(ctx context.Context, dest string, now time.Time, limit int) ([]Delivery, error)
	// DeadLetters returns dead letters newest first (by Seq), those with
	// Seq < before (0: from the newest).
	DeadLetters(ctx context.Context, dest string, before int64, limit int) ([]Delivery, error)
	// Redrive turns every dead letter of dest into a retry due at now and
	// says how many it moved.
	Redrive(ctx context.Context, dest string, now time.Time) (int, error)
	DeliveryStats(ctx context.Context, dest string) (DeliveryStats, error)
}

// Leases lets one node of several do a job at a time (the profile
// processor, a destination's delivery). A lease held by a node that stops
// renewing it expires after its ttl and another node takes over; the job's
// own cursor keeps the handover exact.
type Leases interface {
	// Lease acquires or renews the named lease for holder and reports
	// whether holder has it.
	Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease up if holder has it.
	Release(ctx context.Context, name, holder string) error
}
