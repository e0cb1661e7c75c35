package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"roster/internal/store"
)

// outboxMigrations build outbox.db: each destination's cursor over the log,
// its scheduled retries and dead letters, and the leases. It is a file of
// its own so that delivery never waits for the profile processor's long
// transactions, nor ingestion for delivery. Times are Unix milliseconds.
// Append only: never edit one that has shipped.
var outboxMigrations = []string{
	`CREATE TABLE destinations (
		name      TEXT PRIMARY KEY,
		cursor    INTEGER NOT NULL DEFAULT 0,
		delivered INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE deliveries (
		destination TEXT    NOT NULL,
		seq         INTEGER NOT NULL,
		dead        INTEGER NOT NULL, -- 0: a scheduled retry, 1: a dead letter
		body        BLOB    NOT NULL,
		attempts    INTEGER NOT NULL,
		next_at     INTEGER NOT NULL,
		status      INTEGER NOT NULL,
		error       TEXT    NOT NULL,
		response    BLOB,
		failed_at   INTEGER NOT NULL,
		PRIMARY KEY (destination, seq)
	) WITHOUT ROWID;
	CREATE INDEX deliveries_due ON deliveries (destination, dead, next_at, seq);
	CREATE TABLE leases (
		name       TEXT PRIMARY KEY,
		holder     TEXT    NOT NULL,
		expires_at INTEGER NOT NULL
	);`,
}

// StartDelivery implements store.Outbox.
func (s *Store) StartDelivery(ctx context.Context, dest string, at int64) error {
	if _, err := s.ow.ExecContext(ctx, "INSERT INTO destinations(name, cursor) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", dest, at); err != nil {
		return fmt.Errorf("sqlite: start delivery: %w", err)
	}
	return nil
}

// DeliveryCursor implements store.Outbox.
func (s *Store) DeliveryCursor(ctx context.Context, dest string) (int64, error) {
	var c int64
	err := s.or.QueryRowContext(ctx, "SELECT cursor FROM destinations WHERE name = ?", dest).Scan(&c)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("sqlite: delivery cursor: %w", err)
	}
	return c, nil
}

// RecordDeliveries implements store.Outbox.
func (s *Store) RecordDeliveries(ctx context.Context, dest string, upTo int64, o store.DeliveryOutcome) error {
	tx, err := s.ow.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin deliveries: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, `INSERT INTO destinations(name, cursor, delivered) VALUES (?, max(?, 0), ?)
		ON CONFLICT(name) DO UPDATE SET cursor = max(cursor, excluded.cursor), delivered = delivered + excluded.delivered`,
		dest, upTo, len(o.Delivered)); err != nil {
		return fmt.Errorf("sqlite: move delivery cursor: %w", err)
	}
	for _, seq := range o.Delivered {
		if _, err := tx.ExecContext(ctx, "DELETE FROM deliveries WHERE destination = ? AND seq = ?", dest, seq); err != nil {
			return fmt.Errorf("sqlite: settle delivery: %w", err)
		}
	}
	put := func(d store.Delivery, dead int) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO deliveries(destination, seq, dead, body, attempts, next_at, status, error, response, failed_at)
			VALUES (?,?,?,?,?,?,?,?,?,?)`,
			dest, d.Seq, dead, d.Body, d.Attempts, d.NextAt.UnixMilli(), d.Status, d.Error, d.Response, d.FailedAt.UnixMilli())
		return err
	}
	for _, d := range o.Retry {
		if err := put(d, 0); err != nil {
			return fmt.Errorf("sqlite: schedule retry: %w", err)
		}
	}
	for _, d := range o.Dead {
		if err := put(d, 1); err != nil {
			return fmt.Errorf("sqlite: dead letter: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit deliveries: %w", err)
	}
	return nil
}

const deliveryColumns = "destination, seq, body, attempts, next_at, status, error, response, failed_at"

func scanDeliveries(rows *sql.Rows, err error) ([]store.Delivery, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var next, failed int64
		if err := rows.Scan(&d.Destination, &d.Seq, &d.Body, &d.Attempts, &next, &d.Status, &d.Error, &d.Response, &failed); err != nil {
			return nil, fmt.Errorf("sqlite: deliveries: %w", err)
		}
		d.NextAt, d.FailedAt = timeMillis(next), timeMillis(failed)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: deliveries: %w", err)
	}
	return out, nil
}

// DueRetries implements store.Outbox.
func (s *Store) DueRetries(ctx context.Context, dest string, now time.Time, limit int) ([]store.Delivery, error) {
	return scanDeliveries(s.or.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE destination = ? AND dead = 0 AND next_at <= ? ORDER BY next_at, seq LIMIT ?`,
		dest, now.UnixMilli(), store.PageLimit(limit)))
}

// DeadLetters implements store.Outbox.
func (s *Store) DeadLetters(ctx context.Context, dest string, before int64, limit int) ([]store.Delivery, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return scanDeliveries(s.or.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE destination = ? AND dead = 1 AND seq < ? ORDER BY seq DESC LIMIT ?`,
		dest, before, store.PageLimit(limit)))
}

// Redrive implements store.Outbox.
func (s *Store) Redrive(ctx context.Context, dest string, now time.Time) (int, error) {
	res, err := s.ow.ExecContext(ctx, "UPDATE deliveries SET dead = 0, attempts = 0, next_at = ? WHERE destination = ? AND dead = 1",
		now.UnixMilli(), dest)
	if err != nil {
		return 0, fmt.Errorf("sqlite: redrive: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: redrive: %w", err)
	}
	return int(n), nil
}

// DeliveryStats implements store.Outbox.
func (s *Store) DeliveryStats(ctx context.Context, dest string) (store.DeliveryStats, error) {
	var st store.DeliveryStats
	err := s.or.QueryRowContext(ctx, `SELECT
		coalesce((SELECT cursor FROM destinations WHERE name = ?1), 0),
		coalesce((SELECT delivered FROM destinations WHERE name = ?1), 0),
		(SELECT count(*) FROM deliveries WHERE destination = ?1 AND dead = 0),
		(SELECT count(*) FROM deliveries WHERE destination = ?1 AND dead = 1)`, dest).
		Scan(&st.Cursor, &st.Delivered, &st.Retrying, &st.Dead)
	if err != nil {
		return st, fmt.Errorf("sqlite: delivery stats: %w", err)
	}
	return st, nil
}

// Lease implements store.Leases. One process has the data directory, so
// it always gets its leases; the table keeps the semantics the same as on
// a shared database.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.opts.Now()
	res, err := s.ow.ExecContext(ctx, `INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`,
		name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("sqlite: lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Release implements store.Leases.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	if _, err := s.ow.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder); err != nil {
		return fmt.Errorf("sqlite: release %s: %w", name, err)
	}
	return nil
}
