package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/spec"
)

const (
	// backfillBatch is how many rows one backfill transaction fills: small
	// enough that a transaction stays short, large enough that a log of
	// millions takes few round trips.
	backfillBatch = 5000
	// backfillLogEvery spaces the progress lines of a long backfill.
	backfillLogEvery = 10 * time.Second
)

// backfillEventFields fills the ids, group and name of the rows logged
// before the columns existed (up to event_fields_backfill.upto) from their
// bodies, by the rules ingestion computed them with (spec.ReadStored). Open
// runs it before the profile processor can read those rows. Each batch
// locks the progress row, so nodes opening together take turns and each
// batch is done once; a node stopped midway leaves the rest to the next.
func backfillEventFields(ctx context.Context, pool *pgxpool.Pool, batch int, log *slog.Logger) error {
	var done, upto int64
	if err := pool.QueryRow(ctx, "SELECT done, upto FROM event_fields_backfill WHERE id = 1").Scan(&done, &upto); err != nil {
		return fmt.Errorf("postgres: read event fields backfill: %w", err)
	}
	if done >= upto {
		return nil
	}
	log.Info("postgres: filling the ids, group and name of events logged before they were stored", "from_seq", done, "to_seq", upto)
	start := time.Now()
	logged := start
	filled := 0
	for done < upto {
		var n int
		var err error
		if done, upto, n, err = backfillStep(ctx, pool, batch); err != nil {
			return err
		}
		filled += n
		if time.Since(logged) >= backfillLogEvery {
			log.Info("postgres: filling event fields", "seq", done, "to_seq", upto, "filled", filled)
			logged = time.Now()
		}
	}
	log.Info("postgres: filled event fields", "filled", filled, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// backfillStep fills the next batch after the progress row's done, and
// returns the new done, upto and how many rows it filled.
func backfillStep(ctx context.Context, pool *pgxpool.Pool, batch int) (done, upto int64, n int, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT done, upto FROM event_fields_backfill WHERE id = 1 FOR UPDATE").Scan(&done, &upto); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if done >= upto {
			return nil // another node finished it while this one waited
		}
		rows, err := tx.Query(ctx, "SELECT seq, body FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", done, upto, batch)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		var (
			seq                         int64
			body                        []byte
			seqs                        []int64
			user, anon, prev, grp, name [][]byte
		)
		_, err = pgx.ForEachRow(rows, []any{&seq, &body}, func() error {
			var r spec.Routing
			// A body that is not JSON cannot have come from ingestion;
			// it gets no fields rather than stopping the server.
			if m, err := spec.ReadStored(body); err == nil {
				r = m.Routing
			}
			seqs = append(seqs, seq)
			user, anon, prev = append(user, field(r.UserID)), append(anon, field(r.AnonymousID)), append(prev, field(r.PreviousID))
			grp, name = append(grp, field(r.GroupID)), append(name, field(r.Name))
			return nil
		})
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		next := upto // no row left up to upto: seqs may have gaps
		if len(seqs) == batch {
			next = seqs[len(seqs)-1]
		}
		b := &pgx.Batch{}
		if len(seqs) > 0 {
			b.Queue(`UPDATE events SET user_id = u.user_id, anonymous_id = u.anonymous_id, previous_id = u.previous_id,
					group_id = u.group_id, name = u.name
				FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[])
					AS u(seq, user_id, anonymous_id, previous_id, group_id, name)
				WHERE events.seq = u.seq`, seqs, user, anon, prev, grp, name)
		}
		b.Queue("UPDATE event_fields_backfill SET done = $1 WHERE id = 1", next)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("update events: %w", err)
		}
		done, n = next, len(seqs)
		return nil
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("postgres: backfill event fields: %w", err)
	}
	return done, upto, n, nil
}
