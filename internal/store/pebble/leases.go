package pebble

import (
	"context"
	"sync"
	"time"
)

// leaseTable holds the leases in memory: one process has the data
// directory (it is locked), so nothing outside it could hold one, and a
// lease need not survive a restart (every job of the process stopped).
type leaseTable struct {
	mu   sync.Mutex
	held map[string]lease
}

type lease struct {
	holder  string
	expires time.Time
}

// Lease implements store.Leases.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.opts.Now()
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.held[name]; ok && l.holder != holder && !l.expires.Before(now) {
		return false, nil
	}
	if t.held == nil {
		t.held = make(map[string]lease)
	}
	t.held[name] = lease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// Release implements store.Leases.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.held[name]; ok && l.holder == holder {
		delete(t.held, name)
	}
	return nil
}
