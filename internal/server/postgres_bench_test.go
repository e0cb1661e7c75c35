package server

import (
	"sync/atomic"
	"testing"

	"roster/internal/store/postgres/pgtest"
)

// Ingestion on PostgreSQL with one and two nodes, next to the embedded
// store, in one run (whole servers, processors running):
//
//	go test -run '^$' -bench 'IngestFull(NoDestination|Postgres)' -benchtime 5s ./internal/server/

func BenchmarkIngestFullPostgres1Node(b *testing.B) {
	url := serveFull(b, pgtest.FreshSchema(b), "")
	drive(b, []string{url + "/v1/batch"}, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}

func BenchmarkIngestFullPostgres2Nodes(b *testing.B) {
	db := pgtest.FreshSchema(b)
	urls := []string{serveFull(b, db, "") + "/v1/batch", serveFull(b, db, "") + "/v1/batch"}
	drive(b, urls, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}
