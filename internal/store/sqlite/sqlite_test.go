package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

func open(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// TestConformanceMergingHistory runs the suite with the recent history
// moved into the main tables after every event, then after every third:
// profiles read the same whichever part holds their history, and identity
// merges move both parts.
func TestConformanceMergingHistory(t *testing.T) {
	for _, every := range []int64{1, 3} {
		t.Run(fmt.Sprintf("every %d", every), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
				s := open(t, opts).(*Store)
				s.historyMerge = every
				return s
			})
		})
	}
}

func TestReopenKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(context.Background(), dir, store.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), []store.Event{storetest.Event("ws", "web", "m1")}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(context.Background(), dir, store.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The dedup key survives the restart too.
	if err := s.Append(context.Background(), []store.Event{storetest.Event("ws", "web", "m1")}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(context.Background(), 0, 10)
	if err != nil || len(got) != 1 || got[0].MessageID != "m1" {
		t.Fatalf("after reopen: %v, %v; want m1 once", got, err)
	}
}

// Two servers on one data directory would each keep their own dedup set
// and accept each other's duplicates, so the second Open is refused until
// the first store is closed.
func TestDataDirServesOneStoreAtATime(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := Open(context.Background(), dir, store.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := Open(context.Background(), dir, store.Options{}, log); err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second Open of the same data directory succeeded")
	} else if !strings.Contains(err.Error(), "in use by another roster process") {
		t.Errorf("second Open: %v; want it to say the directory is in use", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(context.Background(), dir, store.Options{}, log)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

// A batch is not begun once its context has ended: nothing of it is
// written and the cursor stays.
func TestApplyProfilesAfterCancel(t *testing.T) {
	s := open(t, store.Options{}).(*Store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.ApplyProfiles(ctx, []store.ProfileUpdate{groupCall(1, "g1", "trial")}, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ApplyProfiles after cancel = %v, want context.Canceled", err)
	}
	if c, err := s.Cursor(context.Background(), store.ProfileCursor); err != nil || c != 0 {
		t.Fatalf("cursor = %d, %v; want 0", c, err)
	}
	if _, err := s.GroupTraits(context.Background(), "ws", "g1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("g1 after a cancelled batch: %v, want not found", err)
	}
}
