package destination_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"roster/internal/destination"
	"roster/internal/store"
)

// batchLoader keeps the batches it loaded, refusing any that holds a
// message it is told to refuse.
type batchLoader struct {
	mu      sync.Mutex
	batches [][]string
	sources []string
	refuse  string
}

func (l *batchLoader) MaxBatch() int { return 2 }

func (l *batchLoader) Load(_ context.Context, evs []destination.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, ev := range evs {
		if ev.MessageID == l.refuse {
			return fmt.Errorf("bad value in %s: %w", ev.MessageID, destination.ErrPermanent)
		}
		ids = append(ids, ev.MessageID)
		l.sources = append(l.sources, ev.Source)
	}
	l.batches = append(l.batches, ids)
	return nil
}

// A loader gets batches of up to MaxBatch events with their source; a
// batch it refuses as permanent is a dead letter per event, and a redriven
// dead letter reaches it again with its source, read from the log.
func TestLoaderGetsBatchesAndItsRefusalsAreDeadLetters(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	appendCalls(t, s, 5, nil)
	l := &batchLoader{refuse: "m3"}
	d := destination.NewDeliverer(destination.Target{Workspace: "ws", Name: "Hook", Type: "postgres", Loader: l},
		s, s, &http.Client{}, discard())
	d.Now = clock.Now
	d.Concurrency = 1
	round(t, d)
	if !slices.EqualFunc(l.batches, [][]string{{"m1", "m2"}, {"m5"}}, slices.Equal) {
		t.Errorf("batches = %v, want [m1 m2] [m5] (m3 m4 refused together)", l.batches)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 5, Delivered: 3, Dead: 2}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	l.refuse = ""
	m := destination.NewManager([]*destination.Deliverer{d}, s, s, s, "node", discard())
	m.Now = clock.Now
	if n, err := m.Redrive(ctx, "ws", "Hook"); err != nil || n != 2 {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	round(t, d)
	if got := stats(t, s); got.Dead != 0 || got.Delivered != 5 {
		t.Errorf("after redrive stats = %+v", got)
	}
	for _, src := range l.sources {
		if src != "web" {
			t.Errorf("sources = %v, want web for every event, retries included", l.sources)
			break
		}
	}
}

// downLoader fails every load until it is up.
type downLoader struct{ up bool }

func (l *downLoader) MaxBatch() int { return 10 }
func (l *downLoader) Load(context.Context, []destination.Event) error {
	if !l.up {
		return fmt.Errorf("connection refused")
	}
	return nil
}

// A warehouse that is down pauses delivery with the cursor where it was.
func TestDownLoaderHoldsTheCursor(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	appendCalls(t, s, 3, nil)
	l := &downLoader{}
	d := destination.NewDeliverer(destination.Target{Workspace: "ws", Name: "Hook", Type: "postgres", Loader: l},
		s, s, &http.Client{}, discard())
	d.Now = clock.Now
	if _, pause := round(t, d); pause <= 0 || pause > time.Minute {
		t.Errorf("pause = %v", pause)
	}
	if got := stats(t, s); got.Cursor != 0 || got.Retrying != 0 || got.Dead != 0 {
		t.Errorf("stats while down = %+v", got)
	}
	l.up = true
	round(t, d)
	if got := stats(t, s); got.Cursor != 3 || got.Delivered != 3 {
		t.Errorf("stats after = %+v", got)
	}
}
