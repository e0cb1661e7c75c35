package loadgen

import (
	"math"
	"testing"
	"time"
)

// A run with a window reports each window's acknowledged events and
// latency, which add up to the run's.
func TestWindowsSplitTheRun(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 0)
	cfg.Duration, cfg.Window, cfg.Rate, cfg.Batch = 900*time.Millisecond, 300*time.Millisecond, 2000, 20
	res := run(t, cfg)
	if len(res.Windows) != 3 {
		t.Fatalf("%d windows, want 3: %+v", len(res.Windows), res.Windows)
	}
	var acked, count int64
	for i, w := range res.Windows {
		if math.Abs(w.StartSeconds-0.3*float64(i)) > 1e-9 {
			t.Errorf("window %d starts at %v s", i, w.StartSeconds)
		}
		if w.Acked == 0 || w.Latency.Count == 0 {
			t.Errorf("window %d measured nothing: %+v", i, w)
		}
		acked += w.Acked
		count += w.Latency.Count
	}
	if acked != res.Acked || count != res.Latency.Count {
		t.Errorf("windows acknowledged %d in %d requests; the run %d in %d", acked, count, res.Acked, res.Latency.Count)
	}
	// Without a window, none.
	cfg.Window, cfg.RunID = 0, "t2"
	if res := run(t, cfg); res.Windows != nil {
		t.Errorf("windows %+v without a window", res.Windows)
	}
	cfg.Window, cfg.Duration, cfg.Events = time.Second, 0, 10
	if _, err := cfg.withDefaults(); err == nil {
		t.Error("a window without a duration was accepted")
	}
}
