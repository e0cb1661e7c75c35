package postgres

// eventFieldsMigration adds what ingestion computes for each event
// (store.Event's ids, group and name) next to its body, as bytea: a JSON
// string may hold a NUL, which text cannot. Rows logged before read as "";
// eventFieldsBackfillMigration marks them for backfillEventFields, which
// fills them in Go (casting every stored body to jsonb in SQL fails the
// whole migration on one body jsonb refuses, such as a string with \u0000).
const eventFieldsMigration = `ALTER TABLE events
	ADD COLUMN user_id      bytea NOT NULL DEFAULT '',
	ADD COLUMN anonymous_id bytea NOT NULL DEFAULT '',
	ADD COLUMN previous_id  bytea NOT NULL DEFAULT '',
	ADD COLUMN group_id     bytea NOT NULL DEFAULT '',
	ADD COLUMN name         bytea NOT NULL DEFAULT '';`

// eventFieldsBackfillMigration records the last row that may predate the
// columns: their default made old rows read "" like a new row with no ids,
// so only the position tells them apart. Dropping the defaults makes a
// node that predates the columns, still running during an upgrade, fail
// its appends (a 503, which SDKs retry on an upgraded node) rather than
// log events without their fields after the mark.
const eventFieldsBackfillMigration = `ALTER TABLE events
	ALTER COLUMN user_id      DROP DEFAULT,
	ALTER COLUMN anonymous_id DROP DEFAULT,
	ALTER COLUMN previous_id  DROP DEFAULT,
	ALTER COLUMN group_id     DROP DEFAULT,
	ALTER COLUMN name         DROP DEFAULT;
CREATE TABLE event_fields_backfill (
	id   int    PRIMARY KEY CHECK (id = 1),
	done bigint NOT NULL, -- rows up to this seq are filled
	upto bigint NOT NULL  -- the last row logged before this migration
);
INSERT INTO event_fields_backfill (id, done, upto) SELECT 1, 0, coalesce(max(seq), 0) FROM events;`
