package postgres

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openAt opens a store on url and closes it when the test ends.
func openAt(tb testing.TB, url string, opts store.Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url, opts, discard())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func open(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	return openAt(t, pgtest.FreshSchema(t), opts)
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }
