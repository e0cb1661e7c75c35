package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultPageSize stands in for a missing limit: every paged read takes a
// cursor, so a bounded page never hides rows, while an unbounded one could
// load a whole big group into memory.
const DefaultPageSize = 100

// PageLimit is limit, or DefaultPageSize when it is 0 or less.
func PageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return limit
}

// GroupOrder is how ListGroups pages, read from a GroupQuery: the same in
// every backend, so that a cursor means the same everywhere.
type GroupOrder struct {
	// Sort is the query's sort, "id" when it named none.
	Sort string
	// Column is the groups column sorted on: group_id, name, first_seen
	// or last_seen (names too are compared lower-cased), then group_id.
	Column string
	Desc   bool
	// After is where the previous page ended; nil on the first page.
	After *GroupCursor
}

// GroupCursor is the position after the last row of a page: its sort value
// and id. Keyset paging on it neither repeats nor skips groups when others
// are written between pages, which OFFSET would. Sort is kept so that a
// cursor is not silently read under another order.
type GroupCursor struct {
	Sort string `json:"s"`
	Text string `json:"t,omitempty"` // name
	Num  int64  `json:"n,omitempty"` // first_seen, last_seen in Unix ms
	ID   string `json:"i"`
}

// Order reads the query's sort and cursor; a mistake in either is
// ErrInvalid.
func (q GroupQuery) Order() (GroupOrder, error) {
	o := GroupOrder{Sort: q.Sort}
	if o.Sort == "" {
		o.Sort = "id"
	}
	name, desc := strings.CutPrefix(o.Sort, "-")
	o.Desc = desc
	switch name {
	case "id":
		o.Column = "group_id"
	case "name", "first_seen", "last_seen":
		o.Column = name
	default:
		return o, fmt.Errorf("list groups: %w: unknown sort %q: want id, name, first_seen or last_seen, optionally prefixed with -", ErrInvalid, q.Sort)
	}
	if q.After == "" {
		return o, nil
	}
	var c GroupCursor
	b, err := base64.RawURLEncoding.DecodeString(q.After)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return o, fmt.Errorf("list groups: malformed cursor: %w: %w", ErrInvalid, err)
	}
	if c.Sort != o.Sort {
		return o, fmt.Errorf("list groups: %w: cursor is for sort %q, not %q", ErrInvalid, c.Sort, o.Sort)
	}
	o.After = &c
	return o, nil
}

// Next is the cursor of the page that follows one ending with last, whose
// stored (lower-cased) name is name.
func (o GroupOrder) Next(last Group, name string) string {
	c := GroupCursor{Sort: o.Sort, ID: last.ID}
	switch o.Column {
	case "name":
		c.Text = name
	case "first_seen":
		c.Num = last.FirstSeen.UnixMilli()
	case "last_seen":
		c.Num = last.LastSeen.UnixMilli()
	}
	b, _ := json.Marshal(c) // strings and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}
