package sqlite

// profileMigrations build profiles.db, which holds everything derived from
// the log. It is a separate file so that applying events never holds the
// log's write lock (ingestion never waits for processing), and it can be
// deleted and rebuilt. Times are Unix milliseconds; trait values are JSON.
// Append only: never edit one that has shipped.
var profileMigrations = []string{
	`CREATE TABLE cursors (
		name TEXT PRIMARY KEY,
		seq  INTEGER NOT NULL
	);
	CREATE TABLE groups (
		workspace        TEXT    NOT NULL,
		group_id         TEXT    NOT NULL,
		first_seen       INTEGER NOT NULL,
		first_seq        INTEGER NOT NULL,
		first_message_id TEXT    NOT NULL,
		first_source     TEXT    NOT NULL,
		last_seen        INTEGER NOT NULL,
		last_seq         INTEGER NOT NULL,
		last_message_id  TEXT    NOT NULL,
		last_source      TEXT    NOT NULL,
		name             TEXT    NOT NULL DEFAULT '', -- the name trait, lower-cased, for search and sort
		PRIMARY KEY (workspace, group_id)
	) WITHOUT ROWID;
	-- ListGroups pages in these orders without sorting the workspace.
	CREATE INDEX groups_name ON groups (workspace, name, group_id);
	CREATE INDEX groups_first_seen ON groups (workspace, first_seen, group_id);
	CREATE INDEX groups_last_seen ON groups (workspace, last_seen, group_id);
	CREATE TABLE group_traits (
		workspace  TEXT    NOT NULL,
		group_id   TEXT    NOT NULL,
		key        TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		value      TEXT    NOT NULL,
		ts         INTEGER NOT NULL,
		seq        INTEGER NOT NULL,
		source     TEXT    NOT NULL,
		message_id TEXT    NOT NULL,
		PRIMARY KEY (workspace, group_id, key)
	) WITHOUT ROWID;
	CREATE INDEX group_traits_value ON group_traits (workspace, key, value);
	CREATE TABLE trait_history (
		workspace  TEXT    NOT NULL,
		group_id   TEXT    NOT NULL,
		seq        INTEGER NOT NULL,
		key        TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		old_value  TEXT,
		new_value  TEXT    NOT NULL,
		message_id TEXT    NOT NULL,
		ts         INTEGER NOT NULL,
		PRIMARY KEY (workspace, group_id, seq, key)
	) WITHOUT ROWID;
	CREATE TABLE users (
		workspace        TEXT    NOT NULL,
		user_key         TEXT    NOT NULL,
		first_seen       INTEGER NOT NULL,
		first_seq        INTEGER NOT NULL,
		first_message_id TEXT    NOT NULL,
		first_source     TEXT    NOT NULL,
		last_seen        INTEGER NOT NULL,
		last_seq         INTEGER NOT NULL,
		last_message_id  TEXT    NOT NULL,
		last_source      TEXT    NOT NULL,
		PRIMARY KEY (workspace, user_key)
	) WITHOUT ROWID;
	CREATE TABLE user_traits (
		workspace  TEXT    NOT NULL,
		user_key   TEXT    NOT NULL,
		key        TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		value      TEXT    NOT NULL,
		ts         INTEGER NOT NULL,
		seq        INTEGER NOT NULL,
		source     TEXT    NOT NULL,
		message_id TEXT    NOT NULL,
		PRIMARY KEY (workspace, user_key, key)
	) WITHOUT ROWID;
	CREATE TABLE identities (
		workspace        TEXT    NOT NULL,
		id_type          TEXT    NOT NULL,
		id               TEXT    NOT NULL,
		user_key         TEXT    NOT NULL,
		created_at       INTEGER NOT NULL,
		source           TEXT    NOT NULL,
		first_message_id TEXT    NOT NULL,
		PRIMARY KEY (workspace, id_type, id)
	) WITHOUT ROWID;
	CREATE INDEX identities_user ON identities (workspace, user_key);
	CREATE TABLE memberships (
		workspace  TEXT    NOT NULL,
		group_id   TEXT    NOT NULL,
		user_key   TEXT    NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL,
		PRIMARY KEY (workspace, group_id, user_key)
	) WITHOUT ROWID;
	CREATE INDEX memberships_user ON memberships (workspace, user_key, group_id);
	CREATE TABLE profile_events (
		workspace   TEXT    NOT NULL,
		collection  TEXT    NOT NULL,
		profile_key TEXT    NOT NULL,
		seq         INTEGER NOT NULL,
		PRIMARY KEY (workspace, collection, profile_key, seq)
	) WITHOUT ROWID;`,
	// The per-profile history tables gain each a recent part, which
	// batches write and reads join; see historyMergeEvents.
	`CREATE TABLE profile_events_recent (
		workspace   TEXT    NOT NULL,
		collection  TEXT    NOT NULL,
		profile_key TEXT    NOT NULL,
		seq         INTEGER NOT NULL,
		PRIMARY KEY (workspace, collection, profile_key, seq)
	) WITHOUT ROWID;
	CREATE TABLE trait_history_recent (
		workspace  TEXT    NOT NULL,
		group_id   TEXT    NOT NULL,
		seq        INTEGER NOT NULL,
		key        TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		old_value  TEXT,
		new_value  TEXT    NOT NULL,
		message_id TEXT    NOT NULL,
		ts         INTEGER NOT NULL,
		PRIMARY KEY (workspace, group_id, seq, key)
	) WITHOUT ROWID;`,
}

// profileTables are emptied by ResetProfiles.
var profileTables = []string{"cursors", "groups", "group_traits", "trait_history", "trait_history_recent", "users", "user_traits", "identities", "memberships", "profile_events", "profile_events_recent"}
