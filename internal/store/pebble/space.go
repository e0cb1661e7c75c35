package pebble

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDiskFull is returned by Append when the disk has too little room left
// to take events safely; ingestion answers 503 and the SDKs retry.
var ErrDiskFull = errors.New("pebble: disk almost full")

// minFreeBytes is the room Append leaves on the disk: enough for memtables
// to be flushed and compacted, and for the profile and delivery writes
// that follow the log.
const minFreeBytes = 256 << 20

// spaceGuard refuses appends before the disk fills, not after: to Pebble a
// WAL write that meets ENOSPC is a fatal commit error, which ends the
// process (TestPebbleCannotSurviveENOSPC), so an ENOSPC must never reach
// the WAL. A statfs costs about a microsecond,
// nothing next to an append's fsync, so it is asked at every append.
type spaceGuard struct {
	fs      vfs.FS
	dir     string
	minFree uint64
}

func newSpaceGuard(fs vfs.FS, dir string) spaceGuard {
	return spaceGuard{fs: fs, dir: dir, minFree: minFreeBytes}
}

func (g *spaceGuard) check() error {
	u, err := g.fs.GetDiskUsage(g.dir)
	if err != nil {
		return fmt.Errorf("pebble: free space of %s: %w", g.dir, err)
	}
	if u.AvailBytes < g.minFree {
		return fmt.Errorf("%w: %d MB free on the disk of %s, below the %d MB roster keeps so that nothing it acknowledged is lost; free some space",
			ErrDiskFull, u.AvailBytes>>20, g.dir, g.minFree>>20)
	}
	return nil
}
