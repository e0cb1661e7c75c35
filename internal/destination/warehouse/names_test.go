package warehouse

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"roster/internal/destination"
)

func TestSnakeCase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"totalBilled", "total_billed"},
		{"total_billed", "total_billed"},
		{"Total Billed", "total_billed"},
		{"stripe customer id", "stripe_customer_id"},
		{"stripeCustomerId", "stripe_customer_id"},
		{"HTTPServer", "http_server"},
		{"userID", "user_id"},
		{"plan-name", "plan_name"},
		{"a.b", "a_b"},
		{"  spaced  out  ", "spaced_out"},
		{"address1", "address1"},
		{"v2Beta", "v2_beta"},
		{"1st place", "_1st_place"},
		{"Order Completed", "order_completed"},
		{"$$$", ""},
		{"Ünïcode Name", "ünïcode_name"},
		{strings.Repeat("x", 70), strings.Repeat("x", 63)},
	} {
		if got := SnakeCase(c.in); got != c.want {
			t.Errorf("SnakeCase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCutKeepsCharacters(t *testing.T) {
	s := strings.Repeat("a", 62) + "é" // 64 bytes: é would be split at 63
	if got := cut(s); got != strings.Repeat("a", 62) {
		t.Errorf("cut = %q", got)
	}
}

// event is a logged call as delivery hands it to the loader.
func event(t *testing.T, body string) destination.Event {
	t.Helper()
	ev, err := destination.Parse(1, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ev.ReceivedAt = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return ev
}

// Segment's naming rules on the columns of each call table.
func TestCallColumns(t *testing.T) {
	loaded := time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, body string
		table      string
		want       map[string]any
		discarded  []string
	}{
		{"traits snake_case and nested flattened", `{"type":"identify","messageId":"m1","userId":"u1","traits":{"totalBilled":12,"address":{"city":"Austin","geo":{"lat":1.5}},"tags":["a","b"]}}`,
			tableIdentifies, map[string]any{"total_billed": json.Number("12"), "address_city": "Austin", "address_geo_lat": json.Number("1.5"), "tags": `["a","b"]`}, nil},
		{"context flattened with its prefix", `{"type":"track","messageId":"m2","userId":"u1","event":"Signed Up","context":{"library":{"name":"analytics.js"},"ip":"1.2.3.4"}}`,
			tableTracks, map[string]any{"context_library_name": "analytics.js", "context_ip": "1.2.3.4", "event": "signed_up", "event_text": "Signed Up"}, nil},
		{"properties go to the event's table", `{"type":"track","messageId":"m3","userId":"u1","event":"Order Completed","properties":{"orderId":"o1","Revenue":9.5}}`,
			"order_completed", map[string]any{"order_id": "o1", "revenue": json.Number("9.5"), "event": "order_completed"}, nil},
		{"reserved columns dropped with a note", `{"type":"identify","messageId":"m4","userId":"u1","traits":{"id":"x","user_id":"y","receivedAt":"z","context_ip":"w","plan":"pro"}}`,
			tableIdentifies, map[string]any{"id": "m4", "user_id": "u1", "plan": "pro"}, []string{"context_ip", "id", "received_at", "user_id"}},
		{"group columns", `{"type":"group","messageId":"m5","userId":"u1","groupId":"g1","traits":{"name":"Initech","employeeCount":300,"group_id":"no"}}`,
			tableGroups, map[string]any{"group_id": "g1", "name": "Initech", "employee_count": json.Number("300")}, []string{"group_id"}},
		{"page name and properties", `{"type":"page","messageId":"m6","anonymousId":"a1","name":"Pricing","properties":{"path":"/pricing"}}`,
			tablePages, map[string]any{"name": "Pricing", "path": "/pricing", "anonymous_id": "a1"}, nil},
		{"alias previous id", `{"type":"alias","messageId":"m7","userId":"u1","previousId":"a1"}`,
			tableAliases, map[string]any{"previous_id": "a1"}, nil},
		{"a name with no letter is kept in discards", `{"type":"identify","messageId":"m8","userId":"u1","traits":{"$$":"v"}}`,
			tableIdentifies, map[string]any{}, []string{"$$"}},
		{"long names cut to 63 bytes", `{"type":"identify","messageId":"m9","userId":"u1","traits":{"` + strings.Repeat("long", 20) + `":1}}`,
			tableIdentifies, map[string]any{strings.Repeat("long", 20)[:63]: json.Number("1")}, nil},
		{"an event named after a table gets its own", `{"type":"track","messageId":"m10","userId":"u1","event":"Users","properties":{"a":1}}`,
			"_users", map[string]any{"a": json.Number("1")}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBatchRows()
			callRows(event(t, c.body), loaded, b)
			rows := b.tables[c.table]
			if len(rows) != 1 {
				t.Fatalf("rows of %s = %d (tables %v)", c.table, len(rows), b.order)
			}
			for col, want := range c.want {
				if got, _ := rows[0].get(col); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v (row %v)", col, got, want, rows[0].fields)
				}
			}
			var got []string
			for _, d := range b.discards {
				got = append(got, d.column)
			}
			if !reflect.DeepEqual(got, c.discarded) && (len(got) > 0 || len(c.discarded) > 0) {
				t.Errorf("discarded %v, want %v", got, c.discarded)
			}
		})
	}
}

func TestTypesAndCasts(t *testing.T) {
	for _, c := range []struct {
		v    any
		want colType
	}{
		{true, typeBool}, {json.Number("3"), typeInt}, {json.Number("3.5"), typeFloat}, {json.Number("1e3"), typeFloat},
		{"2024-05-01T12:00:00Z", typeTime}, {"2024-05-01", typeTime}, {"hello", typeText}, {"2024", typeText},
	} {
		if got := infer(c.v); got != c.want {
			t.Errorf("infer(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    any
		to   colType
		want any
		ok   bool
	}{
		{json.Number("7"), typeText, "7", true},
		{true, typeText, "true", true},
		{json.Number("4.0"), typeInt, int64(4), true},
		{json.Number("4.5"), typeInt, nil, false},
		{"thirty", typeInt, nil, false},
		{json.Number("2"), typeFloat, 2.0, true},
		{"yes", typeBool, nil, false},
		{"not a date", typeTime, nil, false},
	} {
		got, reason, ok := cast(c.v, c.to)
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("cast(%#v, %s) = %#v, %v", c.v, c.to, got, ok)
		}
		if !ok && !strings.HasPrefix(reason, "incompatible schema conversion from ") {
			t.Errorf("reason = %q", reason)
		}
	}
}
