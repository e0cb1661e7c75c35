package postgres

// eventFieldsMigration adds what ingestion computes for each event
// (store.Event's ids, group and name) next to its body, as bytea: a JSON
// string may hold a NUL, which text cannot. Rows logged before read as ""
// (no backfill: casting every stored body to jsonb in SQL fails the whole
// migration on one body jsonb refuses, such as a string with \u0000).
const eventFieldsMigration = `ALTER TABLE events
	ADD COLUMN user_id      bytea NOT NULL DEFAULT '',
	ADD COLUMN anonymous_id bytea NOT NULL DEFAULT '',
	ADD COLUMN previous_id  bytea NOT NULL DEFAULT '',
	ADD COLUMN group_id     bytea NOT NULL DEFAULT '',
	ADD COLUMN name         bytea NOT NULL DEFAULT '';`
