package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestFoldKey(t *testing.T) {
	cases := []struct {
		name string
		want string
	}{
		{"createdAt", "createdat"},
		{"created_at", "createdat"},
		{"CreatedAt", "createdat"},
		{"Created At", "createdat"},
		{"CREATED_AT", "createdat"},
		{"created-at", "createdat"},
		{"created.at", "createdat"},
		{"  created__at  ", "createdat"},
		{"stripe customer id", "stripecustomerid"},
		{"stripe_customer_id", "stripecustomerid"},
		{"stripeCustomerId", "stripecustomerid"},
		{"total billed", "totalbilled"},
		{"plain", "plain"},
		{"with1digit", "with1digit"},
		{"", ""},
		{" _-.", ""},
		{"Ärger", "ärger"},
		{"ÜBER_Größe", "übergröße"},
		{"Éclair Date", "éclairdate"},
		{"ΣΟΦΙΑ", "σοφια"},
		{"ИМЯ", "имя"},
		{"日本 語", "日本語"},
		{"tab\tkept", "tab\tkept"},
		{"slash/kept", "slash/kept"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := FoldKey(tc.name)
			if got != tc.want {
				t.Errorf("FoldKey(%q) = %q, want %q", tc.name, got, tc.want)
			}
			if again := FoldKey(got); again != got {
				t.Errorf("FoldKey is not idempotent: FoldKey(%q) = %q", got, again)
			}
		})
	}
}

func TestFoldKeySameTrait(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"createdAt", "created_at", true},
		{"createdAt", "CreatedAt", true},
		{"createdAt", "Created At", true},
		{"stripe customer id", "stripe_customer_id", true},
		{"Postal-Code", "postalCode", true},
		{"Straße", "STRASSE", false}, // folding is per rune, not Unicode case folding
		{"createdAt", "created", false},
		{"name", "names", false},
		{"a1", "a 1", true},
		{"a1", "a2", false},
	}
	for _, tc := range cases {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := FoldKey(tc.a) == FoldKey(tc.b); got != tc.same {
				t.Errorf("FoldKey(%q) == FoldKey(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
			}
		})
	}
}

func TestReservedName(t *testing.T) {
	cases := []struct {
		name string
		want string
		ok   bool
	}{
		{"createdAt", "createdAt", true},
		{"created_at", "createdAt", true},
		{"Created At", "createdAt", true},
		{"postal_code", "postalCode", true},
		{"Postal Code", "postalCode", true},
		{"postalcode", "postalCode", true},
		{"FIRST_NAME", "firstName", true},
		{"last-name", "lastName", true},
		{"Employees", "employees", true},
		{"address", "address", true},
		{"ID", "id", true},
		{"website", "website", true},
		{"plan", "plan", true},
		{"total billed", "", false},
		{"stripe_customer_id", "", false},
		{"created", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ReservedName(tc.name)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ReservedName(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// warningCase is a call's traits and the traits (as sent) that must warn.
var warningCases = []struct {
	name   string
	typ    string
	traits string
	warn   []string
}{
	{"spec group example", Group,
		`{"name":"Initech","industry":"Technology","employees":329,"plan":"enterprise","total billed":830}`, nil},
	{"every group reserved trait valid", Group,
		`{"address":{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"},
		"avatar":"https://x/y.png","createdAt":"2015-02-23T22:28:55.111Z","description":"d","email":"a@b.c",
		"employees":"329","id":"g1","industry":"Tech","name":"Initech","phone":"+1 555","website":"https://x","plan":"pro"}`, nil},
	{"numeric id and phone", Group, `{"id":42,"phone":5551234}`, nil},
	{"createdAt as a date", Group, `{"createdAt":"2024-01-01"}`, nil},
	{"createdAt with an offset", Group, `{"created_at":"2024-01-01T10:00:00+02:00"}`, nil},
	{"employees numeric strings", Group, `{"employees":" 42 "}`, nil},
	{"employees exponent string", Group, `{"employees":"1e3"}`, nil},
	{"employees zero", Group, `{"employees":0}`, nil},
	{"null never warns", Group,
		`{"address":null,"createdAt":null,"employees":null,"name":null,"email":null,"id":null,"company":null,"age":null}`, nil},
	{"unknown traits of any type", Group, `{"total billed":{"a":1},"tags":["x"],"flag":true,"n":null}`, nil},
	{"empty traits", Group, `{}`, nil},

	{"address a string", Group, `{"address":"1 Main St"}`, []string{"address"}},
	{"address an array", Group, `{"address":[]}`, []string{"address"}},
	{"createdAt not a date", Group, `{"createdAt":"yesterday"}`, []string{"createdAt"}},
	{"createdAt a number", Group, `{"createdAt":1709294400}`, []string{"createdAt"}},
	{"created_at not a date", Group, `{"created_at":"nope"}`, []string{"created_at"}},
	{"Created At a boolean", Group, `{"Created At":true}`, []string{"Created At"}},
	{"employees many", Group, `{"employees":"many"}`, []string{"employees"}},
	{"employees empty string", Group, `{"employees":""}`, []string{"employees"}},
	{"employees with a unit", Group, `{"employees":"329 people"}`, []string{"employees"}},
	{"employees a boolean", Group, `{"employees":true}`, []string{"employees"}},
	{"employees an object", Group, `{"employees":{"n":3}}`, []string{"employees"}},
	{"name a number", Group, `{"name":42}`, []string{"name"}},
	{"NAME an object", Group, `{"NAME":{"first":"x"}}`, []string{"NAME"}},
	{"email a boolean", Group, `{"email":false}`, []string{"email"}},
	{"id a boolean", Group, `{"id":true}`, []string{"id"}},
	{"plan an array", Group, `{"plan":["a"]}`, []string{"plan"}},
	{"several, in order", Group,
		`{"name":1,"industry":"ok","employees":"lots","address":"x","createdAt":"never"}`,
		[]string{"name", "employees", "address", "createdAt"}},
	{"address fields at the top are not checked", Group, `{"city":1,"postal_code":true,"street":[]}`, nil},

	{"group: user-only traits are ordinary", Group,
		`{"company":"Acme","age":"old","birthday":"soon","firstName":5,"title":{}}`, nil},
	{"identify: user traits valid", Identify,
		`{"company":{"name":"Acme"},"age":30,"birthday":"1990-05-01","firstName":"Ada","lastName":"L","title":"CTO","username":"ada","gender":"f"}`, nil},
	{"identify: age a numeric string", Identify, `{"age":"30"}`, nil},
	{"identify: company a string", Identify, `{"company":"Acme"}`, []string{"company"}},
	{"identify: age not a number", Identify, `{"age":"old"}`, []string{"age"}},
	{"identify: birthday not a date", Identify, `{"birthday":"soon"}`, []string{"birthday"}},
	{"identify: first_name a number", Identify, `{"first_name":5}`, []string{"first_name"}},
	{"identify: shared traits checked too", Identify, `{"createdAt":"x","employees":"y"}`, []string{"createdAt", "employees"}},
}

func TestTraitWarnings(t *testing.T) {
	for _, tc := range warningCases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"userId":"u1","groupId":"g1","traits":` + tc.traits + `}`
			msg, out := normalizeOK(t, newTestNormalizer(), body, tc.typ, nil)
			if len(msg.Warnings) != len(tc.warn) {
				t.Fatalf("warnings %q, want one for each of %q", msg.Warnings, tc.warn)
			}
			for i, name := range tc.warn {
				w := msg.Warnings[i]
				spelling, _ := ReservedName(name)
				if !strings.Contains(w, "traits."+name+":") || !strings.Contains(w, spelling) {
					t.Errorf("warning %q does not name traits.%s and %s", w, name, spelling)
				}
			}
			// The message is accepted with its traits unchanged.
			traits, _ := rawMemberValue(t, msg.JSON, "traits")
			if !jsonEqual(t, traits, tc.traits) {
				t.Errorf("traits = %s, want %s", traits, tc.traits)
			}
			if out["groupId"] != "g1" {
				t.Errorf("groupId = %#v", out["groupId"])
			}
		})
	}
}

func TestTraitWarningsOnlyForTraitCalls(t *testing.T) {
	bad := `{"createdAt":"never","employees":"many","address":"x"}`
	cases := []struct {
		name string
		typ  string
		body string
	}{
		{"track properties", Track, `{"userId":"u1","event":"e","properties":` + bad + `}`},
		{"page properties", Page, `{"userId":"u1","properties":` + bad + `}`},
		{"identify context.traits", Identify, `{"userId":"u1","context":{"traits":` + bad + `}}`},
		{"identify null traits", Identify, `{"userId":"u1","traits":null}`},
		{"alias", Alias, `{"userId":"u1","previousId":"a1"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, _ := normalizeOK(t, newTestNormalizer(), tc.body, tc.typ, nil)
			if len(msg.Warnings) != 0 {
				t.Errorf("warnings %q, want none", msg.Warnings)
			}
		})
	}
}

func TestIsNumericString(t *testing.T) {
	cases := []struct {
		value string
		want  bool
	}{
		{`"329"`, true},
		{`"-1"`, true},
		{`"1.5"`, true},
		{`"1e3"`, true},
		{`" 7 "`, true},
		{`"\u0033"`, true},
		{`""`, false},
		{`"  "`, false},
		{`"many"`, false},
		{`"1,000"`, false},
		{`"3 29"`, false},
		{`"0x10"`, false},
		{`"NaN"`, false},
		{`"Infinity"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			if got := isNumericString([]byte(tc.value)); got != tc.want {
				t.Errorf("isNumericString(%s) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

func TestReservedTraitsCoverTheSpec(t *testing.T) {
	// The reserved traits of the group spec and the address fields.
	group := []string{"address", "avatar", "createdAt", "description", "email", "employees", "id", "industry", "name", "phone", "website", "plan"}
	address := []string{"city", "country", "postalCode", "state", "street"}
	for _, name := range slices.Concat(group, address) {
		got, ok := ReservedName(strings.ToUpper(name))
		if !ok || got != name {
			t.Errorf("ReservedName(%q) = %q, %v; want %q", strings.ToUpper(name), got, ok, name)
		}
	}
}
