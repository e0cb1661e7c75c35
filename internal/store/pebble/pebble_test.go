package pebble

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts, discard())
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

func TestConformanceLog(t *testing.T) { storetest.RunLog(t, open) }

func TestConformanceOutbox(t *testing.T) { storetest.RunOutbox(t, open) }

// Events, their positions and their dedup keys survive a restart, and
// positions go on growing from the last one.
func TestRestartKeepsEventsSeqAndDedup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	first := []store.Event{storetest.Event("ws", "web", "m1"), storetest.Event("ws", "web", "m2")}
	q := []store.Quarantined{{Workspace: "ws", Source: "web", Code: "invalid_json", Raw: []byte("{")}}
	if err := s.Append(ctx, first, q); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, first, nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close = %v, want store.ErrClosed", err)
	}

	s, err = Open(ctx, dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(ctx, append(first, storetest.Event("ws", "web", "m3")), q); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, e := range got {
		ids = append(ids, e.MessageID)
		if e.Seq != int64(i+1) {
			t.Errorf("event %s at seq %d, want %d", e.MessageID, e.Seq, i+1)
		}
	}
	if strings.Join(ids, ",") != "m1,m2,m3" {
		t.Errorf("after a restart the log holds %v, want m1,m2,m3 (the dedup keys survive)", ids)
	}
	qs, err := s.RecentQuarantined(ctx, "ws", 0, 10)
	if err != nil || len(qs) != 2 || qs[0].ID <= qs[1].ID {
		t.Errorf("quarantine after a restart = %+v, %v; want two entries with growing ids", qs, err)
	}
}

func TestOldFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "roster.db"), []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dir, store.Options{}, discard())
	if err == nil {
		s.Close()
		t.Fatal("Open of a SQLite data directory succeeded")
	}
	if !errors.Is(err, ErrOldFormat) {
		t.Errorf("Open = %v, want ErrOldFormat", err)
	}
	for _, want := range []string{"SQLite format of an earlier Roster", "new --data directory", "roster convert --from " + dir + " --to NEWDIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); !os.IsNotExist(err) {
		t.Errorf("Open wrote a Pebble database next to the SQLite one (%v)", err)
	}
}

func TestFormatVersionIsChecked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(metaKey("format"), []byte("99"), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, dir, store.Options{}, discard()); err == nil || !strings.Contains(err.Error(), `format version "99"`) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a database in format 99 = %v, want it refused", err)
	}
}

// Two servers on one data directory would each keep their own dedup set.
func TestDataDirServesOneStoreAtATime(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), dir, store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if second, err := Open(context.Background(), dir, store.Options{}, discard()); err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second Open of the same data directory succeeded")
	} else if !strings.Contains(err.Error(), "in use by another roster process") {
		t.Errorf("second Open: %v; want it to say the directory is in use", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(context.Background(), dir, store.Options{}, discard())
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

// Keys older than the window are deleted from the disk, not only from
// memory, and after a restart they are not loaded again.
func TestExpiredDedupKeysAreDeleted(t *testing.T) {
	ctx := context.Background()
	clock := &storetest.Clock{}
	clock.Advance(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Sub(time.Time{}))
	opts := store.Options{DedupWindow: time.Hour, Now: clock.Now}
	dir := t.TempDir()
	s, err := Open(ctx, dir, opts, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	count := func() int {
		t.Helper()
		n, err := s.count(ctx, []byte{prefixDedup})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.Append(ctx, []store.Event{storetest.Event("ws", "web", "m1")}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if err := s.Append(ctx, []store.Event{storetest.Event("ws", "web", "m2")}, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d dedup keys on disk after the first expired, want 1", n)
	}
	s.Close()
	if s, err = Open(ctx, dir, opts, discard()); err != nil {
		t.Fatal(err)
	}
	if n := s.appender.window.keys.Len(); n != 1 {
		t.Errorf("%d dedup keys loaded, want 1", n)
	}
}
