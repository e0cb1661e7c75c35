package warehouse

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// tables are the columns a schema's tables have, by table, as far as the
// loader knows them. Columns are only ever added and never change type,
// so what is known stays true; a schema whose load failed is forgotten
// and read again.
type tables map[string]map[string]colType

// schemaDDL creates a schema and the tables it always has. It runs under
// the schema's load lock, so two loaders never race at it.
func schemaDDL(schema string) []string {
	s := quote(schema)
	stmts := []string{"CREATE SCHEMA IF NOT EXISTS " + s}
	for _, t := range []string{tableIdentifies, tableGroups, tableTracks, tablePages, tableScreens, tableAliases} {
		stmts = append(stmts, createCallTable(schema, t, typeColumns[t]))
	}
	for _, t := range []string{tableAccounts, tableUsers} {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (%s, PRIMARY KEY (id))", s, quote(t), columnDefs(profileColumns[t])))
	}
	stmts = append(stmts,
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.memberships (group_id text NOT NULL, user_key text NOT NULL,
			user_id text, anonymous_id text, first_seen_at timestamptz, last_seen_at timestamptz, uuid_ts timestamptz,
			PRIMARY KEY (group_id, user_key))`, s),
		// A batch replaces the member rows of the users it touched.
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS memberships_user_key ON %s.memberships (user_key)`, s),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.discards (table_name text NOT NULL, column_name text NOT NULL,
			column_value text, row_id text NOT NULL, received_at timestamptz, reason text NOT NULL, uuid_ts timestamptz,
			PRIMARY KEY (table_name, row_id, column_name))`, s))
	return stmts
}

func createCallTable(schema, table string, extra []column) string {
	cols := append(slices.Clip(callColumns), extra...)
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (%s, PRIMARY KEY (id))", quote(schema), quote(table), columnDefs(cols))
}

func columnDefs(cols []column) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = quote(c.name) + " " + string(c.typ)
	}
	return strings.Join(defs, ", ")
}

// readTables reads the columns of a schema's tables, or of one table. It
// reads the catalog, not information_schema, whose views check privileges
// on every table of the database.
func readTables(ctx context.Context, tx pgx.Tx, schema, table string) (tables, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND ($2 = '' OR c.relname = $2) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	ts := tables{}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		if ts[t] == nil {
			ts[t] = map[string]colType{}
		}
		ts[t][c] = typeOf(typ)
	}
	return ts, rows.Err()
}

// keyColumns maps each folded trait key to the column a profile table
// keeps it in: the column that exists for it, whatever spelling made it.
func (ts tables) keyColumns(table string) map[string]string {
	m := map[string]string{}
	for _, c := range slices.Sorted(maps.Keys(ts[table])) {
		if _, ok := m[fold(c)]; !ok {
			m[fold(c)] = c
		}
	}
	return m
}

// ensure creates a track event's table and the columns a table's rows
// need, each of the type of its first non-null value. ADD COLUMN IF NOT
// EXISTS keeps a column another writer added meanwhile; the columns are
// read back so that its type, not the one guessed here, casts the values.
func (ts tables) ensure(ctx context.Context, tx pgx.Tx, schema, table string, rows []*row) error {
	if ts[table] == nil {
		if _, err := tx.Exec(ctx, createCallTable(schema, table, eventColumns)); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		ts[table] = map[string]colType{}
		for _, c := range append(slices.Clip(callColumns), eventColumns...) {
			ts[table][c.name] = c.typ
		}
	}
	cols := ts[table]
	var add []column
	adding := map[string]bool{}
	for _, r := range rows {
		for _, f := range r.fields {
			c, v := f.col, f.value
			if _, ok := cols[c]; ok || adding[c] || v == nil {
				continue
			}
			adding[c] = true
			add = append(add, column{c, infer(v)})
		}
	}
	if len(add) == 0 {
		return nil
	}
	parts := make([]string, len(add))
	for i, c := range add {
		parts[i] = "ADD COLUMN IF NOT EXISTS " + quote(c.name) + " " + string(c.typ)
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE "+quote(schema)+"."+quote(table)+" "+strings.Join(parts, ", ")); err != nil {
		return fmt.Errorf("add columns to %s: %w", table, err)
	}
	fresh, err := readTables(ctx, tx, schema, table)
	if err != nil {
		return err
	}
	ts[table] = fresh[table]
	return nil
}
