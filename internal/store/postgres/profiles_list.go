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

// ListGroups implements store.Profiles.
func (s *Store) ListGroups(ctx context.Context, workspace string, gq store.GroupQuery) ([]store.Group, string, error) {
	order, err := gq.Order()
	if err != nil {
		return nil, "", fmt.Errorf("postgres: %w", err)
	}
	col := order.Column
	limit := store.PageLimit(gq.Limit)

	var q query
	ws := q.arg(workspace)
	q.where = append(q.where, "g.workspace = "+ws)
	if gq.Text != "" {
		// groups.name is stored lower-cased; ids are matched lower-cased
		// (as far as the database's lower() folds) and as typed.
		lower := q.arg(strings.ToLower(gq.Text))
		q.where = append(q.where, fmt.Sprintf("(strpos(lower(g.group_id), %s) > 0 OR strpos(g.name, %s) > 0 OR strpos(g.group_id, %s) > 0)",
			lower, lower, q.arg(gq.Text)))
	}
	for _, name := range slices.Sorted(maps.Keys(gq.Traits)) {
		var value bytes.Buffer
		if err := json.Compact(&value, gq.Traits[name]); err != nil {
			return nil, "", fmt.Errorf("postgres: list groups: %w: trait %q: value is not JSON: %w", store.ErrInvalid, name, err)
		}
		// Scalars are stored without inner spaces, so their text compares
		// as is, through the index on the value's hash; objects and arrays
		// are stored as sent, and compared minified.
		v := q.arg(value.String())
		match := "md5(value) = md5(" + v + ") AND value = " + v
		if c := value.Bytes()[0]; c == '{' || c == '[' {
			match = "compact = " + v
		}
		q.where = append(q.where, "g.group_id IN (SELECT group_id FROM group_traits WHERE workspace = "+ws+" AND key = "+
			q.arg(spec.FoldKey(name))+" AND "+match+")")
	}
	op, dir := ">", "ASC"
	if order.Desc {
		op, dir = "<", "DESC"
	}
	orderBy := "g.group_id " + dir
	if col != "group_id" {
		orderBy = "g." + col + " " + dir + ", " + orderBy
	}
	if c := order.After; c != nil {
		switch col {
		case "group_id":
			q.where = append(q.where, "g.group_id "+op+" "+q.arg(c.ID))
		case "name":
			q.where = append(q.where, "(g.name, g.group_id) "+op+" ("+q.arg(c.Text)+", "+q.arg(c.ID)+")")
		default:
			q.where = append(q.where, "(g."+col+", g.group_id) "+op+" ("+q.arg(timeOf(c.Num))+", "+q.arg(c.ID)+")")
		}
	}
	// One row more than the page tells whether there is a next page.
	rows, err := s.pool.Query(ctx, "SELECT "+groupColumns+" FROM groups g WHERE "+strings.Join(q.where, " AND ")+
		" ORDER BY "+orderBy+" LIMIT "+q.arg(limit+1), q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list groups: %w", err)
	}
	defer rows.Close()
	var (
		groups []store.Group
		names  []string
	)
	for rows.Next() {
		g, name, err := scanGroup(rows)
		if err != nil {
			return nil, "", fmt.Errorf("postgres: scan group: %w", err)
		}
		groups = append(groups, g)
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("postgres: list groups: %w", err)
	}
	if len(groups) <= limit {
		return groups, "", nil
	}
	groups = groups[:limit]
	last := groups[limit-1]
	return groups, order.Next(last, names[limit-1]), nil
}
