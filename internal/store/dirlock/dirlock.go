// Package dirlock keeps a data directory to one Roster process: the
// embedded stores hold their dedup sets in memory, so a second server on
// the same files would accept duplicates.
package dirlock

import (
	"fmt"
	"os"
	"path/filepath"
)

// Lock takes an exclusive lock on dir (through the file roster.lock in
// it) without waiting; closing the returned file releases it.
func Lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "roster.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another roster process: %w", dir, err)
	}
	return f, nil
}
