package postgres

import (
	"testing"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// The shared benchmarks (storetest), against PostgreSQL; the embedded
// backend runs the same ones.

func BenchmarkAppend100(b *testing.B) {
	storetest.BenchAppend100(b, openAt(b, pgtest.FreshSchema(b), store.Options{}))
}

func BenchmarkApplyProfiles(b *testing.B) {
	storetest.BenchApplyProfiles(b, openAt(b, pgtest.FreshSchema(b), store.Options{}))
}

func BenchmarkGroupTraits(b *testing.B) {
	storetest.BenchGroupTraits(b, openAt(b, pgtest.FreshSchema(b), store.Options{}))
}
