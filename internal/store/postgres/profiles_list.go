package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// query builds a statement's WHERE clause and its numbered arguments.
type query struct {
	where []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// traitFilter is a trait a listed group must have, its value compacted.
type traitFilter struct {
	key   string
	value []byte
}

// match compares values as JSON text (1000 is not 1e3); objects and
// arrays, stored as sent, are minified first.
func (f traitFilter) match(r *profile.Record) bool {
	t := r.Trait(f.key)
	if t == nil {
		return false
	}
	if c := f.value[0]; c != '{' && c != '[' {
		return bytes.Equal(t.Value, f.value)
	}
	var v bytes.Buffer
	return json.Compact(&v, t.Value) == nil && bytes.Equal(v.Bytes(), f.value)
}

// listChunk is how many groups ListGroups reads at a time when trait
// filters, which it checks on the records, may leave most of them out.
const listChunk = 500

// ListGroups implements store.Profiles. Sort and search use the columns
// kept beside the record; trait filters are checked on the records, since
// no trait is indexed, so a filtered page may read many groups.
func (s *Store) ListGroups(ctx context.Context, workspace string, gq store.GroupQuery) ([]store.Group, string, error) {
	order, err := gq.Order()
	if err != nil {
		return nil, "", fmt.Errorf("postgres: %w", err)
	}
	limit := store.PageLimit(gq.Limit)
	var filters []traitFilter
	for _, name := range slices.Sorted(maps.Keys(gq.Traits)) {
		var value bytes.Buffer
		if err := json.Compact(&value, gq.Traits[name]); err != nil {
			return nil, "", fmt.Errorf("postgres: list groups: %w: trait %q: value is not JSON: %w", store.ErrInvalid, name, err)
		}
		filters = append(filters, traitFilter{spec.FoldKey(name), value.Bytes()})
	}
	chunk := limit + 1 // one row more than the page tells whether there is a next page
	if len(filters) > 0 {
		chunk = max(chunk, listChunk)
	}
	var (
		groups []store.Group
		names  []string
	)
	after := order.After
	for len(groups) <= limit {
		sql, args := listQuery(workspace, gq.Text, order, after, chunk)
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, "", fmt.Errorf("postgres: list groups: %w", err)
		}
		var (
			id, name string
			raw      []byte
			n        int
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &raw, &name}, func() error {
			n++
			if len(groups) > limit {
				return nil
			}
			r, err := profile.Unmarshal(raw)
			if err != nil {
				return fmt.Errorf("group %q: %w", id, err)
			}
			g := groupOf(workspace, id, r)
			after = cursorAt(order, g, name)
			for _, f := range filters {
				if !f.match(r) {
					return nil
				}
			}
			groups, names = append(groups, g), append(names, name)
			return nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("postgres: list groups: %w", err)
		}
		if n < chunk {
			break
		}
	}
	if len(groups) <= limit {
		return groups, "", nil
	}
	groups = groups[:limit]
	return groups, order.Next(groups[limit-1], names[limit-1]), nil
}

// cursorAt is the position of group g in order, to read on from.
func cursorAt(order store.GroupOrder, g store.Group, name string) *store.GroupCursor {
	c := &store.GroupCursor{Sort: order.Sort, ID: g.ID, Text: name}
	switch order.Column {
	case "first_seen":
		c.Num = g.FirstSeen.UnixMilli()
	case "last_seen":
		c.Num = g.LastSeen.UnixMilli()
	}
	return c
}

// listQuery selects up to n groups of a workspace in order, after a
// position (nil: from the start), that match text.
func listQuery(workspace, text string, order store.GroupOrder, after *store.GroupCursor, n int) (string, []any) {
	col := order.Column
	if col == "group_id" {
		col = "id"
	}
	var q query
	q.where = append(q.where, "g.workspace = "+q.arg(workspace), "g.kind = 'g'")
	if text != "" {
		// name and id_folded were folded in Go, as the text is here.
		folded := q.arg(store.FoldText(text))
		q.where = append(q.where, fmt.Sprintf("(strpos(g.id_folded, %s) > 0 OR strpos(g.name, %s) > 0)", folded, folded))
	}
	op, dir := ">", "ASC"
	if order.Desc {
		op, dir = "<", "DESC"
	}
	orderBy := "g.id " + dir
	if col != "id" {
		orderBy = "g." + col + " " + dir + ", " + orderBy
	}
	if c := after; c != nil {
		switch col {
		case "id":
			q.where = append(q.where, "g.id "+op+" "+q.arg(c.ID))
		case "name":
			q.where = append(q.where, "(g.name, g.id) "+op+" ("+q.arg(c.Text)+", "+q.arg(c.ID)+")")
		default:
			q.where = append(q.where, "(g."+col+", g.id) "+op+" ("+q.arg(timeOf(c.Num))+", "+q.arg(c.ID)+")")
		}
	}
	return "SELECT g.id, g.record, g.name FROM profiles g WHERE " + strings.Join(q.where, " AND ") +
		" ORDER BY " + orderBy + " LIMIT " + q.arg(n), q.args
}
