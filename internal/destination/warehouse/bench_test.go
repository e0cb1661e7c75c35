package warehouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
)

// copyFloor times the least any loader pays on this database: COPY of n
// rows as wide as a tracks row (ids, four timestamps, three context
// columns) into one table, in batches of 5000, one transaction each. The
// machine is shared: the ratio of the two figures is what to compare.
func copyFloor(b *testing.B, h *harness, n int) time.Duration {
	ctx := context.Background()
	table := pgx.Identifier{h.schema, "copy_floor"}
	if _, err := h.db.Exec(ctx, "CREATE TABLE "+table.Sanitize()+` (id text PRIMARY KEY, received_at timestamptz, sent_at timestamptz,
		"timestamp" timestamptz, original_timestamp timestamptz, uuid_ts timestamptz, user_id text, anonymous_id text,
		context_library_name text, context_library_version text, context_ip text, event text, event_text text)`); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	start := time.Now()
	for done := 0; done < n; {
		rows := make([][]any, 0, 5000)
		for ; done < n && len(rows) < 5000; done++ {
			rows = append(rows, []any{fmt.Sprintf("m%d", done), now, now, now, now, now, "u1", nil, "analytics.js", "2.1.0", "10.0.0.1", "event_1", "Event 1"})
		}
		tx, err := h.db.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.CopyFrom(ctx, table, []string{"id", "received_at", "sent_at", "timestamp", "original_timestamp", "uuid_ts", "user_id",
			"anonymous_id", "context_library_name", "context_library_version", "context_ip", "event", "event_text"}, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkWarehouseLoad loads b.N logged events of a mix of calls into
// the local PostgreSQL (ROSTER_TEST_DATABASE_URL), profiles applied
// beforehand, and reports the events loaded per second: call rows,
// accounts, users and memberships.
//
//	go test -run '^$' -bench WarehouseLoad -benchtime 200000x ./internal/destination/warehouse/
func BenchmarkWarehouseLoad(b *testing.B) {
	h := newHarness(b, pgtest.FreshSchema(b), "")
	var calls []call
	for i := range b.N {
		u, g := fmt.Sprintf("u%d", i%20000), fmt.Sprintf("g%d", i%2000)
		ctx := `"context":{"library":{"name":"analytics.js","version":"2.1.0"},"ip":"10.0.0.1","groupId":"` + g + `"}`
		at := time.Duration(i) * time.Millisecond
		switch i % 20 {
		case 0, 1, 2:
			calls = append(calls, call{"group", "", at, fmt.Sprintf(`"userId":%q,"groupId":%q,"traits":{"plan":"p%d","seats":%d,"address":{"city":"c%d"}},%s`, u, g, i%7, i%300, i%50, ctx)})
		case 3, 4, 5:
			calls = append(calls, call{"identify", "", at, fmt.Sprintf(`"userId":%q,"traits":{"email":"%s@x.io","score":%d},%s`, u, u, i, ctx)})
		case 6, 7:
			calls = append(calls, call{"page", "", at, fmt.Sprintf(`"userId":%q,"name":"Home","properties":{"path":"/","title":"Home"},%s`, u, ctx)})
		default:
			calls = append(calls, call{"track", "", at, fmt.Sprintf(`"userId":%q,"event":"Event %d","properties":{"value":%d,"currency":"USD"},%s`, u, i%5, i, ctx)})
		}
		if len(calls) == 5000 {
			h.send(calls...)
			calls = nil
		}
	}
	if len(calls) > 0 {
		h.send(calls...)
	}
	h.process()
	b.ResetTimer()
	start := time.Now()
	h.deliver()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	floor := copyFloor(b, h, b.N)
	b.ReportMetric(float64(b.N)/floor.Seconds(), "copy-floor-rows/s")
	b.ReportMetric(floor.Seconds()/elapsed.Seconds(), "ratio-to-floor")
	// Every group of the profile store has its row.
	var n, want int
	h.db.QueryRow(context.Background(), "SELECT count(*) FROM "+h.schema+".accounts").Scan(&n) //nolint:errcheck
	for after := ""; ; {
		gs, next, err := h.st.ListGroups(context.Background(), "ws", store.GroupQuery{After: after, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		want += len(gs)
		if after = next; next == "" {
			break
		}
	}
	if n != want {
		b.Errorf("accounts = %d, the profile store has %d groups", n, want)
	}
}
