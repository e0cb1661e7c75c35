package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many ran.
// Append only: never edit one that has shipped.
var migrations = []string{
	`CREATE TABLE events (
		seq         INTEGER PRIMARY KEY,
		workspace   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		message_id  TEXT    NOT NULL,
		type        TEXT    NOT NULL,
		received_at INTEGER NOT NULL,
		timestamp   INTEGER NOT NULL,
		warnings    TEXT,
		body        BLOB    NOT NULL
	);
	CREATE TABLE dedup_log (
		id      INTEGER PRIMARY KEY,
		key     BLOB    NOT NULL,
		seen_at INTEGER NOT NULL
	);
	CREATE TABLE quarantine (
		id          INTEGER PRIMARY KEY,
		workspace   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		received_at INTEGER NOT NULL,
		message_id  TEXT    NOT NULL,
		code        TEXT    NOT NULL,
		reason      TEXT    NOT NULL,
		raw         BLOB    NOT NULL
	);
	CREATE INDEX quarantine_workspace ON quarantine (workspace, id);
	CREATE TABLE sources (
		write_key  TEXT PRIMARY KEY,
		workspace  TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE access_tokens (
		hash       BLOB PRIMARY KEY,
		workspace  TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		created_at INTEGER NOT NULL
	);`,
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this roster (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
	}
	return nil
}
