package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/binrec"
	"roster/internal/store"
)

// A destination's state lives under prefixOutbox, one kind byte then the
// destination:
//
//	o c dest                → cursor, delivered count
//	o r dest seq            → a scheduled retry
//	o t dest nextAt seq     → nil: the retries in the order they come due
//	o x dest seq            → a dead letter
//
// Writes are not synced: like profiles, deliveries are redone from the
// cursor, and the next synced log commit carries them to the disk (the
// WAL is one sequence). A crash may repeat a round, which delivery
// tolerates (at least once).
const (
	outboxCursor = 'c'
	outboxRetry  = 'r'
	outboxDue    = 't'
	outboxDead   = 'x'
)

func outboxPrefix(kind byte, dest string) []byte {
	return appendString([]byte{prefixOutbox, kind}, dest)
}

func outboxKey(kind byte, dest string, seq int64) []byte {
	return appendInt64(outboxPrefix(kind, dest), seq)
}

func dueKey(dest string, next time.Time, seq int64) []byte {
	return appendInt64(appendInt64(outboxPrefix(outboxDue, dest), next.UnixMilli()), seq)
}

type destination struct{ cursor, delivered int64 }

func (s *Store) destination(dest string) (destination, bool, error) {
	v, closer, err := s.db.Get(outboxPrefix(outboxCursor, dest))
	if errors.Is(err, pebble.ErrNotFound) {
		return destination{}, false, nil
	}
	if err != nil {
		return destination{}, false, fmt.Errorf("pebble: delivery cursor: %w", err)
	}
	defer closer.Close()
	d := binrec.NewReader(v)
	out := destination{cursor: d.Varint(), delivered: d.Varint()}
	if d.Err() != nil {
		return destination{}, false, fmt.Errorf("pebble: delivery cursor: %w", d.Err())
	}
	return out, true, nil
}

func putDestination(b *pebble.Batch, dest string, d destination) error {
	v := binary.AppendVarint(binary.AppendVarint(nil, d.cursor), d.delivered)
	return b.Set(outboxPrefix(outboxCursor, dest), v, nil)
}

// StartDelivery implements store.Outbox.
func (s *Store) StartDelivery(ctx context.Context, dest string, at int64) error {
	return s.writeOutbox(func(b *pebble.Batch) error {
		_, ok, err := s.destination(dest)
		if err != nil || ok {
			return err
		}
		return putDestination(b, dest, destination{cursor: at})
	})
}

// writeOutbox runs fill, which reads the outbox and writes a batch, under
// the outbox's lock, and commits the batch.
func (s *Store) writeOutbox(fill func(b *pebble.Batch) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.outboxMu.Lock()
	defer s.outboxMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := fill(b); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pebble: commit deliveries: %w", err)
	}
	return nil
}

// DeliveryCursor implements store.Outbox.
func (s *Store) DeliveryCursor(ctx context.Context, dest string) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	d, _, err := s.destination(dest)
	return d.cursor, err
}

// RecordDeliveries implements store.Outbox.
func (s *Store) RecordDeliveries(ctx context.Context, dest string, upTo int64, o store.DeliveryOutcome) error {
	return s.writeOutbox(func(b *pebble.Batch) error {
		d, _, err := s.destination(dest)
		if err != nil {
			return err
		}
		d.cursor = max(d.cursor, upTo, 0)
		d.delivered += int64(len(o.Delivered))
		if err := putDestination(b, dest, d); err != nil {
			return fmt.Errorf("pebble: move delivery cursor: %w", err)
		}
		for _, seq := range o.Delivered {
			if err := s.settle(b, dest, seq); err != nil {
				return err
			}
		}
		var v []byte
		for i := range o.Retry {
			r := &o.Retry[i]
			if err := s.settle(b, dest, r.Seq); err != nil {
				return err
			}
			v = appendDelivery(v[:0], r)
			if err := errors.Join(b.Set(outboxKey(outboxRetry, dest, r.Seq), v, nil),
				b.Set(dueKey(dest, r.NextAt, r.Seq), nil, nil)); err != nil {
				return fmt.Errorf("pebble: schedule retry: %w", err)
			}
		}
		for i := range o.Dead {
			x := &o.Dead[i]
			if err := s.settle(b, dest, x.Seq); err != nil {
				return err
			}
			v = appendDelivery(v[:0], x)
			if err := b.Set(outboxKey(outboxDead, dest, x.Seq), v, nil); err != nil {
				return fmt.Errorf("pebble: dead letter: %w", err)
			}
		}
		return nil
	})
}

// settle deletes seq's retry, its place in the due order and its dead
// letter, whichever exist, in b. The retry's due time is read from the
// database: b holds none that this batch wrote for seq, as an outcome
// names each seq once.
func (s *Store) settle(b *pebble.Batch, dest string, seq int64) error {
	key := outboxKey(outboxRetry, dest, seq)
	v, closer, err := s.db.Get(key)
	if err == nil {
		r, derr := decodeDelivery(dest, seq, v)
		closer.Close()
		if derr != nil {
			return fmt.Errorf("pebble: settle delivery %d: %w", seq, derr)
		}
		if err := errors.Join(b.Delete(key, nil), b.Delete(dueKey(dest, r.NextAt, seq), nil)); err != nil {
			return fmt.Errorf("pebble: settle delivery %d: %w", seq, err)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("pebble: settle delivery %d: %w", seq, err)
	}
	if err := b.Delete(outboxKey(outboxDead, dest, seq), nil); err != nil {
		return fmt.Errorf("pebble: settle delivery %d: %w", seq, err)
	}
	return nil
}

// DueRetries implements store.Outbox.
func (s *Store) DueRetries(ctx context.Context, dest string, now time.Time, limit int) ([]store.Delivery, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := outboxPrefix(outboxDue, dest)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: prefix,
		UpperBound: appendInt64(append([]byte(nil), prefix...), now.UnixMilli()+1),
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: due retries: %w", err)
	}
	defer it.Close()
	limit = store.PageLimit(limit)
	var out []store.Delivery
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		_, rest, err := readInt64(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: due retries: %w", err)
		}
		seq, _, err := readInt64(rest)
		if err != nil {
			return nil, fmt.Errorf("pebble: due retries: %w", err)
		}
		d, err := s.delivery(outboxRetry, dest, seq)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: due retries: %w", err)
	}
	return out, nil
}

func (s *Store) delivery(kind byte, dest string, seq int64) (store.Delivery, error) {
	v, closer, err := s.db.Get(outboxKey(kind, dest, seq))
	if err != nil {
		return store.Delivery{}, fmt.Errorf("pebble: delivery %d: %w", seq, err)
	}
	defer closer.Close()
	d, err := decodeDelivery(dest, seq, v)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("pebble: delivery %d: %w", seq, err)
	}
	return d, nil
}

// DeadLetters implements store.Outbox.
func (s *Store) DeadLetters(ctx context.Context, dest string, before int64, limit int) ([]store.Delivery, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := outboxPrefix(outboxDead, dest)
	upper := prefixEnd(prefix)
	if before > 0 {
		upper = appendInt64(append([]byte(nil), prefix...), before)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: dead letters: %w", err)
	}
	defer it.Close()
	limit = store.PageLimit(limit)
	var out []store.Delivery
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		seq, _, err := readInt64(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: dead letters: %w", err)
		}
		d, err := decodeDelivery(dest, seq, it.Value())
		if err != nil {
			return nil, fmt.Errorf("pebble: dead letter %d: %w", seq, err)
		}
		out = append(out, d)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: dead letters: %w", err)
	}
	return out, nil
}

// Redrive implements store.Outbox.
func (s *Store) Redrive(ctx context.Context, dest string, now time.Time) (int, error) {
	var n int
	err := s.writeOutbox(func(b *pebble.Batch) error {
		dead, err := s.allDeadLetters(ctx, dest)
		if err != nil {
			return err
		}
		var v []byte
		for i := range dead {
			d := &dead[i]
			d.Attempts, d.NextAt = 0, now
			v = appendDelivery(v[:0], d)
			if err := errors.Join(b.Delete(outboxKey(outboxDead, dest, d.Seq), nil),
				b.Set(outboxKey(outboxRetry, dest, d.Seq), v, nil),
				b.Set(dueKey(dest, now, d.Seq), nil, nil)); err != nil {
				return fmt.Errorf("pebble: redrive: %w", err)
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}

// allDeadLetters reads every dead letter of dest, for Redrive.
func (s *Store) allDeadLetters(ctx context.Context, dest string) ([]store.Delivery, error) {
	prefix := outboxPrefix(outboxDead, dest)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("pebble: redrive: %w", err)
	}
	defer it.Close()
	var out []store.Delivery
	for it.First(); it.Valid(); it.Next() {
		seq, _, err := readInt64(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: redrive: %w", err)
		}
		d, err := decodeDelivery(dest, seq, it.Value())
		if err != nil {
			return nil, fmt.Errorf("pebble: dead letter %d: %w", seq, err)
		}
		out = append(out, d)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: redrive: %w", err)
	}
	return out, nil
}

// DeliveryStats implements store.Outbox. It counts the retries and dead
// letters key by key: they are few unless
// a destination is down, and stats are read by people, not per event.
func (s *Store) DeliveryStats(ctx context.Context, dest string) (store.DeliveryStats, error) {
	if err := s.enter(); err != nil {
		return store.DeliveryStats{}, err
	}
	defer s.leave()
	d, _, err := s.destination(dest)
	if err != nil {
		return store.DeliveryStats{}, err
	}
	st := store.DeliveryStats{Cursor: d.cursor, Delivered: d.delivered}
	if st.Retrying, err = s.count(ctx, outboxPrefix(outboxRetry, dest)); err != nil {
		return store.DeliveryStats{}, err
	}
	if st.Dead, err = s.count(ctx, outboxPrefix(outboxDead, dest)); err != nil {
		return store.DeliveryStats{}, err
	}
	return st, nil
}

func (s *Store) count(ctx context.Context, prefix []byte) (int, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix), KeyTypes: pebble.IterKeyTypePointsOnly})
	if err != nil {
		return 0, fmt.Errorf("pebble: delivery stats: %w", err)
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("pebble: delivery stats: %w", err)
	}
	return n, nil
}
