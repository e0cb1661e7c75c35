package writeback

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLoopFollowsFiles drives the loop tick by tick and checks which files
// each tick writes out: a file that appears later is picked up, one that
// is deleted and created anew (as SQLite does with a WAL) is followed to
// the new file, and the files are closed when the loop stops.
func TestLoopFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	wal, db := filepath.Join(dir, "p.db-wal"), filepath.Join(dir, "p.db")
	// The loop takes paths in order, so the last one's write-out ends a
	// tick.
	end := filepath.Join(dir, "end")
	write(t, db)
	write(t, end)

	done, tick := make(chan struct{}), make(chan time.Time)
	flushed := make(chan *os.File)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		loop(done, tick, []string{wal, db, end}, func(f *os.File) error {
			flushed <- f
			return nil
		}, slog.New(slog.DiscardHandler))
	}()
	// step sends a tick and returns the files it wrote out, but end.
	step := func() []*os.File {
		tick <- time.Now()
		var got []*os.File
		for f := range flushed {
			if f.Name() == end {
				return got
			}
			got = append(got, f)
		}
		return got
	}
	same := func(f *os.File, path string) bool {
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		return err1 == nil && err2 == nil && os.SameFile(fi, pi)
	}

	got := step()
	if len(got) != 1 || !same(got[0], db) {
		t.Fatalf("first tick wrote out %v, want only %s (the WAL does not exist yet)", names(got), db)
	}
	write(t, wal)
	got = step()
	if len(got) != 2 || !same(got[0], wal) || !same(got[1], db) {
		t.Fatalf("second tick wrote out %v, want %s and %s", names(got), wal, db)
	}
	old := got[0]
	if err := os.Remove(wal); err != nil {
		t.Fatal(err)
	}
	write(t, wal)
	got = step()
	if len(got) != 2 || !same(got[0], wal) {
		t.Fatalf("after the WAL was created anew, the tick wrote out %v, want the new %s", names(got), wal)
	}
	if old.Fd() != ^uintptr(0) {
		t.Error("the deleted WAL's file is still open")
	}
	close(done)
	<-stopped
	for _, f := range got {
		if f.Fd() != ^uintptr(0) {
			t.Errorf("%s still open after the loop stopped", f.Name())
		}
	}
}

// TestStartWritesOut runs the real thing on a file with dirty pages: no
// error from the kernel, and stop returns.
func TestStartWritesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := writeOut(f); err != nil {
		t.Fatal(err)
	}
	stop := Start(slog.New(slog.DiscardHandler), time.Millisecond, path)
	time.Sleep(10 * time.Millisecond)
	stop()
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("page"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func names(fs []*os.File) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name())
	}
	return n
}
