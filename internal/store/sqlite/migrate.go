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
	// 2: what ingestion computed for each event (store.Event), so that no
	// reader parses the body to route it. Rows logged before get it from
	// their body here, by spec.Normalize's rules as far as SQL can follow
	// them: a non-integer numeric context.groupId is written as SQLite
	// prints the number, which is Go's FormatFloat except for exponents
	// (then no group) and a few 17-digit values.
	`ALTER TABLE events ADD COLUMN user_id      TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN anonymous_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN previous_id  TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN group_id     TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN name         TEXT NOT NULL DEFAULT '';
	UPDATE events SET
		user_id      = coalesce(CASE json_type(b.j, '$.userId') WHEN 'text' THEN b.j ->> '$.userId' END, ''),
		anonymous_id = coalesce(CASE json_type(b.j, '$.anonymousId') WHEN 'text' THEN b.j ->> '$.anonymousId' END, ''),
		previous_id  = coalesce(CASE WHEN events.type = 'alias' AND json_type(b.j, '$.previousId') = 'text' THEN b.j ->> '$.previousId' END, ''),
		name         = coalesce(CASE
			WHEN events.type = 'track' AND json_type(b.j, '$.event') = 'text' THEN b.j ->> '$.event'
			WHEN events.type IN ('page', 'screen') AND json_type(b.j, '$.name') = 'text' THEN b.j ->> '$.name'
		END, ''),
		group_id     = coalesce(CASE
			WHEN events.type = 'group' THEN CASE json_type(b.j, '$.groupId') WHEN 'text' THEN b.j ->> '$.groupId' END
			ELSE CASE json_type(b.j, '$.context.groupId')
				WHEN 'text' THEN b.j ->> '$.context.groupId'
				-- An integer is its literal, as spec.NumberString keeps it.
				WHEN 'integer' THEN b.j -> '$.context.groupId'
				WHEN 'real' THEN (SELECT CASE WHEN instr(t, 'e') > 0 THEN NULL
					WHEN t LIKE '%.0' THEN substr(t, 1, length(t) - 2) ELSE t END
					FROM (SELECT CAST(b.j ->> '$.context.groupId' AS TEXT) AS t))
			END
		END, '')
	FROM (SELECT seq, CAST(body AS TEXT) AS j FROM events WHERE json_valid(CAST(body AS TEXT))) AS b
	WHERE events.seq = b.seq;`,
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
