package storetest

import (
	"context"
	"testing"

	"roster/internal/store"
)

// testSizes: a backend that reports its size reports every part, and a
// total that covers what it stored.
func testSizes(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	sizer, ok := s.(store.Sizer)
	if !ok {
		t.Skip("the backend does not report its size")
	}
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1"), Event("ws", "web", "m2")}, nil)
	sizes, err := sizer.Sizes(context.Background())
	if err != nil {
		t.Fatalf("Sizes: %v", err)
	}
	for _, part := range []string{"log", "quarantine", "profiles", "outbox", "other", "total"} {
		n, ok := sizes[part]
		if !ok || n < 0 {
			t.Errorf("part %q: %d, %v; want a size", part, n, ok)
		}
	}
	if sizes["total"] <= 0 {
		t.Errorf("total %d after an append; want more than 0", sizes["total"])
	}
}
