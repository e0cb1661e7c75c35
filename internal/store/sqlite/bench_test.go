package sqlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// BenchmarkAppend100 appends 100-event batches from concurrent callers, as
// the ingest path does, with durable commits.
func BenchmarkAppend100(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Uint64
	body := make([]byte, 370)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := make([]store.Event, 100)
		for pb.Next() {
			for i := range batch {
				batch[i] = storetest.Event("default", "web", fmt.Sprintf("m-%d", next.Add(1)))
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
