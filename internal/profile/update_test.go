package profile_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// tv is a short way to write an expected trait.
func tv(name, key, value string) store.TraitValue {
	return store.TraitValue{Name: name, Key: key, Value: json.RawMessage(value)}
}

// traitsString renders traits for failure messages, values as raw text.
func traitsString(ts []store.TraitValue) string {
	var b strings.Builder
	b.WriteString("[")
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{%q %q %s}", t.Name, t.Key, t.Value)
	}
	b.WriteString("]")
	return b.String()
}

// sameTraits compares names, keys and values byte for byte.
func sameTraits(got, want []store.TraitValue) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Name != want[i].Name || got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) {
			return false
		}
	}
	return true
}

// logged is the event the log holds for body: the ids, group and name
// that ingestion computed (spec.ReadStored reads them back by the same
// rules) next to the body.
func logged(seq int64, typ, body string) store.Event {
	e := store.Event{Seq: seq, Type: typ, Body: []byte(body)}
	if m, err := spec.ReadStored(e.Body); err == nil {
		r := m.Routing
		e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = r.UserID, r.AnonymousID, r.PreviousID, r.GroupID, r.Name
	}
	return e
}

func TestFromEventIDs(t *testing.T) {
	type ids struct {
		user, anon, group, previous string
	}
	cases := []struct {
		name string
		typ  string
		body string
		want ids
	}{
		{
			name: "identify",
			typ:  spec.Identify,
			body: `{"type":"identify","userId":"u1","anonymousId":"a1"}`,
			want: ids{user: "u1", anon: "a1"},
		},
		{
			name: "identify ignores groupId and context.groupId",
			typ:  spec.Identify,
			body: `{"type":"identify","userId":"u1","groupId":"g-top","context":{"groupId":"g-ctx"}}`,
			want: ids{user: "u1"},
		},
		{
			name: "group",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","anonymousId":"a1","groupId":"g1"}`,
			want: ids{user: "u1", anon: "a1", group: "g1"},
		},
		{
			name: "group uses groupId, not context.groupId",
			typ:  spec.Group,
			body: `{"type":"group","anonymousId":"a1","groupId":"g1","context":{"groupId":"other"}}`,
			want: ids{anon: "a1", group: "g1"},
		},
		{
			name: "group numeric id stored as string by ingestion",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","groupId":"42"}`,
			want: ids{user: "u1", group: "42"},
		},
		{
			name: "track without context.groupId",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"Signed Up"}`,
			want: ids{user: "u1"},
		},
		{
			name: "track context.groupId string",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","context":{"groupId":"g-ctx"}}`,
			want: ids{user: "u1", group: "g-ctx"},
		},
		{
			name: "track ignores top-level groupId",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","groupId":"g-top"}`,
			want: ids{user: "u1"},
		},
		{
			name: "track context.groupId escaped string",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","context":{"groupId":"caf\u00e9 \"co\""}}`,
			want: ids{user: "u1", group: "café \"co\""},
		},
		{
			name: "page context.groupId integer",
			typ:  spec.Page,
			body: `{"type":"page","anonymousId":"a1","context":{"groupId":42}}`,
			want: ids{anon: "a1", group: "42"},
		},
		{
			name: "screen context.groupId decimal",
			typ:  spec.Screen,
			body: `{"type":"screen","anonymousId":"a1","context":{"groupId":1.5}}`,
			want: ids{anon: "a1", group: "1.5"},
		},
		{
			name: "track context.groupId negative integer",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","context":{"groupId":-7}}`,
			want: ids{user: "u1", group: "-7"},
		},
		{
			name: "track context.groupId object",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","context":{"groupId":{"id":"g1"}}}`,
			want: ids{user: "u1"},
		},
		{
			name: "page context.groupId array",
			typ:  spec.Page,
			body: `{"type":"page","userId":"u1","context":{"groupId":["g1"]}}`,
			want: ids{user: "u1"},
		},
		{
			name: "page context.groupId bool",
			typ:  spec.Page,
			body: `{"type":"page","userId":"u1","context":{"groupId":true}}`,
			want: ids{user: "u1"},
		},
		{
			name: "screen context.groupId null",
			typ:  spec.Screen,
			body: `{"type":"screen","userId":"u1","context":{"groupId":null}}`,
			want: ids{user: "u1"},
		},
		{
			name: "track context null",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","context":null}`,
			want: ids{user: "u1"},
		},
		{
			name: "alias",
			typ:  spec.Alias,
			body: `{"type":"alias","userId":"u-new","previousId":"a-old"}`,
			want: ids{user: "u-new", previous: "a-old"},
		},
		{
			name: "alias ignores context.groupId",
			typ:  spec.Alias,
			body: `{"type":"alias","userId":"u-new","previousId":"a-old","context":{"groupId":"g-ctx"}}`,
			want: ids{user: "u-new", previous: "a-old"},
		},
		{
			name: "null ids",
			typ:  spec.Group,
			body: `{"type":"group","userId":null,"anonymousId":"a1","groupId":"g1","previousId":null}`,
			want: ids{anon: "a1", group: "g1"},
		},
		{
			name: "null anonymousId and groupId",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","anonymousId":null,"groupId":null}`,
			want: ids{user: "u1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := profile.FromEvent(logged(1, tc.typ, tc.body))
			if err != nil {
				t.Fatalf("FromEvent: %v", err)
			}
			got := ids{user: u.UserID, anon: u.AnonymousID, group: u.GroupID, previous: u.PreviousID}
			if got != tc.want {
				t.Errorf("ids = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFromEventTraits(t *testing.T) {
	cases := []struct {
		name string
		typ  string
		body string
		want []store.TraitValue // nil: no traits
	}{
		{
			name: "group traits in order sent",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","groupId":"g1","traits":{"plan":"pro","name":"Acme","employees":100}}`,
			want: []store.TraitValue{
				tv("plan", "plan", `"pro"`),
				tv("name", "name", `"Acme"`),
				tv("employees", "employees", `100`),
			},
		},
		{
			name: "identify traits, reserved kept as spelled",
			typ:  spec.Identify,
			body: `{"type":"identify","userId":"u1","traits":{"EMAIL":"a@b.c","created_at":"2024-01-01T00:00:00Z","Favorite Color":"blue"}}`,
			want: []store.TraitValue{
				tv("EMAIL", "email", `"a@b.c"`),
				tv("created_at", "createdat", `"2024-01-01T00:00:00Z"`),
				tv("Favorite Color", "favoritecolor", `"blue"`),
			},
		},
		{
			name: "group traits null value kept",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","groupId":"g1","traits":{"plan":null}}`,
			want: []store.TraitValue{tv("plan", "plan", `null`)},
		},
		{
			name: "identify traits null",
			typ:  spec.Identify,
			body: `{"type":"identify","userId":"u1","traits":null}`,
		},
		{
			name: "group without traits",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","groupId":"g1"}`,
		},
		{
			name: "track properties are not traits",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","properties":{"plan":"pro"}}`,
		},
		{
			name: "track top-level traits are not profile traits",
			typ:  spec.Track,
			body: `{"type":"track","userId":"u1","event":"E","traits":{"plan":"pro"}}`,
		},
		{
			name: "page traits are not profile traits",
			typ:  spec.Page,
			body: `{"type":"page","userId":"u1","traits":{"plan":"pro"},"context":{"traits":{"plan":"pro"}}}`,
		},
		{
			name: "screen traits are not profile traits",
			typ:  spec.Screen,
			body: `{"type":"screen","userId":"u1","traits":{"plan":"pro"}}`,
		},
		{
			name: "alias traits are not profile traits",
			typ:  spec.Alias,
			body: `{"type":"alias","userId":"u1","previousId":"a1","traits":{"plan":"pro"}}`,
		},
		{
			name: "identify context.traits are not profile traits",
			typ:  spec.Identify,
			body: `{"type":"identify","userId":"u1","context":{"traits":{"email":"x@y.z"}}}`,
		},
		{
			name: "group context.traits ignored, traits kept",
			typ:  spec.Group,
			body: `{"type":"group","userId":"u1","groupId":"g1","context":{"traits":{"email":"x@y.z"}},"traits":{"name":"Acme"}}`,
			want: []store.TraitValue{tv("name", "name", `"Acme"`)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := profile.FromEvent(logged(1, tc.typ, tc.body))
			if err != nil {
				t.Fatalf("FromEvent: %v", err)
			}
			if tc.want == nil {
				if len(u.Traits) != 0 {
					t.Errorf("traits = %s, want none", traitsString(u.Traits))
				}
				return
			}
			if !sameTraits(u.Traits, tc.want) {
				t.Errorf("traits = %s\nwant     %s", traitsString(u.Traits), traitsString(tc.want))
			}
		})
	}
}

func TestFromEventCopiesEventFields(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 30, 15, 123000000, time.UTC)
	e := store.Event{
		Seq:        987,
		Workspace:  "ws1",
		Source:     "web",
		MessageID:  "m-1",
		Type:       spec.Group,
		ReceivedAt: ts.Add(time.Minute),
		Timestamp:  ts,
		UserID:     "u1",
		PreviousID: "p1",
		GroupID:    "g1",
		// Ids come from the event, never from the body.
		Body: []byte(`{"type":"group","messageId":"ignored-body-id","userId":"body-user","anonymousId":"body-anon","groupId":"body-group"}`),
	}
	u, err := profile.FromEvent(e)
	if err != nil {
		t.Fatalf("FromEvent: %v", err)
	}
	want := store.ProfileUpdate{
		Seq:        987,
		Workspace:  "ws1",
		Source:     "web",
		MessageID:  "m-1",
		Type:       spec.Group,
		Timestamp:  ts,
		UserID:     "u1",
		PreviousID: "p1",
		GroupID:    "g1",
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("update = %+v\nwant     %+v", u, want)
	}
	if !u.Timestamp.Equal(ts) {
		t.Errorf("Timestamp = %v, want the event's corrected timestamp %v (not ReceivedAt)", u.Timestamp, ts)
	}
}

func TestFromEventInvalidBody(t *testing.T) {
	for _, body := range []string{
		`not json`,
		`{"type":"group","userId":"u1"`,
		``,
	} {
		t.Run(body, func(t *testing.T) {
			_, err := profile.FromEvent(store.Event{Seq: 4711, Type: spec.Group, Body: []byte(body)})
			if err == nil {
				t.Fatal("FromEvent succeeded on an invalid body")
			}
			if !strings.Contains(err.Error(), "4711") {
				t.Errorf("error %q does not name the event's seq 4711", err)
			}
		})
	}
	t.Run("wraps the decoder error", func(t *testing.T) {
		_, err := profile.FromEvent(store.Event{Seq: 5, Type: spec.Identify, Body: []byte(`{oops}`)})
		var se *jsontext.SyntacticError
		if !errors.As(err, &se) {
			t.Errorf("error %v (%T) does not wrap a *jsontext.SyntacticError", err, err)
		}
	})
}

func TestTraits(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want []store.TraitValue
	}{
		{
			name: "empty object",
			raw:  `{}`,
			want: []store.TraitValue{},
		},
		{
			name: "order sent, not sorted",
			raw:  `{"zeta":1,"alpha":2,"mid":3}`,
			want: []store.TraitValue{
				tv("zeta", "zeta", `1`),
				tv("alpha", "alpha", `2`),
				tv("mid", "mid", `3`),
			},
		},
		{
			name: "reserved kept as spelled",
			raw:  `{"created_at":"2024-01-01T00:00:00Z","Postal Code":"75001","EMAIL":"a@b.c","First-Name":"Ada","Employees":10}`,
			want: []store.TraitValue{
				tv("created_at", "createdat", `"2024-01-01T00:00:00Z"`),
				tv("Postal Code", "postalcode", `"75001"`),
				tv("EMAIL", "email", `"a@b.c"`),
				tv("First-Name", "firstname", `"Ada"`),
				tv("Employees", "employees", `10`),
			},
		},
		{
			name: "other names keep their spelling",
			raw:  `{"Stripe Customer ID":"cus_1","total_billed":5,"MRR":9.5,"naïve Ünïcode":true}`,
			want: []store.TraitValue{
				tv("Stripe Customer ID", "stripecustomerid", `"cus_1"`),
				tv("total_billed", "totalbilled", `5`),
				tv("MRR", "mrr", `9.5`),
				tv("naïve Ünïcode", "naïveünïcode", `true`),
			},
		},
		{
			name: "escaped name is unescaped",
			raw:  `{"E\u004dAIL":"a@b.c","caf\u00e9":1}`,
			want: []store.TraitValue{
				tv("EMAIL", "email", `"a@b.c"`),
				tv("café", "café", `1`),
			},
		},
		{
			name: "reserved duplicates: last value and spelling win, first position kept",
			raw:  `{"created_at":"2020-01-01T00:00:00Z","name":"Acme","CreatedAt":"2021-01-01T00:00:00Z"}`,
			want: []store.TraitValue{
				tv("CreatedAt", "createdat", `"2021-01-01T00:00:00Z"`),
				tv("name", "name", `"Acme"`),
			},
		},
		{
			name: "duplicates among many traits: last value wins, first position kept",
			raw:  `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"A":10,"j":11,"I":12,"k":13}`,
			want: []store.TraitValue{
				tv("A", "a", `10`), tv("b", "b", `2`), tv("c", "c", `3`), tv("d", "d", `4`),
				tv("e", "e", `5`), tv("f", "f", `6`), tv("g", "g", `7`), tv("h", "h", `8`),
				tv("I", "i", `12`), tv("j", "j", `11`), tv("k", "k", `13`),
			},
		},
		{
			name: "other duplicates: last value and spelling win",
			raw:  `{"Stripe Customer Id":"cus_old","plan":"pro","stripe_customer_id":"cus_new"}`,
			want: []store.TraitValue{
				tv("stripe_customer_id", "stripecustomerid", `"cus_new"`),
				tv("plan", "plan", `"pro"`),
			},
		},
		{
			name: "three spellings of one trait",
			raw:  `{"total billed":1,"total-billed":2,"Total.Billed":3}`,
			want: []store.TraitValue{
				tv("Total.Billed", "totalbilled", `3`),
			},
		},
		{
			name: "a later null wins",
			raw:  `{"Plan Name":"gold","plan_name":null}`,
			want: []store.TraitValue{
				tv("plan_name", "planname", `null`),
			},
		},
		{
			name: "values byte for byte",
			raw: `{"address":{"street" : "1 Rue de l\u2019\u00c9glise","city":"Paris","geo":{"lat":48.85, "lng":2.35}},` +
				`"note":"caf\u00e9 \"quoted\" \/ slash","big":12345678901234567890123,"ratio":1.50,"exp":1E+3,` +
				`"list":[1, "two" ,{"three":3}],"empty":{},"emoji":"\ud83d\ude00","raw":"😀"}`,
			want: []store.TraitValue{
				tv("address", "address", `{"street" : "1 Rue de l\u2019\u00c9glise","city":"Paris","geo":{"lat":48.85, "lng":2.35}}`),
				tv("note", "note", `"caf\u00e9 \"quoted\" \/ slash"`),
				tv("big", "big", `12345678901234567890123`),
				tv("ratio", "ratio", `1.50`),
				tv("exp", "exp", `1E+3`),
				tv("list", "list", `[1, "two" ,{"three":3}]`),
				tv("empty", "empty", `{}`),
				tv("emoji", "emoji", `"\ud83d\ude00"`),
				tv("raw", "raw", `"😀"`),
			},
		},
		{
			name: "whitespace between members",
			raw:  "{\n  \"plan\" : \"pro\" ,\n  \"name\":\t\"Acme\"\n}",
			want: []store.TraitValue{
				tv("plan", "plan", `"pro"`),
				tv("name", "name", `"Acme"`),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := profile.Traits(spec.Identify, []byte(tc.raw))
			if err != nil {
				t.Fatalf("Traits: %v", err)
			}
			if !sameTraits(got, tc.want) {
				t.Errorf("Traits(%s)\n = %s\nwant %s", tc.raw, traitsString(got), traitsString(tc.want))
			}
			for _, tr := range got {
				if tr.Key != spec.FoldKey(tr.Name) {
					t.Errorf("trait %q has key %q, want FoldKey(name) %q", tr.Name, tr.Key, spec.FoldKey(tr.Name))
				}
			}
		})
	}
}

// The values Traits returns must not alias its input: callers keep them
// while the buffer they decoded from is reused.
func TestTraitsValuesDoNotAliasInput(t *testing.T) {
	raw := []byte(`{"plan":"pro","address":{"city":"Paris"}}`)
	got, err := profile.Traits(spec.Identify, raw)
	if err != nil {
		t.Fatalf("Traits: %v", err)
	}
	for i := range raw {
		raw[i] = 'x'
	}
	want := []store.TraitValue{
		tv("plan", "plan", `"pro"`),
		tv("address", "address", `{"city":"Paris"}`),
	}
	if !sameTraits(got, want) {
		t.Errorf("after overwriting the input, traits = %s, want %s", traitsString(got), traitsString(want))
	}
}

func TestTraitsNotAnObject(t *testing.T) {
	for _, raw := range []string{
		``,
		`null`,
		`[{"plan":"pro"}]`,
		`"plan"`,
		`42`,
		`{"plan":`,
		`{"plan" "pro"}`,
		`{"plan":"pro",}`,
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := profile.Traits(spec.Identify, []byte(raw))
			if err == nil {
				t.Errorf("Traits(%q) = %s, want an error", raw, traitsString(got))
			}
		})
	}
}

// An identify or group body whose traits object cannot be read (ingestion
// rejects it, but a logged event could still hold one) must be an error
// naming the event, not a partial update. encoding/json accepts invalid
// UTF-8 in the body; the traits reader does not.
func TestFromEventTraitsError(t *testing.T) {
	for _, typ := range []string{spec.Identify, spec.Group} {
		t.Run(typ, func(t *testing.T) {
			body := []byte("{\"type\":\"" + typ + "\",\"userId\":\"u1\",\"groupId\":\"g1\",\"traits\":{\"a\xff\":1}}")
			_, err := profile.FromEvent(store.Event{Seq: 77, Type: typ, Body: body})
			if err == nil {
				t.Fatal("FromEvent accepted traits with an invalid UTF-8 name")
			}
			if !strings.Contains(err.Error(), "77") || !strings.Contains(err.Error(), "traits") {
				t.Errorf("error %q does not name the event's seq 77 and its traits", err)
			}
		})
	}
	// The same body on a track call is fine: its traits are not read.
	body := []byte("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"E\",\"traits\":{\"a\xff\":1}}")
	if _, err := profile.FromEvent(store.Event{Seq: 78, Type: spec.Track, Body: body}); err != nil {
		t.Errorf("track: %v", err)
	}
}

// A trait keeps the spelling it was sent with, reserved or not, on users
// and groups alike (DESIGN.md: Segment's Profile API returns first_name).
func TestTraitNamesKeepTheSpellingSent(t *testing.T) {
	raw := []byte(`{"first_name":"Ada","created_at":"2020-01-01","postal_code":"75001"}`)
	for _, tc := range []struct {
		callType string
		want     []string
	}{
		{spec.Identify, []string{"first_name", "created_at", "postal_code"}},
		{spec.Group, []string{"first_name", "created_at", "postal_code"}},
	} {
		got, err := profile.Traits(tc.callType, raw)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tr := range got {
			names = append(names, tr.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s traits named %v, want %v", tc.callType, names, tc.want)
		}
	}
}

// A numeric context.groupId names the same group as the same number sent
// as a group call's groupId, which ingestion stores as a decimal string.
func TestContextGroupIDNumbersMatchIngestion(t *testing.T) {
	n := spec.NewNormalizer(func() string { return "m" })
	for lit, want := range map[string]string{"1e3": "1000", "1.50": "1.5", "42": "42"} {
		msg, err := n.Normalize([]byte(`{"userId":"u","event":"E","context":{"groupId":`+lit+`}}`), spec.Track, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e := store.Event{Type: msg.Type, UserID: msg.Routing.UserID, GroupID: msg.Routing.GroupID, Body: msg.JSON}
		u, err := profile.FromEvent(e)
		if err != nil || u.GroupID != want {
			t.Errorf("context.groupId %s → %q, %v; want %q", lit, u.GroupID, err, want)
		}
	}
}

// identify and alias calls join no group, even when the log has one for
// them (their context.groupId).
func TestFromEventGroupOnlyForGroupTrackPageScreen(t *testing.T) {
	for _, typ := range []string{spec.Group, spec.Track, spec.Page, spec.Screen, spec.Identify, spec.Alias} {
		u, err := profile.FromEvent(store.Event{Type: typ, UserID: "u", GroupID: "g", Body: []byte(`{}`)})
		want := "g"
		if typ == spec.Identify || typ == spec.Alias {
			want = ""
		}
		if err != nil || u.GroupID != want {
			t.Errorf("%s: group %q, %v; want %q", typ, u.GroupID, err, want)
		}
	}
}
