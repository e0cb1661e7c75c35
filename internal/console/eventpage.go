package console

import (
	"fmt"
	"net/url"

	"roster/internal/store"
)

// eventPage reads the events page asked for in the "events" parameter,
// "at.seq" of the last event of the page before: newest first, as the
// Profile API lists them.
func eventPage(q url.Values) store.EventPage {
	var after store.EventPosition
	if _, err := fmt.Sscanf(q.Get("events"), "%d.%d", &after.At, &after.Seq); err != nil || after.Seq < 0 {
		after = store.EventPosition{}
	}
	return store.EventPage{After: after, Limit: eventsPerPage + 1}
}

// nextEvents is the "events" parameter of the page after the one that
// ends with e.
func nextEvents(e store.Event) string {
	p := store.PositionOf(e)
	return fmt.Sprintf("%d.%d", p.At, p.Seq)
}
