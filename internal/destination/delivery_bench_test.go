package destination_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"roster/internal/destination"
	"roster/internal/destination/webhook"
	"roster/internal/store"
	"roster/internal/store/storetest"
)

// Delivery throughput to a local webhook receiver that answers at once:
//
//	go test -run '^$' -bench Delivery -benchtime 50000x ./internal/destination/
func benchmarkDelivery(b *testing.B, settings map[string]any) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
	}))
	defer receiver.Close()
	settings["url"] = receiver.URL
	conv, err := webhook.New(settings)
	if err != nil {
		b.Fatal(err)
	}
	clock := newClock()
	s := openStore(b, b.TempDir(), clock)
	var batch []store.Event
	for i := range b.N {
		batch = append(batch, storetest.Event("ws", "web", fmt.Sprintf("m%d", i)))
		if len(batch) == 1000 || i == b.N-1 {
			if err := s.Append(ctx, batch, nil); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	d := destination.NewDeliverer(destination.Target{Workspace: "ws", Name: "Hook", Converter: conv},
		s, s, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, discard())
	b.ResetTimer()
	delivered := 0
	for delivered < b.N {
		n, _, err := d.Round(ctx)
		if err != nil {
			b.Fatal(err)
		}
		delivered += n
	}
	b.StopTimer()
	st, err := s.DeliveryStats(ctx, "ws/Hook")
	if err != nil || st.Delivered != int64(b.N) {
		b.Fatalf("delivered %d of %d: %v", st.Delivered, b.N, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDeliveryWebhook(b *testing.B) { benchmarkDelivery(b, map[string]any{}) }

func BenchmarkDeliveryWebhookBatch100(b *testing.B) {
	benchmarkDelivery(b, map[string]any{"batchSize": 100})
}
