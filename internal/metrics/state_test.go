package metrics

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/storetest"
)

// TestLagRisesWhileTheProcessorIsHeldBackAndFallsToZero holds the profile
// processor back (it is not run), so the oldest event waits, and lag is
// its age on the clock of each scrape; once the processor catches up, lag
// and behind are 0.
func TestLagRisesWhileTheProcessorIsHeldBackAndFallsToZero(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := pebble.Open(ctx, t.TempDir(), store.Options{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	received := time.Now().Truncate(time.Millisecond)
	var events []store.Event
	for _, id := range []string{"m1", "m2", "m3"} {
		e := storetest.Event("ws", "web", id)
		e.ReceivedAt = received
		events = append(events, e)
	}
	if err := st.Append(ctx, events, nil); err != nil {
		t.Fatal(err)
	}
	state := NewState(st, nil, logger)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(state)
	read := func(name string) float64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == name {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("%s not gathered", name)
		return 0
	}

	var lags []float64
	for _, after := range []time.Duration{2 * time.Second, 5 * time.Second, 9 * time.Second} {
		state.now = func() time.Time { return received.Add(after) }
		lags = append(lags, read("roster_profile_lag_seconds"))
	}
	if lags[0] != 2 || lags[1] != 5 || lags[2] != 9 {
		t.Errorf("lag while held back = %v, want [2 5 9] seconds", lags)
	}
	if b, c, h := read("roster_profile_behind_events"), read("roster_profile_cursor"), read("roster_log_head"); b != 3 || c != 0 || h != 3 {
		t.Errorf("held back: behind %v, cursor %v, head %v; want 3, 0, 3", b, c, h)
	}

	if _, err := pipeline.NewProcessor(st, st, logger).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, b, c := read("roster_profile_lag_seconds"), read("roster_profile_behind_events"), read("roster_profile_cursor"); lag != 0 || b != 0 || c != 3 {
		t.Errorf("caught up: lag %v, behind %v, cursor %v; want 0, 0, 3", lag, b, c)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "roster_store_bytes" && len(f.GetMetric()) != 6 {
			t.Errorf("roster_store_bytes has %d parts, want 6", len(f.GetMetric()))
		}
	}
}
