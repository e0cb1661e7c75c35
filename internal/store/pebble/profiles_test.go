package pebble

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

func openForProfiles(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProfiles(t *testing.T) { storetest.RunProfiles(t, openForProfiles) }
