package spec

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// FoldKey returns the key under which two trait names are the same trait:
// lower-cased, with spaces, '_', '-' and '.' removed, so that createdAt,
// created_at and "Created At" all fold to "createdat".
func FoldKey(name string) string {
	simple := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf || c == ' ' || c == '_' || c == '-' || c == '.' || (c >= 'A' && c <= 'Z') {
			simple = false
			break
		}
	}
	if simple {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		switch r {
		case ' ', '_', '-', '.':
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// reservedTraits maps the folded name of every reserved trait (group and
// user traits of the Segment spec, and the fields of address) to the
// spelling the spec gives it.
var reservedTraits = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		// group and user
		"address", "avatar", "createdAt", "description", "email", "employees",
		"id", "industry", "name", "phone", "website", "plan",
		// user only
		"age", "birthday", "company", "firstName", "gender", "lastName", "title", "username",
		// address fields
		"city", "country", "postalCode", "state", "street",
	} {
		m[FoldKey(n)] = n
	}
	return m
}()

// ReservedName returns the spec spelling of a reserved trait given any
// spelling of it, and whether the name is reserved at all.
func ReservedName(name string) (string, bool) {
	n, ok := reservedTraits[FoldKey(name)]
	return n, ok
}

// TraitName is the name a profile shows a trait under: reserved traits of
// that kind of profile (callType Group or Identify) under the spec's
// spelling, any other trait as sent. The fields of address are reserved
// only inside it, and the user-only traits only for users.
func TraitName(callType, name string) string {
	n, ok := reservedTraits[FoldKey(name)]
	if !ok || addressFields[n] || (callType == Group && userOnlyTraits[n]) {
		return name
	}
	return n
}

var addressFields = map[string]bool{"city": true, "country": true, "postalCode": true, "state": true, "street": true}

// userOnlyTraits are the reserved traits of users that the group spec does
// not reserve: on a group call they are ordinary traits.
var userOnlyTraits = map[string]bool{
	"age": true, "birthday": true, "company": true, "firstName": true,
	"gender": true, "lastName": true, "title": true, "username": true,
}

// traitWarnings checks the reserved traits of an identify or group call for
// the types the spec gives them. A wrong type is accepted; the warning is kept
// with the event so that whoever sent it can find out.
func traitWarnings(callType string, traits []member, warnings []string) []string {
	for _, m := range traits {
		spelling, ok := reservedTraits[FoldKey(string(m.name))]
		if !ok || (callType == Group && userOnlyTraits[spelling]) {
			continue
		}
		kind := m.value.Kind()
		if kind == 'n' { // null clears a trait; always allowed
			continue
		}
		var want string
		switch spelling {
		case "address", "company":
			if kind != '{' {
				want = "an object"
			}
		case "createdAt", "birthday":
			if kind != '"' || !isDate(m.value) {
				want = "an ISO-8601 date string"
			}
		case "employees", "age":
			if kind != '0' && (kind != '"' || !isNumericString(m.value)) {
				want = "a number or numeric string"
			}
		case "id", "phone":
			if kind != '"' && kind != '0' {
				want = "a string"
			}
		case "city", "country", "postalCode", "state", "street":
			continue // only meaningful inside address
		default:
			if kind != '"' {
				want = "a string"
			}
		}
		if want != "" {
			warnings = append(warnings, "traits."+string(m.name)+": reserved trait "+spelling+" should be "+want)
		}
	}
	return warnings
}

func isDate(v jsontext.Value) bool {
	s, err := unquote(v)
	if err != nil {
		return false
	}
	_, err = parseTime(s)
	return err == nil
}

func isNumericString(v jsontext.Value) bool {
	s, err := unquote(v)
	if err != nil {
		return false
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	return jsontext.Value(s).Kind() == '0' && jsontext.Value(s).IsValid()
}
