package pebble

import (
	"context"
	"testing"

	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/storetest"
)

func TestConformanceTrim(t *testing.T) { storetest.RunTrim(t, open) }

// A log trimmed to nothing and reopened goes on after its last position:
// the trimmed mark, not the last event key, says where it was.
func TestTrimKeepsPositionsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	evs := []store.Event{storetest.Event("w", "web", "m1"), storetest.Event("w", "web", "m2")}
	if err := s.Append(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.NewProcessor(s, s, discard()).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrimLog(ctx, evs[1].Seq); err != nil {
		t.Fatal(err)
	}
	// What the processor held in memory was written first: a crash now
	// would not need the trimmed events.
	if c, err := s.cursor(store.ProfileCursor); err != nil || c < evs[1].Seq {
		t.Fatalf("written profile cursor = %d, %v; want at least %d", c, err, evs[1].Seq)
	}
	if got, _ := s.Read(ctx, 0, 10); len(got) != 0 {
		t.Fatalf("the log holds %d events after the trim", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if head, err := s.Head(ctx); err != nil || head != evs[1].Seq {
		t.Fatalf("Head after reopening = %d, %v; want %d", head, err, evs[1].Seq)
	}
	next := []store.Event{storetest.Event("w", "web", "m3")}
	if err := s.Append(ctx, next, nil); err != nil {
		t.Fatal(err)
	}
	if next[0].Seq != evs[1].Seq+1 {
		t.Fatalf("position after reopening = %d, want %d", next[0].Seq, evs[1].Seq+1)
	}
}
