// Package pipeline runs the processors that derive state from the log: each
// keeps a cursor next to the state it writes, so that a crash, a restart or
// a rebuild from the start yields the same state.
package pipeline

import (
	"context"
	"log/slog"
	"time"

	"roster/internal/profile"
	"roster/internal/store"
)

// Log is what processors read.
type Log interface {
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
}

// ProfileStore is where the profile processor writes.
type ProfileStore interface {
	Cursor(ctx context.Context, name string) (int64, error)
	ApplyProfiles(ctx context.Context, updates []store.ProfileUpdate, upTo int64) error
}

// Processor applies the log to profiles.
type Processor struct {
	log      Log
	profiles ProfileStore
	logger   *slog.Logger
	// Batch is how many events one transaction applies at most. A store
	// may keep what batches change and write it once for several (the
	// embedded one does), so batches need not be big: a smaller one holds
	// less in memory at once.
	Batch int
	// Idle is how often the processor looks for new events when caught
	// up; with the time a batch takes, it bounds the lag from commit to
	// visible profile.
	Idle time.Duration
	// Lease, when set, makes Run process only while this node holds it,
	// so that of several nodes on one database one applies the log (the
	// cursor check in ApplyProfiles keeps a handover exact).
	Lease *store.Keeper
	// Yield makes Run apply at the lowest CPU priority while it is
	// within YieldLag of the log (see Run).
	Yield bool
	// YieldLag is how old the oldest event not applied may grow before a
	// yielding processor takes its share of the CPU again.
	YieldLag time.Duration
	// Progress, when set, is called by CatchUp after each batch with the
	// events read so far.
	Progress func(read int)
}

// NewProcessor returns a profile processor.
func NewProcessor(log Log, profiles ProfileStore, logger *slog.Logger) *Processor {
	return &Processor{log: log, profiles: profiles, logger: logger, Batch: 4000, Idle: 50 * time.Millisecond, YieldLag: time.Second}
}

// Run applies the log until ctx ends. A failing step is retried after a
// pause: the cursor only moves with a successful commit, so nothing is
// skipped.
//
// With Yield, Run applies on a thread of the lowest CPU priority while the
// oldest event not applied is younger than YieldLag: when ingestion and the
// processor want more CPU than there is, requests are acknowledged first.
// Once the processor falls further behind, it applies at normal priority
// until it has caught up, so that profiles do not fall behind without
// bound. Give the process a P more than it has cores (`roster serve`
// does): the processor holds its P even while the kernel makes its thread
// wait, and with only as many Ps as cores, that would leave ingestion a
// core short.
func (p *Processor) Run(ctx context.Context) {
	var background *backgroundThread
	if p.Yield {
		var err error
		if background, err = startBackgroundThread(); err != nil {
			p.logger.Warn("processor runs at normal priority", "err", err)
		} else {
			defer background.stop()
		}
	}
	var ahead aheadBatch
	behind := false // the last batch was full and older than YieldLag
	Loop(ctx, p.Lease, p.logger.With("job", "profiles"), p.Idle, func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		var b stepped
		var err error
		apply := func() { b, err = p.step(ctx, &ahead) }
		if background == nil || behind {
			apply()
		} else {
			background.run(apply)
		}
		behind = b.read >= p.Batch && start.Sub(b.oldest) > p.YieldLag
		return p.wait(b.read, time.Since(start)), err
	})
}

// wait is how long Run waits after a step that read n events and took
// took. Behind (a full batch), it goes on at once. Otherwise it looks
// again Idle after the step began, not after it ended: under load a step
// of the events that arrived during the last one takes most of Idle, and
// waiting a whole Idle after it left the processor idle half the time. At
// half its capacity, profiles lagged 340 ms behind (p50) that way, and
// 140 ms this way.
func (p *Processor) wait(n int, took time.Duration) time.Duration {
	if n >= p.Batch {
		return 0
	}
	return max(0, p.Idle-took)
}

// Step applies the next batch of events and says how many it read.
func (p *Processor) Step(ctx context.Context) (int, error) {
	b, err := p.step(ctx, nil)
	return b.read, err
}

// stepped is what a step applied: how many events it read, and when the
// oldest of them was received.
type stepped struct {
	read   int
	oldest time.Time
}

// batch is events read from the log after a cursor, decoded.
type batch struct {
	after, upTo int64     // the cursor it was read after; its last event
	read        int       // events read, including any that did not decode
	oldest      time.Time // when its first event was received
	updates     []store.ProfileUpdate
	err         error
}

// aheadBatch holds the batch after the one being applied, read and
// decoded on another goroutine meanwhile. When the processor is behind,
// reading and decoding were a sixth of its time on its one writer
// connection; the other core does them instead.
type aheadBatch struct{ next <-chan batch }

// step applies the next batch. With ahead, it uses the batch read ahead if
// it follows the stored cursor (nothing failed and no other node moved the
// cursor since), and reads the following one while this one applies.
func (p *Processor) step(ctx context.Context, ahead *aheadBatch) (stepped, error) {
	cursor, err := p.profiles.Cursor(ctx, store.ProfileCursor)
	if err != nil {
		return stepped{}, err
	}
	var b batch
	if ahead != nil && ahead.next != nil {
		b, ahead.next = <-ahead.next, nil
	}
	if b.err != nil || b.read == 0 || b.after != cursor {
		b = p.read(ctx, cursor)
	}
	if b.err != nil || b.read == 0 {
		return stepped{}, b.err
	}
	if ahead != nil && b.read == p.Batch {
		next := make(chan batch, 1)
		go func() { next <- p.read(ctx, b.upTo) }()
		ahead.next = next
	}
	return stepped{b.read, b.oldest}, p.profiles.ApplyProfiles(ctx, b.updates, b.upTo)
}

// read reads and decodes the batch after cursor.
func (p *Processor) read(ctx context.Context, cursor int64) batch {
	events, err := p.log.Read(ctx, cursor, p.Batch)
	if err != nil || len(events) == 0 {
		return batch{after: cursor, err: err}
	}
	b := batch{after: cursor, upTo: events[len(events)-1].Seq, read: len(events), oldest: events[0].ReceivedAt,
		updates: make([]store.ProfileUpdate, 0, len(events))}
	for _, e := range events {
		u, err := profile.FromEvent(e)
		if err != nil {
			// Ingestion validated it, so this is a bug; the event stays in
			// the log and a rebuild after the fix applies it.
			p.logger.Error("event not applied to profiles", "seq", e.Seq, "err", err)
			continue
		}
		b.updates = append(b.updates, u)
	}
	return b
}

// CatchUp applies everything in the log now and returns how many events it
// read.
func (p *Processor) CatchUp(ctx context.Context) (int, error) {
	var ahead aheadBatch
	total := 0
	for {
		b, err := p.step(ctx, &ahead)
		total += b.read
		if err != nil || b.read == 0 {
			return total, err
		}
		if p.Progress != nil {
			p.Progress(total)
		}
	}
}
