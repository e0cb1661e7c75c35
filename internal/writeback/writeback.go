// Package writeback has the kernel write files' dirty pages to the disk as
// they come, rather than all at once when something fsyncs the files.
//
// A database that is not fsync'd at every commit (SQLite's WAL with
// synchronous=NORMAL) leaves its writes in the page cache until a
// checkpoint's fsyncs send them to the disk in one burst, and every other
// fsync on that disk, such as the log's commits, waits behind the burst.
// Started early, the same bytes go out in a steady stream instead
// (PostgreSQL's checkpoint_flush_after does the same).
package writeback

import (
	"log/slog"
	"os"
	"time"
)

// Start has the kernel begin writing out the dirty pages of paths every
// interval, without waiting for them, until stop is called. A path that
// does not exist yet is picked up when it does.
func Start(logger *slog.Logger, interval time.Duration, paths ...string) (stop func()) {
	if !supported {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	tick := time.NewTicker(interval)
	go func() {
		defer close(stopped)
		defer tick.Stop()
		loop(done, tick.C, paths, writeOut, logger)
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// loop calls flush on each of paths' files at every tick until done.
func loop(done <-chan struct{}, tick <-chan time.Time, paths []string, flush func(*os.File) error, logger *slog.Logger) {
	files := make([]*os.File, len(paths))
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		case <-tick:
		}
		for i, path := range paths {
			files[i] = current(files[i], path)
			if files[i] == nil {
				continue
			}
			if err := flush(files[i]); err != nil {
				logger.Debug("writeback", "file", path, "err", err)
			}
		}
	}
}

// current returns f if it is still the file at path, else the file now
// there, or nil: SQLite deletes a WAL when its last connection closes and
// creates it anew on the next open.
func current(f *os.File, path string) *os.File {
	if f != nil {
		fi, err := f.Stat()
		pi, perr := os.Stat(path)
		if err == nil && perr == nil && os.SameFile(fi, pi) {
			return f
		}
		f.Close()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	return f
}
