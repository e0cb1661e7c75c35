package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/destination/warehouse"
	"roster/internal/server"
	"roster/internal/store/postgres/pgtest"
)

// whCall is a call of a scenario: its type and members, sent at t0 plus
// at seconds.
type whCall struct {
	typ  string
	at   int
	body string
}

// The profile scenarios of storetest, each with ids of its own so that
// they share one server and one warehouse schema.
var warehouseScenarios = map[string][]whCall{
	"two groups": {
		{"group", 0, `"userId":"u1","groupId":"g1","traits":{"name":"Initech"}`},
		{"group", 1, `"userId":"u1","groupId":"g2","traits":{"name":"Globex"}`},
		{"group", 2, `"userId":"u2","groupId":"g1"`},
	},
	"null replaces, omission persists": {
		{"group", 0, `"userId":"u1","groupId":"g1","traits":{"name":"Initech","plan":"trial","address":{"city":"Austin","state":"TX"}}`},
		{"group", 1, `"userId":"u1","groupId":"g1","traits":{"plan":null,"address":{"city":"Boston"}}`},
	},
	"names fold": {
		{"group", 0, `"userId":"u1","groupId":"g1","traits":{"createdAt":"2020-01-01T00:00:00Z","stripe customer id":"cus_1"}`},
		{"group", 1, `"userId":"u1","groupId":"g1","traits":{"created_at":"2021-01-01T00:00:00Z","stripe_customer_id":"cus_2"}`},
		{"group", 2, `"userId":"u1","groupId":"g1","traits":{"Created At":"2022-01-01T00:00:00Z","stripecustomerid":"cus_3"}`},
	},
	"late old event": {
		{"group", 3600, `"userId":"u1","groupId":"g1","traits":{"plan":"enterprise"}`},
		{"group", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial","industry":"Tech","employees":42}`},
	},
	"anonymous member identified": {
		{"identify", 0, `"anonymousId":"a1","traits":{"firstName":"Ann","plan":"free"}`},
		{"group", 1, `"anonymousId":"a1","groupId":"g1","traits":{"name":"Initech"}`},
		{"identify", 2, `"anonymousId":"a1","userId":"u1","traits":{"email":"ann@initech.com","plan":"pro"}`},
		{"track", 3, `"anonymousId":"a1","event":"Clicked"`},
	},
	"anonymous member aliased": {
		{"group", 0, `"anonymousId":"a2","groupId":"g2"`},
		{"group", 1, `"userId":"u2","groupId":"g3"`},
		{"alias", 2, `"userId":"u2","previousId":"a2"`},
		{"group", 3, `"anonymousId":"a2","groupId":"g4"`},
	},
	"context group id": {
		{"group", 0, `"userId":"u1","groupId":"42"`},
		{"track", 1, `"userId":"u2","event":"Report Run","context":{"groupId":42}`},
	},
	"mixed": mixedScenario(),
}

func mixedScenario() []whCall {
	var calls []whCall
	for i := range 60 {
		g := fmt.Sprintf("g%d", i%7)
		u := fmt.Sprintf("u%d", i%11)
		switch i % 5 {
		case 0:
			calls = append(calls, whCall{"group", i % 13 * 60, fmt.Sprintf(`"userId":%q,"groupId":%q,"traits":{"plan":"p%d","tags":["a",%d]}`, u, g, i, i)})
		case 1:
			calls = append(calls, whCall{"identify", i, fmt.Sprintf(`"userId":%q,"anonymousId":"a%d","traits":{"score":%d}`, u, i%4, i)})
		case 2:
			calls = append(calls, whCall{"group", i, fmt.Sprintf(`"anonymousId":"a%d","groupId":%q,"traits":{"seats":%d,"plan":null}`, i%4, g, i)})
		case 3:
			calls = append(calls, whCall{"track", i, fmt.Sprintf(`"userId":%q,"event":"Report Run","context":{"groupId":%q}`, u, g)})
		default:
			calls = append(calls, whCall{"group", 600 - i, fmt.Sprintf(`"userId":%q,"groupId":%q,"traits":{"Plan Name":"n%d","address":{"city":"c%d"}}`, u, g, i, i)})
		}
	}
	return calls
}

// scoped gives a scenario's ids a prefix of their own.
func scoped(prefix, body string) string {
	for _, k := range []string{"userId", "anonymousId", "groupId", "previousId"} {
		body = strings.ReplaceAll(body, `"`+k+`":"`, `"`+k+`":"`+prefix)
	}
	return strings.ReplaceAll(body, `"groupId":42`, `"groupId":"`+prefix+`42"`)
}

// For the profile scenarios, SELECT * FROM accounts equals the Profile
// API's traits of each account, and memberships equals /links.
func TestWarehouseAccountsEqualTheProfileAPI(t *testing.T) {
	schemaURL := pgtest.FreshSchema(t)
	u, _ := url.Parse(schemaURL)
	schema := u.Query().Get("search_path")
	cfg := writeConfig(t, fmt.Sprintf(`
workspaces:
  - id: default
    sources:      [{name: web, writeKey: wk_w}]
    accessTokens: [{name: ops, token: tok_w}]
    destinations:
      - {name: Warehouse, type: postgres, settings: {url: %q, schema: %s}}
`, pgtest.URL(t), schema))
	r := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg})
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	groups := map[string]bool{}
	n := 0
	for _, name := range slices.Sorted(mapKeys(warehouseScenarios)) {
		prefix := fmt.Sprintf("s%d-", n)
		for _, c := range warehouseScenarios[name] {
			n++
			body := fmt.Sprintf(`{"messageId":"w%d","timestamp":%q,%s}`, n, t0.Add(time.Duration(c.at)*time.Second).Format(time.RFC3339), scoped(prefix, c.body))
			if code, resp := r.do(t, http.MethodPost, "/v1/"+c.typ, "wk_w", body); code != http.StatusOK {
				t.Fatalf("%s: %d %s", body, code, resp)
			}
			var ids struct{ GroupID string }
			json.Unmarshal([]byte(scoped(prefix, "{"+c.body+"}")), &ids) //nolint:errcheck
			if c.typ == "group" {
				groups[ids.GroupID] = true
			}
		}
	}
	waitLoaded(t, r, "Warehouse")

	db, err := pgx.Connect(context.Background(), schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	accounts := selectRows(t, db, "SELECT * FROM accounts")
	if len(accounts) != len(groups) {
		t.Errorf("accounts has %d rows, want one per group (%d)", len(accounts), len(groups))
	}
	t.Logf("%d accounts compared", len(accounts))
	for _, a := range accounts {
		id := a["id"]
		var api struct {
			Traits map[string]json.RawMessage `json:"traits"`
		}
		body := r.eventually(t, "/v1/spaces/default/collections/accounts/profiles/group_id:"+id+"/traits?limit=200", "tok_w")
		if err := json.Unmarshal(body, &api); err != nil {
			t.Fatal(err)
		}
		// Compared by folded name: every spelling of a trait is one
		// column, named after the spelling that created it.
		want := map[string]string{}
		for name, v := range api.Traits {
			flattenTrait(want, warehouse.SnakeCase(name), v)
		}
		want = folded(want)
		got := map[string]string{}
		for k, v := range a {
			if !slices.Contains([]string{"id", "uuid_ts", "first_seen_at", "last_seen_at", "member_count"}, k) {
				got[k] = v
			}
		}
		got = folded(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("accounts %s = %v\nProfile API traits %v", id, got, want)
		}
		var links struct {
			Data []struct {
				ExternalIDs []struct{ ID, Type string } `json:"external_ids"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.eventually(t, "/v1/spaces/default/collections/accounts/profiles/group_id:"+id+"/links?limit=100", "tok_w"), &links); err != nil {
			t.Fatal(err)
		}
		var linked []string
		for _, l := range links.Data {
			linked = append(linked, memberName(l.ExternalIDs))
		}
		var rows []string
		for _, m := range selectRows(t, db, "SELECT user_id, anonymous_id FROM memberships WHERE group_id = $1", id) {
			if m["user_id"] != "" {
				rows = append(rows, "user_id:"+m["user_id"])
			} else {
				rows = append(rows, "anonymous_id:"+m["anonymous_id"])
			}
		}
		slices.Sort(linked)
		slices.Sort(rows)
		if !reflect.DeepEqual(rows, linked) {
			t.Errorf("memberships of %s = %v, /links %v", id, rows, linked)
		}
		if a["member_count"] != fmt.Sprint(len(linked)) {
			t.Errorf("member_count of %s = %s, /links has %d", id, a["member_count"], len(linked))
		}
	}
}

func folded(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[strings.ReplaceAll(k, "_", "")] = v
	}
	return out
}

// memberName is how a member is named: its first user id, else its first
// anonymous id, as the memberships table names it.
func memberName(ids []struct{ ID, Type string }) string {
	for _, typ := range []string{"user_id", "anonymous_id"} {
		for _, x := range ids {
			if x.Type == typ {
				return typ + ":" + x.ID
			}
		}
	}
	return ""
}

// flattenTrait is a trait as Segment's naming rules lay it out: objects
// flattened, arrays as JSON text, null as no value.
func flattenTrait(out map[string]string, col string, v json.RawMessage) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	d.Decode(&x) //nolint:errcheck
	switch x := x.(type) {
	case nil:
	case map[string]any:
		for k, sub := range x {
			b, _ := json.Marshal(sub)
			flattenTrait(out, col+"_"+warehouse.SnakeCase(k), b)
		}
	case []any:
		b, _ := json.Marshal(x)
		out[col] = string(b)
	default:
		out[col] = fmt.Sprint(x)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// waitLoaded waits until a destination has taken every event and retries
// none.
func waitLoaded(t *testing.T, r *running, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := r.do(t, http.MethodGet, "/v1/workspaces/default/destinations", "tok_w", "")
		var st struct {
			Data []struct {
				Name           string
				Behind         int64
				Retrying, Dead int
			}
		}
		json.Unmarshal(body, &st) //nolint:errcheck
		for _, d := range st.Data {
			if d.Name == name && d.Behind == 0 && d.Retrying == 0 {
				if d.Dead != 0 {
					t.Fatalf("%s has dead letters: %s", name, body)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("destinations: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selectRows returns rows as column → value text, NULLs left out.
func selectRows(t *testing.T, db *pgx.Conn, sql string, args ...any) []map[string]string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (map[string]string, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for i, f := range r.FieldDescriptions() {
			switch v := vals[i].(type) {
			case nil:
			case time.Time:
				m[f.Name] = v.UTC().Format(time.RFC3339Nano)
			default:
				m[f.Name] = fmt.Sprint(v)
			}
		}
		return m, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
