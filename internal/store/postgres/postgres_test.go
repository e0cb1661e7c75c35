package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// testURL is the database the tests use; each test gets a schema of its
// own in it, dropped afterwards.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ROSTER_TEST_DATABASE_URL")
	if u == "" {
		tb.Skip("ROSTER_TEST_DATABASE_URL not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return u
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// freshSchema creates an empty schema, dropped when the test ends, and
// returns the database URL with search_path set to it (pgx sets unknown URL
// parameters on every connection).
func freshSchema(tb testing.TB) string {
	tb.Helper()
	base := testURL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	schema := "roster_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	return withParam(tb, base, "search_path", schema)
}

// withParam adds a parameter to a URL or a key=value DSN.
func withParam(tb testing.TB, dsn, name, value string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " " + name + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse ROSTER_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

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
	return openAt(t, freshSchema(t), opts)
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }
