package destination

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"roster/internal/spec"
)

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want string // substring of the error; "" for none
	}{
		{"https://hooks.example/in", ""},
		{"http://127.0.0.1:9000/x?token=1#f", ""}, // a target, not a base: queries allowed
		{"/relative", "must be an absolute http or https URL"},
		{"hooks.example/in", "must be an absolute http or https URL"},
		{"ftp://hooks.example", "must be an absolute http or https URL"},
		{"mailto:a@b.example", "must be an absolute http or https URL"},
		{"https:///path", "must be an absolute http or https URL"},
		{"http://[::1", "not a URL"},
		{"", "must be an absolute http or https URL"},
	} {
		err := CheckURL(c.raw)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", c.raw, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "settings") {
			t.Errorf("CheckURL(%q) = %v: the caller names the setting", c.raw, err)
		}
	}
}

func TestEndpoint(t *testing.T) {
	const def = "https://api.default.example"
	for _, c := range []struct {
		raw, want string
		err       string
	}{
		{"", def, ""},
		{"https://api-eu.example", "https://api-eu.example", ""},
		{"https://api-eu.example/", "https://api-eu.example", ""},
		{"http://127.0.0.1:9000/base//", "http://127.0.0.1:9000/base", ""},
		{"https://api.example/?", "https://api.example/?", ""}, // an empty query is no query
		{"https://api.example/?a=1", "", "settings.endpoint: must be a base URL without query or fragment"},
		{"https://api.example/#f", "", "settings.endpoint: must be a base URL without query or fragment"},
		{"api.example", "", "settings.endpoint: must be an absolute http or https URL"},
		{"ftp://api.example", "", "settings.endpoint: must be an absolute http or https URL"},
		{"http://[::1", "", "settings.endpoint: not a URL"},
	} {
		got, err := Endpoint(c.raw, def)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("Endpoint(%q) = %q, %v; want error %q", c.raw, got, err, c.err)
		}
	}
}

func TestLookup(t *testing.T) {
	ctx := TraitMap(json.RawMessage(`{"page":{"url":"https://e.example/"},"device":{"id":null},"ip":"1.2.3.4","os":"iOS","n":{"m":{"k":7}}}`))
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"page", "url"}, "https://e.example/"},
		{[]string{"ip"}, "1.2.3.4"},
		{[]string{"n", "m", "k"}, json.Number("7")},
		{[]string{"device", "id"}, nil}, // null
		{[]string{"app", "version"}, nil},
		{[]string{"os", "name"}, nil}, // os is not an object
		{[]string{"page", "url", "x"}, nil},
		{nil, ctx},
	} {
		if got := Lookup(ctx, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Lookup(%v) = %#v, want %#v", c.path, got, c.want)
		}
	}
	if got := Lookup(nil, "a"); got != nil {
		t.Errorf("Lookup(nil) = %#v", got)
	}
}

func TestString(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
		ok   bool
	}{
		{"abc", "abc", true},
		{"", "", true},
		{json.Number("12345678901234567890"), "12345678901234567890", true},
		{json.Number("0.1"), "0.1", true},
		{nil, "", false},
		{true, "", false},
		{3.5, "", false}, // only TraitMap's json.Number counts as a number
		{map[string]any{}, "", false},
		{[]any{"a"}, "", false},
	} {
		got, ok := String(c.v)
		if got != c.want || ok != c.ok {
			t.Errorf("String(%#v) = %q, %v; want %q, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestContextTraits(t *testing.T) {
	for _, c := range []struct {
		context string
		want    map[string]any
	}{
		{`{"traits":{"email":"a@b.example","n":1}}`, map[string]any{"email": "a@b.example", "n": json.Number("1")}},
		{`{"traits":"x"}`, map[string]any{}},
		{`{"traits":null}`, map[string]any{}},
		{`{"ip":"1.2.3.4"}`, map[string]any{}},
		{``, map[string]any{}},
	} {
		got := ContextTraits(Event{Context: json.RawMessage(c.context)})
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ContextTraits(%s) = %#v, want %#v", c.context, got, c.want)
		}
	}
}

func TestSortedKeys(t *testing.T) {
	for _, c := range []struct {
		m    map[string]any
		want []string
	}{
		{nil, []string{}},
		{map[string]any{"b": 1, "a": 2, "B": 3, "created_at": 4, "createdAt": 5}, []string{"B", "a", "b", "createdAt", "created_at"}},
	} {
		if got := SortedKeys(c.m); !slices.Equal(got, c.want) {
			t.Errorf("SortedKeys(%v) = %q, want %q", c.m, got, c.want)
		}
	}
	// Any value type.
	if got := SortedKeys(map[string]string{"y": "", "x": ""}); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("SortedKeys(map[string]string) = %q", got)
	}
}

func TestEncodeJSON(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
		err  bool
	}{
		{map[string]any{"url": "https://e.example/?a=1&b=<2>"}, `{"url":"https://e.example/?a=1&b=<2>"}`, false},
		{[]any{map[string]any{"n": json.Number("12345678901234567890")}}, `[{"n":12345678901234567890}]`, false},
		{"", `""`, false},
		{json.Number("+5"), "", true},
	} {
		got, err := EncodeJSON(c.v)
		if string(got) != c.want || (err != nil) != c.err {
			t.Errorf("EncodeJSON(%#v) = %s, %v; want %s (error %v)", c.v, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrPermanent) {
			t.Errorf("EncodeJSON(%#v) error %v does not wrap ErrPermanent", c.v, err)
		}
	}
}

func TestISODate(t *testing.T) {
	for _, c := range []struct {
		v, want any
	}{
		{"2024-03-01T12:00:00.000Z", "2024-03-01T12:00:00"},
		{"2024-03-01T12:00:00.999Z", "2024-03-01T12:00:00"}, // fraction dropped, not rounded
		{"2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00"},
		{"2024-03-01T23:30:00-01:00", "2024-03-02T00:30:00"},
		{"2024-03-01T12:00:00", "2024-03-01T12:00:00"}, // no zone: UTC
		{"2024-03-01T12:00:00.5", "2024-03-01T12:00:00"},
		// Passed through: already a date, or not a timestamp ISODate reads.
		{"2024-03-01", "2024-03-01"},
		{"2024-03-01 12:00:00", "2024-03-01 12:00:00"},
		{"2024-03-01T12:00:00+0200", "2024-03-01T12:00:00+0200"},
		{"yesterday", "yesterday"},
		{"", ""},
		{json.Number("1709296245"), json.Number("1709296245")},
		{nil, nil},
		{true, true},
	} {
		if got := ISODate(c.v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ISODate(%#v) = %#v, want %#v", c.v, got, c.want)
		}
	}
}

func TestPageCategory(t *testing.T) {
	for _, c := range []struct {
		body, properties string
		want             string
	}{
		{`{"type":"page","category":"Docs"}`, `{"category":"Blog"}`, "Docs"}, // top level first
		{`{"type":"page","category":""}`, `{"category":"Blog"}`, "Blog"},
		{`{"type":"page"}`, `{"category":"Blog"}`, "Blog"},
		{`{"type":"page"}`, `{"category":7}`, "7"},
		{`{"type":"page","category":7}`, `{"category":"Blog"}`, "Blog"}, // not a string at top level
		{`{"type":"page"}`, `{"category":null}`, ""},
		{`{"type":"page"}`, ``, ""},
	} {
		ev := Event{Body: json.RawMessage(c.body), Properties: json.RawMessage(c.properties)}
		if got := PageCategory(ev); got != c.want {
			t.Errorf("PageCategory(%s, %s) = %q, want %q", c.body, c.properties, got, c.want)
		}
	}
}

func TestReservedTrait(t *testing.T) {
	for _, c := range []struct {
		m      map[string]any
		name   string
		want   any
		wantOK bool
	}{
		{map[string]any{"email": "a@b.example"}, "email", "a@b.example", true},
		{map[string]any{"Email": "x", "email": "y"}, "email", "x", true}, // first in byte order
		{map[string]any{"created_at": "b", "createdAt": "a"}, "createdAt", "a", true},
		{map[string]any{"Created At": nil}, "createdAt", nil, true},
		{map[string]any{"mail": "a@b.example"}, "email", nil, false},
		{nil, "email", nil, false},
	} {
		got, ok := ReservedTrait(c.m, c.name)
		if !reflect.DeepEqual(got, c.want) || ok != c.wantOK {
			t.Errorf("ReservedTrait(%v, %q) = %#v, %v; want %#v, %v", c.m, c.name, got, ok, c.want, c.wantOK)
		}
	}
}

func TestReservedFor(t *testing.T) {
	for _, c := range []struct {
		callType, k string
		want        string
		ok          bool
	}{
		{spec.Identify, "created_at", "createdAt", true},
		{spec.Group, "Created At", "createdAt", true},
		{spec.Identify, "first_name", "firstName", true},
		{spec.Group, "first_name", "firstName", false}, // user-only trait on a group
		{spec.Identify, "city", "city", false},         // an address field outside address
		{spec.Identify, "email", "email", true},
		{spec.Identify, "favourite colour", "", false},
	} {
		got, ok := ReservedFor(c.callType, c.k)
		if got != c.want || ok != c.ok {
			t.Errorf("ReservedFor(%s, %q) = %q, %v; want %q, %v", c.callType, c.k, got, ok, c.want, c.ok)
		}
	}
}

func TestEmail(t *testing.T) {
	for _, c := range []struct {
		m    map[string]any
		want string
		ok   bool
	}{
		{map[string]any{"email": "ada@acme.example"}, "ada@acme.example", true},
		{map[string]any{"E-mail": " ada@acme.example "}, "ada@acme.example", true},
		{map[string]any{"Email": "ada@acme.example", "email": "x"}, "ada@acme.example", true}, // first spelling wins, even if the other is bad
		{map[string]any{"Email": "x", "email": "ada@acme.example"}, "", false},
		{map[string]any{"email": "Ada <ada@acme.example>"}, "", false},
		{map[string]any{"email": "<ada@acme.example>"}, "", false},
		{map[string]any{"email": "not an email"}, "", false},
		{map[string]any{"email": ""}, "", false},
		{map[string]any{"email": json.Number("5")}, "", false},
		{map[string]any{"email": nil}, "", false},
		{map[string]any{}, "", false},
	} {
		got, ok := Email(c.m)
		if got != c.want || ok != c.ok {
			t.Errorf("Email(%v) = %q, %v; want %q, %v", c.m, got, ok, c.want, c.ok)
		}
	}
}
