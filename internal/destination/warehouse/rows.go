package warehouse

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"roster/internal/destination"
)

// row is one row of a table, its values not yet cast to the columns'
// types. A row has a few dozen columns: a slice searched from the end is
// cheaper than a map.
type row struct {
	id         string
	receivedAt time.Time
	fields     []field
}

type field struct {
	col   string
	value any
}

func newRow(id string, receivedAt time.Time) *row {
	return &row{id: id, receivedAt: receivedAt, fields: make([]field, 0, 16)}
}

// set sets a column's value; a column set twice keeps the last value.
func (r *row) set(col string, v any) {
	for i := len(r.fields) - 1; i >= 0; i-- {
		if r.fields[i].col == col {
			r.fields[i].value = v
			return
		}
	}
	r.fields = append(r.fields, field{col, v})
}

// get returns a column's value.
func (r *row) get(col string) (any, bool) {
	for _, f := range r.fields {
		if f.col == col {
			return f.value, true
		}
	}
	return nil, false
}

// discard is a value that could not be loaded as sent: a name that
// collides with a reserved column or has no letters, or a value its
// column's type cannot hold. It is kept whole in the discards table.
type discard struct {
	table, column, value, rowID string
	receivedAt                  time.Time
	reason                      string
}

// Tables every source's schema has, whatever it has received.
const (
	tableIdentifies  = "identifies"
	tableGroups      = "groups"
	tableTracks      = "tracks"
	tablePages       = "pages"
	tableScreens     = "screens"
	tableAliases     = "aliases"
	tableUsers       = "users"
	tableAccounts    = "accounts"
	tableMemberships = "memberships"
	tableDiscards    = "discards"
)

// fixedTables are the names a track event's table may not take; Segment
// keeps them for its own tables.
var fixedTables = []string{tableIdentifies, tableGroups, tableTracks, tablePages, tableScreens, tableAliases,
	tableUsers, tableAccounts, tableMemberships, tableDiscards}

// callColumns are the columns every call table has, with their types.
var callColumns = []column{
	{"id", typeText}, {"received_at", typeTime}, {"sent_at", typeTime}, {"timestamp", typeTime},
	{"original_timestamp", typeTime}, {"uuid_ts", typeTime}, {"user_id", typeText}, {"anonymous_id", typeText},
}

// typeColumns are the columns a call type adds to callColumns.
var typeColumns = map[string][]column{
	tableGroups:  {{"group_id", typeText}},
	tableTracks:  {{"event", typeText}, {"event_text", typeText}},
	tablePages:   {{"name", typeText}},
	tableScreens: {{"name", typeText}},
	tableAliases: {{"previous_id", typeText}},
}

// eventColumns are the columns of a track event's own table.
var eventColumns = typeColumns[tableTracks]

type column struct {
	name string
	typ  colType
}

// reservedIn says whether a trait or property column would take the
// place of one of the table's own.
func reservedIn(table, col string) bool {
	if strings.HasPrefix(col, "context_") {
		return true
	}
	cols := typeColumns[table]
	if !slices.Contains(fixedTables, table) {
		cols = eventColumns
	}
	for _, c := range append(slices.Clip(callColumns), cols...) {
		if c.name == col {
			return true
		}
	}
	return false
}

// eventTable is the table of a track event's own name; ok is false when
// the name has no letter or digit.
func eventTable(name string) (string, bool) {
	t := SnakeCase(name)
	if t == "" {
		return "", false
	}
	if slices.Contains(fixedTables, t) {
		t = cut("_" + t)
	}
	return t, true
}

// times are the message's timestamps as normalization left them.
type times struct {
	SentAt            string `json:"sentAt"`
	OriginalTimestamp string `json:"originalTimestamp"`
	ReceivedAt        string `json:"receivedAt"`
}

// callRows are the rows one call adds: to its type's table, and a track
// call to its event's table too.
func callRows(ev destination.Event, loadedAt time.Time, out *batchRows) {
	base := newRow(ev.MessageID, ev.ReceivedAt)
	var ts times
	json.Unmarshal(ev.Body, &ts) //nolint:errcheck // a logged body is an object; missing fields stay empty
	if base.receivedAt.IsZero() {
		base.receivedAt, _ = parseTime(ts.ReceivedAt)
	}
	base.set("id", ev.MessageID)
	base.set("received_at", nonZero(base.receivedAt))
	base.set("sent_at", timeValue(ts.SentAt))
	base.set("timestamp", nonZero(ev.Timestamp))
	base.set("original_timestamp", timeValue(ts.OriginalTimestamp))
	base.set("uuid_ts", loadedAt)
	base.set("user_id", nonEmpty(ev.UserID))
	base.set("anonymous_id", nonEmpty(ev.AnonymousID))
	flatten(base, "context", destination.TraitMap(ev.Context), "", out, callTable(ev.Type))

	switch ev.Type {
	case "identify":
		out.add(tableIdentifies, fields(base, tableIdentifies, destination.TraitMap(ev.Traits), out))
	case "group":
		r := clone(base)
		r.set("group_id", ev.GroupID)
		out.add(tableGroups, fields(r, tableGroups, destination.TraitMap(ev.Traits), out))
	case "page", "screen":
		table := tablePages
		if ev.Type == "screen" {
			table = tableScreens
		}
		r := clone(base)
		r.set("name", nonEmpty(ev.Name))
		out.add(table, fields(r, table, destination.TraitMap(ev.Properties), out))
	case "alias":
		r := clone(base)
		r.set("previous_id", nonEmpty(ev.PreviousID))
		out.add(tableAliases, r)
	case "track":
		r := clone(base)
		table, ok := eventTable(ev.Name)
		r.set("event", nonEmpty(table))
		r.set("event_text", ev.Name)
		out.add(tableTracks, r)
		if !ok {
			out.discards = append(out.discards, discard{tableTracks, "event", ev.Name, ev.MessageID, base.receivedAt,
				"event name has no letter or digit: no table of its own"})
			return
		}
		out.add(table, fields(clone(r), table, destination.TraitMap(ev.Properties), out))
	}
}

// fields adds traits or properties to a row as un-prefixed columns.
func fields(r *row, table string, obj map[string]any, out *batchRows) *row {
	flatten(r, "", obj, table, out, table)
	return r
}

// flatten adds an object's members as columns named prefix_name, nested
// objects flattened and arrays as JSON text. With reservedFor set, a
// column that would replace one of that table's own is discarded.
func flatten(r *row, prefix string, obj map[string]any, reservedFor string, out *batchRows, table string) {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		name := SnakeCase(k)
		col := join(prefix, name)
		if name == "" {
			out.discards = append(out.discards, discard{table, k, text(v), r.id, r.receivedAt, "name has no letter or digit"})
			continue
		}
		if m, ok := v.(map[string]any); ok {
			flatten(r, col, m, reservedFor, out, table)
			continue
		}
		if reservedFor != "" && reservedIn(reservedFor, col) {
			out.discards = append(out.discards, discard{table, col, text(v), r.id, r.receivedAt, "reserved column: " + k})
			continue
		}
		if a, ok := v.([]any); ok {
			v = text(a)
		}
		r.set(col, v)
	}
}

// callTable is the table of a call type.
func callTable(typ string) string {
	switch typ {
	case "identify":
		return tableIdentifies
	case "group":
		return tableGroups
	case "page":
		return tablePages
	case "screen":
		return tableScreens
	case "alias":
		return tableAliases
	}
	return tableTracks
}

func clone(r *row) *row {
	c := &row{id: r.id, receivedAt: r.receivedAt, fields: make([]field, len(r.fields), len(r.fields)+16)}
	copy(c.fields, r.fields)
	return c
}

func timeValue(s string) any {
	if t, ok := parseTime(s); ok {
		return t
	}
	return nil
}

func nonZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// batchRows are the rows a batch loads, by table, and what it discards.
type batchRows struct {
	tables   map[string][]*row
	order    []string
	discards []discard
}

func newBatchRows() *batchRows { return &batchRows{tables: map[string][]*row{}} }

func (b *batchRows) add(table string, r *row) {
	if _, ok := b.tables[table]; !ok {
		b.order = append(b.order, table)
	}
	b.tables[table] = append(b.tables[table], r)
}
