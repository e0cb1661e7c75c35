package warehouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"roster/internal/destination"
)

// loadSchema loads one source's events into its schema in one
// transaction, under the schema's lock: the call rows, then the current
// state of the accounts, users and memberships they touched, then what
// was discarded. Loads of one schema take turns, so that the profile state
// each reads is newer than the last one committed.
func (l *Loader) loadSchema(ctx context.Context, schema string, evs []destination.Event) error {
	loadedAt := l.Now().UTC()
	b := newBatchRows()
	for _, ev := range evs {
		callRows(ev, loadedAt, b)
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "roster.warehouse:"+schema); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	ts, err := l.tablesOf(ctx, tx, schema)
	if err != nil {
		return err
	}
	kc := map[string]map[string]string{tableAccounts: ts.keyColumns(tableAccounts), tableUsers: ts.keyColumns(tableUsers)}
	pr, err := readProfiles(ctx, l.profiles, l.workspace, touches(evs), loadedAt, kc, b)
	if err != nil {
		return fmt.Errorf("read profiles: %w", err)
	}
	stage := 0
	for _, table := range b.order {
		if err := l.insertRows(ctx, tx, ts, schema, table, b.tables[table], false, b, &stage); err != nil {
			return err
		}
	}
	for table, rows := range map[string][]*row{tableAccounts: pr.accounts, tableUsers: pr.users} {
		if len(rows) == 0 {
			continue
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		// A profile's discards are those of its current state.
		if _, err := tx.Exec(ctx, "DELETE FROM "+quote(schema)+".discards WHERE table_name = $1 AND row_id = ANY($2)", table, ids); err != nil {
			return fmt.Errorf("clear %s discards: %w", table, err)
		}
		if err := l.insertRows(ctx, tx, ts, schema, table, rows, true, b, &stage); err != nil {
			return err
		}
	}
	if err := writeMemberships(ctx, tx, schema, pr, loadedAt); err != nil {
		return err
	}
	if err := writeDiscards(ctx, tx, schema, b.discards, loadedAt); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	l.keep(schema, ts)
	return nil
}

// tablesOf returns what is known of a schema's tables, creating the
// schema the first time this loader sees it.
func (l *Loader) tablesOf(ctx context.Context, tx pgx.Tx, schema string) (tables, error) {
	l.mu.Lock()
	known, ok := l.schemas[schema]
	l.mu.Unlock()
	if ok {
		c := tables{}
		for t, cols := range known {
			c[t] = map[string]colType{}
			for k, v := range cols {
				c[t][k] = v
			}
		}
		return c, nil
	}
	for _, stmt := range schemaDDL(schema) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create schema %s: %w", schema, err)
		}
	}
	return readTables(ctx, tx, schema, "")
}

// keep remembers a schema's tables as a committed load left them.
func (l *Loader) keep(schema string, ts tables) {
	l.mu.Lock()
	l.schemas[schema] = ts
	l.mu.Unlock()
}

// forget drops what is known of a schema after a failed load, whose
// columns may have been rolled back.
func (l *Loader) forget(schema string) {
	l.mu.Lock()
	delete(l.schemas, schema)
	l.mu.Unlock()
}

// insertRows copies rows into a staging table and from there into the
// table: call rows once per id, profile rows (replace) over the previous
// state of the same id.
func (l *Loader) insertRows(ctx context.Context, tx pgx.Tx, ts tables, schema, table string, rows []*row, replace bool, b *batchRows, stage *int) error {
	if err := ts.ensure(ctx, tx, schema, table, rows); err != nil {
		return err
	}
	types := ts[table]
	var cols []string
	index := map[string]int{}
	for _, r := range rows {
		for _, f := range r.fields {
			if _, ok := types[f.col]; ok {
				if _, seen := index[f.col]; !seen {
					index[f.col] = len(cols)
					cols = append(cols, f.col)
				}
			}
		}
	}
	values := make([][]any, len(rows))
	for i, r := range rows {
		vs := make([]any, len(cols))
		for _, f := range r.fields {
			j, ok := index[f.col]
			if !ok {
				continue // a NULL for a column that does not exist
			}
			out, reason, ok := cast(f.value, types[f.col])
			if !ok {
				b.discards = append(b.discards, discard{table, f.col, text(f.value), r.id, r.receivedAt, reason})
			}
			vs[j] = out
		}
		values[i] = vs
	}
	target := quote(schema) + "." + quote(table)
	name, err := copyToStage(ctx, tx, target, cols, values, stage)
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	list := quoteAll(cols)
	if replace {
		if _, err := tx.Exec(ctx, "DELETE FROM "+target+" t USING "+name+" s WHERE t.id = s.id"); err != nil {
			return fmt.Errorf("replace %s: %w", table, err)
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+target+" ("+list+") SELECT "+list+" FROM "+name)
	} else {
		_, err = tx.Exec(ctx, "INSERT INTO "+target+" ("+list+") SELECT "+list+" FROM "+name+" ON CONFLICT (id) DO NOTHING")
	}
	if err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

// copyToStage creates a temporary table shaped like target, dropped at
// commit, and copies values into it.
func copyToStage(ctx context.Context, tx pgx.Tx, target string, cols []string, values [][]any, stage *int) (string, error) {
	*stage++
	name := fmt.Sprintf("roster_stage_%d", *stage)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+name+" (LIKE "+target+") ON COMMIT DROP"); err != nil {
		return "", fmt.Errorf("create staging table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{name}, cols, pgx.CopyFromRows(values)); err != nil {
		return "", fmt.Errorf("copy: %w", err)
	}
	return name, nil
}

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

// writeMemberships replaces the member rows of the groups and users a
// batch refreshed.
func writeMemberships(ctx context.Context, tx pgx.Tx, schema string, pr *profileRows, loadedAt time.Time) error {
	target := quote(schema) + ".memberships"
	if len(pr.refreshed) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM "+target+" WHERE group_id = ANY($1)", pr.refreshed); err != nil {
			return fmt.Errorf("refresh memberships: %w", err)
		}
	}
	if len(pr.members) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM "+target+" WHERE user_key = ANY($1)", pr.members); err != nil {
			return fmt.Errorf("refresh memberships: %w", err)
		}
	}
	seen := map[[2]string]bool{}
	var values [][]any
	for _, m := range pr.memberships {
		k := [2]string{m.groupID, m.userKey}
		if seen[k] {
			continue
		}
		seen[k] = true
		values = append(values, []any{m.groupID, m.userKey, nullable(m.userID), nullable(m.anonymousID),
			nonZero(m.firstSeen), nonZero(m.lastSeen), loadedAt})
	}
	if len(values) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{schema, tableMemberships},
		[]string{"group_id", "user_key", "user_id", "anonymous_id", "first_seen_at", "last_seen_at", "uuid_ts"}, pgx.CopyFromRows(values))
	if err != nil {
		return fmt.Errorf("load memberships: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeDiscards keeps every value that could not be loaded as sent. The
// key (table, row, column) makes a re-delivered batch add nothing.
func writeDiscards(ctx context.Context, tx pgx.Tx, schema string, ds []discard, loadedAt time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	last := map[[3]string]int{}
	for i, d := range ds {
		last[[3]string{d.table, d.rowID, d.column}] = i
	}
	var values [][]any
	for i, d := range ds {
		if last[[3]string{d.table, d.rowID, d.column}] != i {
			continue
		}
		values = append(values, []any{d.table, d.column, d.value, d.rowID, nonZero(d.receivedAt), d.reason, loadedAt})
	}
	cols := []string{"table_name", "column_name", "column_value", "row_id", "received_at", "reason", "uuid_ts"}
	stage := 1000
	name, err := copyToStage(ctx, tx, quote(schema)+".discards", cols, values, &stage)
	if err != nil {
		return fmt.Errorf("load discards: %w", err)
	}
	_, err = tx.Exec(ctx, "INSERT INTO "+quote(schema)+".discards SELECT * FROM "+name+
		` ON CONFLICT (table_name, row_id, column_name) DO UPDATE SET column_value = EXCLUDED.column_value,
		received_at = EXCLUDED.received_at, reason = EXCLUDED.reason, uuid_ts = EXCLUDED.uuid_ts`)
	if err != nil {
		return fmt.Errorf("load discards: %w", err)
	}
	return nil
}

// permanent says whether a warehouse error would come back however often
// the batch is loaded: bad data or a statement PostgreSQL rejects. Lost
// connections, locks, a full disk and missing privileges are retried, and
// so are tables and columns found missing or already there, which someone
// changed behind the loader's back: the retry reads them again.
func permanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	retried := []string{"42501", "42P01", "42703", "42P06", "42P07", "42701"}
	return slices.Contains([]string{"22", "42"}, pe.Code[:2]) && !slices.Contains(retried, pe.Code)
}
