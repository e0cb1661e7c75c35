package destination

// Small helpers that several conversions share. Each is here because at
// least two provider packages need it with exactly the same behaviour; a
// package whose provider needs something subtly different keeps its own
// variant next to its conversion.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"roster/internal/spec"
)

// CheckURL reports why raw is not an absolute http or https URL with a
// host, the only kind of address a conversion's requests can be sent to.
// The error does not name the setting; the caller prefixes it.
func CheckURL(raw string) error {
	_, err := parseHTTPURL(raw)
	return err
}

// Endpoint reads a provider's endpoint setting: def when raw is empty,
// else raw once it is checked as a base URL (CheckURL, and no query or
// fragment, since conversions append paths and queries to it). The result
// has no trailing slash, so that paths starting with "/" can be appended.
// Errors name the setting, "settings.endpoint".
func Endpoint(raw, def string) (string, error) {
	if raw == "" {
		return def, nil
	}
	u, err := parseHTTPURL(raw)
	if err != nil {
		return "", fmt.Errorf("settings.endpoint: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("settings.endpoint: must be a base URL without query or fragment, not %q", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// parseHTTPURL is CheckURL returning the parsed URL, so that Endpoint
// parses once.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("must be an absolute http or https URL, not %q", raw)
	}
	return u, nil
}

// Lookup follows path through nested objects decoded by TraitMap (as
// context.page.url is Lookup(ctx, "page", "url")); nil when a step is
// absent, null or not an object.
func Lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// String reads an id-like or text value: a string as it is, or a number
// as its literal (TraitMap keeps numbers as json.Number, so large ids keep
// all their digits). ok is false for any other value, null included, so
// that callers can tell an empty string from no string.
func String(v any) (s string, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// ContextTraits is the event's context.traits object, the traits a
// library sends along with calls other than identify; empty when absent.
func ContextTraits(ev Event) map[string]any {
	if t, ok := TraitMap(ev.Context)["traits"].(map[string]any); ok {
		return t
	}
	return map[string]any{}
}

// SortedKeys returns m's keys in byte order, so that conversions walking
// a map (and resolving two spellings of one trait) give the same requests
// every time.
func SortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// EncodeJSON encodes v without HTML escaping, so that URLs and names in
// properties reach the provider byte for byte ("&" rather than "\u0026"),
// and without the encoder's trailing newline. A value that cannot be
// encoded (an invalid json.Number) never will be: the error wraps
// ErrPermanent. The caller prefixes its package name.
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrPermanent)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// isoLayouts are the timestamps ISODate rewrites: RFC 3339, and the same
// without a zone (read as UTC). Dates without a time are left alone, as
// they already have the form ISODate writes.
var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

// ISODate writes a date trait (createdAt) as ISO 8601 in UTC without zone
// or fraction, "2006-01-02T15:04:05": the form providers that compare
// dates as strings, or recognise dates by their shape, read as a date.
// Values that are not such timestamps pass through unchanged.
func ISODate(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05")
		}
	}
	return v
}

// PageCategory is a page's category: a top-level field of the message in
// older libraries, a property in newer ones; "" when neither is set.
func PageCategory(ev Event) string {
	var m struct {
		Category string `json:"category"`
	}
	if json.Unmarshal(ev.Body, &m) == nil && m.Category != "" {
		return m.Category
	}
	s, _ := String(TraitMap(ev.Properties)["category"])
	return s
}

// ReservedTrait finds the reserved trait name (in the spec's spelling) in
// m under any spelling of it (created_at, "Created At"…), taking the
// first spelling in byte order when several are present so that the
// result does not depend on map order.
func ReservedTrait(m map[string]any, name string) (any, bool) {
	for _, k := range SortedKeys(m) {
		if n, ok := spec.ReservedName(k); ok && n == name {
			return m[k], true
		}
	}
	return nil, false
}

// ReservedFor returns the spec name of trait k when k is a reserved trait
// of the profile kind of callType: the user-only traits (firstName…) are
// ordinary on a group, the address fields only mean something inside
// address. spec.TraitName gives the spec spelling for exactly those and
// any other name as given; asking about an upper-cased spelling, which
// never equals a spec spelling, tells the two apart.
func ReservedFor(callType, k string) (string, bool) {
	n, ok := spec.ReservedName(k)
	if !ok {
		return "", false
	}
	return n, spec.TraitName(callType, strings.ToUpper(k)) == n
}

// Email returns m's reserved email trait, trimmed, when it is a bare
// address (no display name, no angle brackets): providers that key people
// by email refuse anything else, so a conversion falls back to another
// source or another key rather than send it.
func Email(m map[string]any) (string, bool) {
	v, ok := ReservedTrait(m, "email")
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		return "", false
	}
	return s, true
}
