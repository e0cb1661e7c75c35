package retention_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"roster/internal/archive"
	"roster/internal/pipeline"
	"roster/internal/retention"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/storetest"
)

func TestStepArchivesWhatIsOldAndHandled(t *testing.T) {
	ctx := context.Background()
	st, err := pebble.Open(ctx, t.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []store.Event
	for i, age := range []time.Duration{500, 450, 420, 410, 30, 405} { // days; the 5th is recent
		e := storetest.Event("ws", "web", string(rune('a'+i)))
		e.ReceivedAt = now.Add(-age * 24 * time.Hour)
		evs = append(evs, e)
	}
	if err := st.Append(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	handled := evs[2].Seq
	r := &retention.Retainer{Log: st, Dir: dir, Keep: 400 * 24 * time.Hour, Now: func() time.Time { return now },
		Handled: func(context.Context) (int64, error) { return handled, nil }, FileEvents: 2}

	// Profiles have applied nothing yet: the store trims nothing, and
	// the step ends.
	if n, err := r.Step(ctx); err != nil || n != 0 {
		t.Fatalf("Step before profiles applied anything = %d, %v; want 0", n, err)
	}
	if _, err := pipeline.NewProcessor(st, st, slog.New(slog.NewTextHandler(io.Discard, nil))).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Only what every processor handled goes.
	n, err := r.Step(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Step = %d, %v; want 3 (the old events up to the handled position)", n, err)
	}
	// Then up to the first recent event: the log stays one range.
	handled = evs[5].Seq
	if n, err = r.Step(ctx); err != nil || n != 1 {
		t.Fatalf("second Step = %d, %v; want 1 (stopping at the recent event)", n, err)
	}
	left, err := st.Read(ctx, 0, 10)
	if err != nil || len(left) != 2 || left[0].MessageID != "e" {
		t.Fatalf("log after retention = %d events from %v, %v; want e and f", len(left), left, err)
	}
	files, err := archive.Files(dir)
	if err != nil || len(files) != 3 {
		t.Fatalf("archive files = %+v, %v; want 3 (two of at most 2 events, then one)", files, err)
	}
	var got []string
	for _, f := range files {
		rd, err := archive.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.MessageID)
		}
		rd.Close()
	}
	if len(got) != 4 || got[0] != "a" || got[3] != "d" {
		t.Fatalf("archived %v, want a b c d", got)
	}

	// Without a period nothing is removed.
	off := &retention.Retainer{Log: st, Dir: dir, Now: func() time.Time { return now.Add(1000 * 24 * time.Hour) },
		Handled: func(context.Context) (int64, error) { return 1 << 62, nil }}
	if n, err := off.Step(ctx); err != nil || n != 0 {
		t.Fatalf("Step without retention = %d, %v; want 0", n, err)
	}
}
