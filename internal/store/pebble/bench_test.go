package pebble

import (
	"context"
	"testing"

	"roster/internal/store"
	"roster/internal/store/groupcommit"
	"roster/internal/store/storetest"
)

// The shared benchmarks (storetest), which the other backends run too.

func openBench(b *testing.B) *Store {
	s, err := Open(context.Background(), b.TempDir(), store.Options{}, discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkAppend100(b *testing.B) { storetest.BenchAppend100(b, openBench(b)) }

// BenchmarkAppend100GroupCommit is the alternative Append does without:
// one goroutine gathers the concurrent appends into one batch and commits
// it (groupcommit, as the PostgreSQL store does), against Append's concurrent
// commits sharing WAL syncs in Pebble's pipeline.
func BenchmarkAppend100GroupCommit(b *testing.B) {
	s := openBench(b)
	c := groupcommit.New(func(ctx context.Context, events []store.Event, q []store.Quarantined) error {
		keys := make([]store.DedupKey, len(events))
		values := make([][]byte, len(events))
		for i := range events {
			keys[i] = store.KeyOf(&events[i])
			values[i] = appendEvent(nil, &events[i])
		}
		batch := s.db.NewBatch()
		defer batch.Close()
		if err := s.apply(batch, events, keys, values, q); err != nil {
			return err
		}
		return batch.SyncWait()
	}, 20000)
	b.Cleanup(c.Close)
	storetest.BenchAppend100(b, groupCommitted{s, c})
}

type groupCommitted struct {
	*Store
	c *groupcommit.Committer
}

func (g groupCommitted) Append(ctx context.Context, events []store.Event, q []store.Quarantined) error {
	return g.c.Append(ctx, events, q)
}

func BenchmarkApplyProfiles(b *testing.B) { storetest.BenchApplyProfiles(b, openBench(b)) }

func BenchmarkGroupTraits(b *testing.B) { storetest.BenchGroupTraits(b, openBench(b)) }
