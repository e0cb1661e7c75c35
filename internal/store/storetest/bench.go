package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/pipeline"
	"roster/internal/spec"
	"roster/internal/store"
)

// The benchmarks every backend runs, so that their figures compare.

// BenchAppend100 appends 100-event batches from concurrent callers, as the
// ingest path does, with durable commits.
func BenchAppend100(b *testing.B, s store.Store) {
	var next atomic.Uint64
	body := make([]byte, 370)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := make([]store.Event, 100)
		for pb.Next() {
			for i := range batch {
				batch[i] = Event("default", "web", fmt.Sprintf("m-%d", next.Add(1)))
				batch[i].Body = body
			}
			if err := s.Append(context.Background(), batch, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// appendMix appends n events of the benchmark mix: group calls with five
// traits, identifies, and tracks with context.groupId, over 5,000 groups
// and 50,000 users picked at random (in order, neighbouring ids would share
// pages and flatter the figures). It returns the groups that got traits.
func appendMix(b *testing.B, s store.Store, n int) []string {
	var grouped []string
	seen := map[int]bool{}
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]store.Event, 0, 1000)
	for i := range n {
		u, g := rand.IntN(50000), rand.IntN(benchGroups)
		e := store.Event{Workspace: "default", Source: "web", MessageID: fmt.Sprintf("m-%d", i),
			ReceivedAt: t0, Timestamp: t0.Add(time.Duration(i) * time.Millisecond)}
		switch i % 4 {
		case 0, 1:
			e.Type = "group"
			if !seen[g] {
				seen[g] = true
				grouped = append(grouped, fmt.Sprintf("g%d", g))
			}
			e.Body = fmt.Appendf(nil, `{"type":"group","userId":"u%d","groupId":"g%d","traits":{"name":"Initech %d","industry":"Technology","employees":%d,"plan":"%s","total billed":%d}}`,
				u, g, g, g%400, []string{"trial", "pro", "enterprise"}[i%3], i)
		case 2:
			e.Type = "identify"
			e.Body = fmt.Appendf(nil, `{"type":"identify","userId":"u%d","anonymousId":"a%d","traits":{"email":"u%d@example.com","name":"User %d"}}`, u, u, u, i)
		default:
			e.Type = "track"
			e.Body = fmt.Appendf(nil, `{"type":"track","userId":"u%d","event":"Report Run","context":{"groupId":"g%d"}}`, u, g)
		}
		// With the ids, group and name ingestion would have logged with it.
		if m, err := spec.ReadStored(e.Body); err == nil {
			r := m.Routing
			e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = r.UserID, r.AnonymousID, r.PreviousID, r.GroupID, r.Name
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.Append(context.Background(), batch, nil); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return grouped
}

const benchGroups = 5000

// BenchApplyProfiles measures profile processing: b.N events of the
// benchmark mix (appendMix), applied by the real processor from the log.
// This is where traits merge: per-trait last writer wins, history, names.
func BenchApplyProfiles(b *testing.B, s store.Store) {
	appendMix(b, s, b.N)
	p := pipeline.NewProcessor(s, s, discardLogger())
	b.ReportAllocs()
	b.ResetTimer()
	n, err := p.CatchUp(context.Background())
	if err != nil || n != b.N {
		b.Fatalf("applied %d of %d: %v", n, b.N, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchGroupTraits measures the store's side of a profile traits read:
// one group's traits, of groups picked at random among those that 20,000
// events of the benchmark mix gave traits.
func BenchGroupTraits(b *testing.B, s store.Store) {
	groups := appendMix(b, s, 20000)
	if _, err := pipeline.NewProcessor(s, s, discardLogger()).CatchUp(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g := groups[rand.IntN(len(groups))]
			traits, err := s.GroupTraits(context.Background(), "default", g)
			if err != nil {
				b.Error(err)
				return
			}
			if len(traits) == 0 {
				b.Errorf("group %s has no traits", g)
				return
			}
		}
	})
}
