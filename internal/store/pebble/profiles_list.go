package pebble

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// ListGroups implements store.Profiles: it walks the index of the order
// asked and reads each group's record. Text and trait filters are checked
// on the records as they come: no index serves them.
func (s *Store) ListGroups(ctx context.Context, workspace string, q store.GroupQuery) ([]store.Group, string, error) {
	if err := s.enter(); err != nil {
		return nil, "", err
	}
	defer s.leave()
	order, err := q.Order()
	if err != nil {
		return nil, "", fmt.Errorf("pebble: %w", err)
	}
	match, err := groupFilter(q)
	if err != nil {
		return nil, "", err
	}
	limit := store.PageLimit(q.Limit)
	var (
		groups []store.Group
		names  []string
	)
	// One group more than the page tells whether there is a next page.
	take := func(id string, r *profile.Record) bool {
		if match(id, r) {
			groups = append(groups, groupOf(workspace, id, r))
			names = append(names, r.SortName())
		}
		return len(groups) <= limit
	}
	err = s.listByIndex(workspace, order, take)
	if err != nil {
		return nil, "", fmt.Errorf("pebble: list groups: %w", err)
	}
	if len(groups) <= limit {
		return groups, "", nil
	}
	groups = groups[:limit]
	return groups, order.Next(groups[limit-1], names[limit-1]), nil
}

// groupFilter returns the query's text and trait filters as one test.
func groupFilter(q store.GroupQuery) (func(id string, r *profile.Record) bool, error) {
	text := store.FoldText(q.Text)
	want := make(map[string][]byte, len(q.Traits))
	for name, v := range q.Traits {
		var value bytes.Buffer
		if err := json.Compact(&value, v); err != nil {
			return nil, fmt.Errorf("pebble: list groups: %w: trait %q: value is not JSON: %w", store.ErrInvalid, name, err)
		}
		want[spec.FoldKey(name)] = value.Bytes()
	}
	return func(id string, r *profile.Record) bool {
		if text != "" && !strings.Contains(store.FoldText(id), text) && !strings.Contains(r.SortName(), text) {
			return false
		}
		for key, value := range want {
			t := r.Trait(key)
			if t == nil {
				return false
			}
			var stored bytes.Buffer
			if json.Compact(&stored, t.Value) != nil || !bytes.Equal(stored.Bytes(), value) {
				return false
			}
		}
		return true
	}, nil
}

// listByIndex walks one of the orders kept beside the records.
func (s *Store) listByIndex(workspace string, order store.GroupOrder, take func(string, *profile.Record) bool) error {
	kind := map[string]byte{"group_id": orderID, "name": orderName, "first_seen": orderFirstSeen, "last_seen": orderLastSeen}[order.Column]
	prefix := groupOrderPrefix(workspace, kind)
	var start []byte
	if c := order.After; c != nil {
		start = bytes.Clone(prefix)
		switch kind {
		case orderName:
			start = appendString(start, c.Text)
		case orderFirstSeen, orderLastSeen:
			start = appendInt64(start, c.Num)
		}
		start = appendString(start, c.ID)
		if !order.Desc {
			start = prefixEnd(start)
		}
	}
	return s.scanPrefix(prefix, start, order.Desc, func(key, _ []byte) (bool, error) {
		var err error
		switch kind {
		case orderName:
			_, key, err = readString(key)
		case orderFirstSeen, orderLastSeen:
			_, key, err = readInt64(key)
		}
		if err != nil {
			return false, err
		}
		id, _, err := readString(key)
		if err != nil {
			return false, err
		}
		r, err := s.group(workspace, id)
		if err != nil {
			return false, err
		}
		return take(id, r), nil
	})
}

func millis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
