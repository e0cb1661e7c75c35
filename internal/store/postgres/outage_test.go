package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// openThroughProxy opens a store in a fresh schema whose connections go
// through a proxy, with short timeouts.
func openThroughProxy(t *testing.T) (*Store, *pgtest.Proxy) {
	t.Helper()
	u, p := pgtest.ThroughProxy(t)
	s := openAt(t, u, store.Options{})
	s.writeTimeout, s.pingTimeout = time.Second, 500*time.Millisecond
	return s, p
}

func appendOne(s *Store, id string) (time.Duration, error) {
	start := time.Now()
	err := s.Append(context.Background(), []store.Event{storetest.Event("ws", "web", id)}, nil)
	return time.Since(start), err
}

// An unreachable database must turn Append (answered with a 503) and Ping
// (/ready) into errors within their timeouts, never a hang; when it is back
// the pool reconnects by itself, and what was refused can be sent again.
func TestOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*pgtest.Proxy)
	}{
		{"database down", (*pgtest.Proxy).Refuse},
		{"network partition", (*pgtest.Proxy).Stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p := openThroughProxy(t)
			if _, err := appendOne(s, "before"); err != nil {
				t.Fatalf("Append: %v", err)
			}
			tc.fail(p)
			// Bounded by writeTimeout (1 s), and by the connect timeout
			// (1 s) for a new connection.
			const bound = 3 * time.Second
			for _, id := range []string{"during-1", "during-2"} {
				took, err := appendOne(s, id)
				if err == nil {
					t.Fatalf("Append %s succeeded while the database was unreachable", id)
				}
				if took > bound {
					t.Errorf("Append %s failed after %v, want within %v", id, took, bound)
				}
			}
			start := time.Now()
			if err := s.Ping(context.Background()); err == nil {
				t.Error("Ping succeeded while the database was unreachable")
			} else if took := time.Since(start); took > time.Second {
				t.Errorf("Ping failed after %v, want within 1s", took)
			}
			p.Restore()
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := appendOne(s, "during-1")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Append still fails 10s after the database came back: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping after recovery: %v", err)
			}
			evs, err := s.Read(context.Background(), 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range evs {
				ids = append(ids, e.MessageID)
			}
			if fmt.Sprint(ids) != "[before during-1]" && fmt.Sprint(ids) != "[before during-2 during-1]" {
				t.Errorf("log after recovery = %v, want before, during-1 (during-2 may have committed before the failure showed)", ids)
			}
		})
	}
}
