//go:build cgo

package sqliteimport

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver; it needs cgo
)

// openReadOnly opens path so that nothing can write it: mode=ro for the
// file, query_only for the connection. A server that stopped cleanly left
// no WAL, and the file is opened immutable, which creates no -wal and -shm
// beside it either; events committed in a WAL (a server that was killed)
// are read through it.
func openReadOnly(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: %w", err)
	}
	params := "?mode=ro&_query_only=true&_busy_timeout=10000"
	if _, err := os.Stat(abs + "-wal"); errors.Is(err, os.ErrNotExist) {
		params += "&immutable=1"
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + params
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: open %s: %w", path, err)
	}
	return db, nil
}
