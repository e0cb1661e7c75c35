package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
)

// StartDelivery implements store.Outbox.
func (s *Store) StartDelivery(ctx context.Context, dest string, at int64) error {
	if _, err := s.pool.Exec(ctx, "INSERT INTO destinations(name, cursor) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", dest, at); err != nil {
		return fmt.Errorf("postgres: start delivery: %w", err)
	}
	return nil
}

// DeliveryCursor implements store.Outbox.
func (s *Store) DeliveryCursor(ctx context.Context, dest string) (int64, error) {
	var c int64
	err := s.pool.QueryRow(ctx, "SELECT cursor FROM destinations WHERE name = $1", dest).Scan(&c)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: delivery cursor: %w", err)
	}
	return c, nil
}

// RecordDeliveries implements store.Outbox: the cursor, the counter and
// the outcome go to the database in one round trip after BEGIN.
func (s *Store) RecordDeliveries(ctx context.Context, dest string, upTo int64, o store.DeliveryOutcome) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO destinations AS d (name, cursor, delivered) VALUES ($1, greatest($2::bigint, 0), $3)
			ON CONFLICT (name) DO UPDATE SET cursor = greatest(d.cursor, EXCLUDED.cursor), delivered = d.delivered + EXCLUDED.delivered`,
			dest, upTo, len(o.Delivered))
		if len(o.Delivered) > 0 {
			b.Queue("DELETE FROM deliveries WHERE destination = $1 AND seq = ANY($2::bigint[])", dest, o.Delivered)
		}
		putDeliveries(b, dest, o)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: record deliveries: %w", err)
	}
	return nil
}

// putDeliveries queues the upsert of the outcome's retries and dead
// letters. One statement may not write a row twice, so a seq listed more
// than once keeps its last entry, dead letters after retries.
func putDeliveries(b *pgx.Batch, dest string, o store.DeliveryOutcome) {
	index := map[int64]int{}
	var entries []deliveryEntry
	for _, e := range append(deliveryEntries(o.Retry, false), deliveryEntries(o.Dead, true)...) {
		if i, ok := index[e.d.Seq]; ok {
			entries[i] = e
			continue
		}
		index[e.d.Seq] = len(entries)
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return
	}
	var (
		seq               []int64
		dead              []bool
		bodies, responses [][]byte
		attempts, status  []int32
		nextAt, failedAt  []time.Time
		errs              []string
	)
	for _, e := range entries {
		d := e.d
		seq, dead = append(seq, d.Seq), append(dead, e.dead)
		bodies, responses = append(bodies, d.Body), append(responses, d.Response)
		attempts, status = append(attempts, int32(d.Attempts)), append(status, int32(d.Status))
		nextAt, failedAt = append(nextAt, ms(d.NextAt)), append(failedAt, ms(d.FailedAt))
		errs = append(errs, d.Error)
	}
	b.Queue(`INSERT INTO deliveries AS d (destination, seq, dead, body, attempts, next_at, status, error, response, failed_at)
		SELECT $1, * FROM unnest($2::bigint[], $3::boolean[], $4::bytea[], $5::int[], $6::timestamptz[], $7::int[], $8::text[], $9::bytea[], $10::timestamptz[])
		ON CONFLICT (destination, seq) DO UPDATE SET dead = EXCLUDED.dead, body = EXCLUDED.body, attempts = EXCLUDED.attempts,
			next_at = EXCLUDED.next_at, status = EXCLUDED.status, error = EXCLUDED.error, response = EXCLUDED.response, failed_at = EXCLUDED.failed_at`,
		dest, seq, dead, bodies, attempts, nextAt, status, errs, responses, failedAt)
}

type deliveryEntry struct {
	d    store.Delivery
	dead bool
}

func deliveryEntries(ds []store.Delivery, dead bool) []deliveryEntry {
	out := make([]deliveryEntry, len(ds))
	for i, d := range ds {
		out[i] = deliveryEntry{d, dead}
	}
	return out
}

const deliveryColumns = "destination, seq, body, attempts, next_at, status, error, response, failed_at"

func scanDeliveries(rows pgx.Rows, err error) ([]store.Delivery, error) {
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	var d store.Delivery
	out, err := collect(rows, []any{&d.Destination, &d.Seq, &d.Body, &d.Attempts, &d.NextAt, &d.Status, &d.Error, &d.Response, &d.FailedAt}, func() (store.Delivery, error) {
		got := d
		got.NextAt, got.FailedAt = got.NextAt.UTC(), got.FailedAt.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	return out, nil
}

// DueRetries implements store.Outbox.
func (s *Store) DueRetries(ctx context.Context, dest string, now time.Time, limit int) ([]store.Delivery, error) {
	return scanDeliveries(s.pool.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE destination = $1 AND dead = false AND next_at <= $2 ORDER BY next_at, seq LIMIT $3`,
		dest, now, store.PageLimit(limit)))
}

// DeadLetters implements store.Outbox.
func (s *Store) DeadLetters(ctx context.Context, dest string, before int64, limit int) ([]store.Delivery, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return scanDeliveries(s.pool.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE destination = $1 AND dead = true AND seq < $2 ORDER BY seq DESC LIMIT $3`,
		dest, before, store.PageLimit(limit)))
}

// Redrive implements store.Outbox.
func (s *Store) Redrive(ctx context.Context, dest string, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE deliveries SET dead = false, attempts = 0, next_at = $1 WHERE destination = $2 AND dead = true",
		ms(now), dest)
	if err != nil {
		return 0, fmt.Errorf("postgres: redrive: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeliveryStats implements store.Outbox.
func (s *Store) DeliveryStats(ctx context.Context, dest string) (store.DeliveryStats, error) {
	var st store.DeliveryStats
	err := s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT cursor FROM destinations WHERE name = $1), 0),
		coalesce((SELECT delivered FROM destinations WHERE name = $1), 0),
		(SELECT count(*) FROM deliveries WHERE destination = $1 AND dead = false),
		(SELECT count(*) FROM deliveries WHERE destination = $1 AND dead = true)`, dest).
		Scan(&st.Cursor, &st.Delivered, &st.Retrying, &st.Dead)
	if err != nil {
		return st, fmt.Errorf("postgres: delivery stats: %w", err)
	}
	return st, nil
}
