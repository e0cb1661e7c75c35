package sqlite

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// The shared benchmarks (storetest), which the PostgreSQL backend runs too.

func openBench(b *testing.B) *Store {
	s, err := Open(context.Background(), b.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkAppend100(b *testing.B) { storetest.BenchAppend100(b, openBench(b)) }

func BenchmarkApplyProfiles(b *testing.B) { storetest.BenchApplyProfiles(b, openBench(b)) }

func BenchmarkGroupTraits(b *testing.B) { storetest.BenchGroupTraits(b, openBench(b)) }
