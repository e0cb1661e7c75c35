package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
)

// Append implements store.Log through the group committer.
func (s *Store) Append(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	return s.commit.Append(ctx, events, quarantined)
}

// write commits one group: after BEGIN, one round trip locks the log head
// and claims the dedup keys, a COPY stores the new events (several times
// faster than an INSERT of arrays, whose bodies PostgreSQL unpacks slowly),
// and a last one moves the head and stores the quarantine.
//
// The head lock serializes appends of every node, so log positions follow
// commit order: a processor that has read up to seq n never later finds an
// event below n committing. It also makes this the only writer of dedup
// rows at any time (pruning runs here too), so claims never deadlock.
func (s *Store) write(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	now := s.opts.Now()
	unique, keys, index := firstCopies(events)
	pruneDue := !now.Before(s.prune.next)
	var (
		pruned int64
		head   int64
		fresh  map[store.DedupKey]bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		head = 0
		fresh = map[store.DedupKey]bool{}
		b := &pgx.Batch{}
		b.Queue("SELECT seq FROM log_head WHERE id = 1 FOR UPDATE").QueryRow(func(r pgx.Row) error { return r.Scan(&head) })
		if len(unique) > 0 {
			claimKeys(b, keys, now, now.Add(-s.opts.DedupWindow), fresh)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("claim dedup keys: %w", err)
		}
		n, err := copyEvents(ctx, tx, unique, keys, fresh, head)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		b = &pgx.Batch{}
		if n > 0 {
			b.Queue("UPDATE log_head SET seq = $1 WHERE id = 1", head+n)
		}
		if len(quarantined) > 0 {
			insertQuarantined(b, quarantined)
		}
		if pruneDue {
			s.prune.queue(b, now.Add(-s.opts.DedupWindow), &pruned)
		}
		if b.Len() == 0 {
			return nil // every event was a duplicate
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("move log head: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: append: %w", err)
	}
	if pruneDue {
		s.prune.done(now, pruned)
	}
	setPositions(events, keys, index, fresh, head)
	return nil
}

// copyEvents stores the fresh events, in their order, at the positions
// after head, and says how many.
func copyEvents(ctx context.Context, tx pgx.Tx, events []store.Event, keys []store.DedupKey, fresh map[store.DedupKey]bool, head int64) (int64, error) {
	rows := make([][]any, 0, len(fresh))
	for i := range events {
		e := &events[i]
		if !fresh[keys[i]] {
			continue
		}
		var warnings any
		if len(e.Warnings) > 0 {
			j, err := json.Marshal(e.Warnings)
			if err != nil {
				return 0, fmt.Errorf("encode warnings: %w", err)
			}
			warnings = string(j)
		}
		rows = append(rows, []any{head + int64(len(rows)) + 1, e.Workspace, e.Source, e.MessageID, e.Type,
			ms(e.ReceivedAt), ms(e.Timestamp), warnings,
			field(e.UserID), field(e.AnonymousID), field(e.PreviousID), field(e.GroupID), field(e.Name), e.Body})
	}
	if len(rows) == 0 {
		return 0, nil
	}
	return tx.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"seq", "workspace", "source", "message_id", "type", "received_at", "timestamp", "warnings",
			"user_id", "anonymous_id", "previous_id", "group_id", "name", "body"},
		pgx.CopyFromRows(rows))
}

func insertQuarantined(b *pgx.Batch, qs []store.Quarantined) {
	var (
		ws, src, ids, code, reason []string
		received                   []time.Time
		raw                        [][]byte
	)
	for _, q := range qs {
		ws, src, ids = append(ws, q.Workspace), append(src, q.Source), append(ids, q.MessageID)
		code, reason = append(code, q.Code), append(reason, q.Reason)
		// raw is NOT NULL: an absent raw message must not fail the
		// whole group.
		r := q.Raw
		if r == nil {
			r = []byte{}
		}
		received, raw = append(received, ms(q.ReceivedAt)), append(raw, r)
	}
	// Ids follow the order given, which RecentQuarantined pages by.
	b.Queue(`INSERT INTO quarantine (workspace, source, received_at, message_id, code, reason, raw)
		SELECT workspace, source, received_at, message_id, code, reason, raw
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::bytea[])
			WITH ORDINALITY AS q(workspace, source, received_at, message_id, code, reason, raw, n)
		ORDER BY n`,
		ws, src, received, ids, code, reason, raw)
}

// sqlLimit reads a negative limit as none, as the embedded store does; PostgreSQL
// would refuse it, and LIMIT NULL is no limit.
func sqlLimit(limit int) any {
	if limit < 0 {
		return nil
	}
	return limit
}

// field is an event's id, group or name as a bytea value: text columns
// cannot hold the NUL that a JSON string may carry, and nil would be NULL.
func field(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}

const eventColumns = "seq, workspace, source, message_id, type, received_at, timestamp, warnings, user_id, anonymous_id, previous_id, group_id, name, body"

// Read implements store.Log.
func (s *Store) Read(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+eventColumns+" FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: read log: %w", err)
	}
	return scanEvents(rows)
}

// RecentEvents implements store.Log.
func (s *Store) RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, "SELECT "+eventColumns+" FROM events WHERE workspace = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
		workspace, before, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: recent events: %w", err)
	}
	return scanEvents(rows)
}

func scanEvents(rows pgx.Rows) ([]store.Event, error) {
	var (
		e                           store.Event
		warnings                    []byte
		user, anon, prev, grp, name []byte
	)
	out, err := collect(rows, []any{&e.Seq, &e.Workspace, &e.Source, &e.MessageID, &e.Type, &e.ReceivedAt, &e.Timestamp, &warnings,
		&user, &anon, &prev, &grp, &name, &e.Body}, func() (store.Event, error) {
		got := e
		got.ReceivedAt, got.Timestamp = got.ReceivedAt.UTC(), got.Timestamp.UTC()
		got.UserID, got.AnonymousID, got.PreviousID, got.GroupID, got.Name = string(user), string(anon), string(prev), string(grp), string(name)
		got.Warnings = nil
		if warnings != nil {
			if err := json.Unmarshal(warnings, &got.Warnings); err != nil {
				return got, fmt.Errorf("decode warnings of event %d: %w", got.Seq, err)
			}
		}
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan events: %w", err)
	}
	return out, nil
}

// RecentQuarantined implements store.Log.
func (s *Store) RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx,
		"SELECT id, workspace, source, received_at, message_id, code, reason, raw FROM quarantine WHERE workspace = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
		workspace, before, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: recent quarantined: %w", err)
	}
	var q store.Quarantined
	out, err := collect(rows, []any{&q.ID, &q.Workspace, &q.Source, &q.ReceivedAt, &q.MessageID, &q.Code, &q.Reason, &q.Raw}, func() (store.Quarantined, error) {
		got := q
		got.ReceivedAt = got.ReceivedAt.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan quarantined: %w", err)
	}
	return out, nil
}

// collect scans every row into dest and appends what row makes of it.
// Scanning a bytea into a []byte that row keeps is safe: pgx allocates a
// new slice for every row.
func collect[T any](rows pgx.Rows, dest []any, row func() (T, error)) ([]T, error) {
	var out []T
	_, err := pgx.ForEachRow(rows, dest, func() error {
		v, err := row()
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
