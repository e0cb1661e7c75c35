package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir takes an exclusive lock on the data directory: the dedup set
// lives in this process's memory, so a second server on the same files
// would accept duplicates.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "roster.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock data dir: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: data dir %s is in use by another roster process: %w", dir, err)
	}
	return f, nil
}
