package profile_test

import (
	"testing"
	"time"

	"roster/internal/profile"
	"roster/internal/store"
)

// BenchmarkFromEvent derives the update of a group call with the traits
// the spec's example sends (reserved ones under other spellings, a nested
// address), as the processor does for every event before merging.
func BenchmarkFromEvent(b *testing.B) {
	e := store.Event{Seq: 1, Workspace: "default", Source: "web", MessageID: "m-1", Type: "group",
		Timestamp: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		Body: []byte(`{"type":"group","userId":"u-42","groupId":"g-7","traits":{"name":"Initech","industry":"Technology",` +
			`"employees":329,"plan":"enterprise","total billed":830,"created_at":"2015-02-23T22:28:55.111Z",` +
			`"address":{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"}},` +
			`"context":{"ip":"8.8.8.8"},"timestamp":"2024-05-01T00:00:00Z"}`)}
	b.ReportAllocs()
	for b.Loop() {
		u, err := profile.FromEvent(e)
		if err != nil || len(u.Traits) != 7 {
			b.Fatalf("FromEvent = %d traits, %v", len(u.Traits), err)
		}
	}
}
