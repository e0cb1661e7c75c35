//go:build !cgo

package sqliteimport

import "database/sql"

// openReadOnly fails: the SQLite driver is C, compiled only with cgo.
func openReadOnly(string) (*sql.DB, error) { return nil, ErrNeedsCgo }
