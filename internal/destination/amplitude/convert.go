package amplitude

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"roster/internal/destination"
	"roster/internal/spec"
)

func (c *converter) Convert(ev destination.Event) ([]destination.Request, error) {
	switch ev.Type {
	case spec.Group:
		return c.group(ev)
	case spec.Identify:
		return c.identify(ev)
	case spec.Track:
		if ev.Name == "" {
			return nil, fmt.Errorf("amplitude: track without an event name: %w", destination.ErrPermanent)
		}
		return c.track(ev, ev.Name)
	case spec.Page, spec.Screen:
		return c.track(ev, viewedName(ev))
	}
	// alias: see the package comment.
	return nil, nil
}

func (c *converter) group(ev destination.Event) ([]destination.Request, error) {
	if ev.GroupID == "" {
		return nil, fmt.Errorf("amplitude: group without a groupId: %w", destination.ErrPermanent)
	}
	// /groupidentify names no user: a user id Amplitude would refuse (too
	// short, a placeholder) costs only the /identify that links the user.
	ident, identErr := c.identity(ev)
	var reqs []destination.Request
	if traits := destination.TraitMap(ev.Traits); len(traits) > 0 {
		gi := map[string]any{
			"group_type":       c.groupType,
			"group_value":      ev.GroupID,
			"group_properties": operations(spec.Group, traits),
		}
		r, err := c.form("/groupidentify", gi)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	if identErr != nil {
		if len(reqs) > 0 {
			return reqs, nil
		}
		return nil, identErr
	}
	ident["groups"] = map[string]any{c.groupType: ev.GroupID}
	ident["user_properties"] = map[string]any{"$set": map[string]any{c.groupType: ev.GroupID}}
	r, err := c.form("/identify", ident)
	if err != nil {
		return nil, err
	}
	return append(reqs, r), nil
}

func (c *converter) identify(ev destination.Event) ([]destination.Request, error) {
	ident, err := c.identity(ev)
	if err != nil {
		return nil, err
	}
	traits := destination.TraitMap(ev.Traits)
	_, hasUser := ident["user_id"]
	_, hasDevice := ident["device_id"]
	if len(traits) == 0 && !(hasUser && hasDevice) {
		return nil, nil
	}
	if len(traits) > 0 {
		ident["user_properties"] = operations(spec.Identify, traits)
	}
	ctx := destination.TraitMap(ev.Context)
	for _, f := range contextFields {
		if s, _ := destination.String(destination.Lookup(ctx, f.path...)); s != "" {
			ident[f.field] = s
		}
	}
	r, err := c.form("/identify", ident)
	if err != nil {
		return nil, err
	}
	return []destination.Request{r}, nil
}

func (c *converter) track(ev destination.Event, eventType string) ([]destination.Request, error) {
	e, err := c.identity(ev)
	if err != nil {
		return nil, err
	}
	props := destination.TraitMap(ev.Properties)
	ctx := destination.TraitMap(ev.Context)
	if ev.Type == spec.Page || ev.Type == spec.Screen {
		if ev.Name != "" {
			props["name"] = ev.Name
		}
		if cat := destination.PageCategory(ev); cat != "" {
			props["category"] = cat
		}
	}
	e["event_type"] = eventType
	e["time"] = ev.Timestamp.UnixMilli()
	e["insert_id"] = ev.MessageID
	if len(props) > 0 {
		e["event_properties"] = props
	}
	// The call's group, context.groupId as ingestion read it.
	if ev.GroupID != "" {
		e["groups"] = map[string]any{c.groupType: ev.GroupID}
	}
	for _, f := range contextFields {
		if s, _ := destination.String(destination.Lookup(ctx, f.path...)); s != "" {
			e[f.field] = s
		}
	}
	if ip, _ := destination.String(ctx["ip"]); ip != "" {
		e["ip"] = ip
	}
	for field, key := range map[string]string{"location_lat": "latitude", "location_lng": "longitude"} {
		if n, ok := destination.Lookup(ctx, "location", key).(json.Number); ok {
			e[field] = n
		}
	}
	// Amplitude's revenue fields, from Segment's spec properties.
	for _, f := range []string{"revenue", "price", "quantity"} {
		if n, ok := props[f].(json.Number); ok {
			e[f] = n
		}
	}
	for _, f := range []string{"productId", "revenueType"} {
		if s, ok := props[f].(string); ok && s != "" {
			e[f] = s
		}
	}
	if n, ok := sessionID(ev.Options); ok {
		e["session_id"] = n
	}
	body := map[string]any{"api_key": c.apiKey, "events": []any{e}}
	if c.sendMin {
		body["options"] = map[string]any{"min_id_length": c.minIDLength}
	}
	b, err := destination.EncodeJSON(body)
	if err != nil {
		return nil, fmt.Errorf("amplitude: %w", err)
	}
	return []destination.Request{{
		Method: http.MethodPost,
		URL:    c.base + "/2/httpapi",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   b,
	}}, nil
}

// form builds a request to the Identify or Group Identify API, which take
// form fields, the identification being JSON.
func (c *converter) form(path string, identification map[string]any) (destination.Request, error) {
	b, err := destination.EncodeJSON([]any{identification})
	if err != nil {
		return destination.Request{}, fmt.Errorf("amplitude: %w", err)
	}
	f := url.Values{"api_key": {c.apiKey}, "identification": {string(b)}}
	if c.sendMin && path == "/identify" {
		// Not on the Identify API's page, but Segment's Amplitude
		// destination sends it there too; without it short ids are
		// dropped. Group identifications carry no ids.
		f.Set("options", fmt.Sprintf(`{"min_id_length":%d}`, c.minIDLength))
	}
	return destination.Request{
		Method: http.MethodPost,
		URL:    c.base + path,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(f.Encode()),
	}, nil
}

// identity starts an event or identification with the ids Amplitude will
// keep: user_id = userId, device_id = anonymousId else context.device.id.
func (c *converter) identity(ev destination.Event) (map[string]any, error) {
	m := map[string]any{}
	if c.usable(ev.UserID) {
		m["user_id"] = ev.UserID
	}
	device, _ := destination.String(destination.Lookup(destination.TraitMap(ev.Context), "device", "id"))
	for _, d := range []string{ev.AnonymousID, device} {
		if c.usable(d) {
			m["device_id"] = d
			break
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("amplitude: no user or device id Amplitude accepts (at least %d characters, not a placeholder): userId %q, anonymousId %q: %w",
			c.minIDLength, ev.UserID, ev.AnonymousID, destination.ErrPermanent)
	}
	return m, nil
}

func (c *converter) usable(id string) bool {
	return utf8.RuneCountInString(id) >= c.minIDLength && !invalidIDs[strings.ToLower(id)]
}

// invalidIDs are the ids the HTTP V2 API answers with a 400.
var invalidIDs = map[string]bool{
	"anonymous": true, "nil": true, "none": true, "null": true, "n/a": true, "na": true,
	"undefined": true, "unknown": true, `""`: true, "00000000-0000-0000-0000-000000000000": true,
	"{}": true, "lmy47d": true, "0": true, "-1": true,
}

// contextFields are the Segment context fields that Amplitude has event
// and identification fields for.
var contextFields = []struct {
	field string
	path  []string
}{
	{"app_version", []string{"app", "version"}},
	{"os_name", []string{"os", "name"}},
	{"os_version", []string{"os", "version"}},
	{"device_brand", []string{"device", "brand"}},
	{"device_manufacturer", []string{"device", "manufacturer"}},
	{"device_model", []string{"device", "model"}},
	{"carrier", []string{"network", "carrier"}},
	{"country", []string{"location", "country"}},
	{"region", []string{"location", "region"}},
	{"city", []string{"location", "city"}},
	{"language", []string{"locale"}},
}

// operations turns traits into user or group property operations: values
// are $set, nulls $unset (Amplitude has no null property value). Two
// spellings of one reserved trait (createdAt, created_at) give one
// property under the spec's spelling: the spec's spelling wins, else the
// first in sorted order, so that the result does not depend on map order.
func operations(callType string, traits map[string]any) map[string]any {
	set, unset := map[string]any{}, map[string]any{}
	exact := map[string]bool{}
	for _, k := range destination.SortedKeys(traits) {
		name := spec.TraitName(callType, k)
		if _, seen := exact[name]; seen && (exact[name] || k != name) {
			continue
		}
		exact[name] = k == name
		delete(set, name)
		delete(unset, name)
		switch v := traits[k]; {
		case v == nil:
			unset[name] = "-"
		case name == "createdAt":
			// Amplitude compares dates as strings.
			set[name] = destination.ISODate(v)
		default:
			set[name] = v
		}
	}
	ops := map[string]any{}
	if len(set) > 0 {
		ops["$set"] = set
	}
	if len(unset) > 0 {
		ops["$unset"] = unset
	}
	return ops
}

// viewedName names a page or screen event as Segment's Amplitude
// destination does.
func viewedName(ev destination.Event) string {
	kind := "Page"
	if ev.Type == spec.Screen {
		kind = "Screen"
	}
	name := strings.TrimSpace(destination.PageCategory(ev) + " " + ev.Name)
	if name == "" {
		return "Loaded a " + kind
	}
	return "Viewed " + name + " " + kind
}

// sessionID reads the session_id integration option, a number or a
// numeric string of milliseconds.
func sessionID(opts json.RawMessage) (json.Number, bool) {
	v := destination.TraitMap(opts)["session_id"]
	var n json.Number
	switch v := v.(type) {
	case json.Number:
		n = v
	case string:
		n = json.Number(strings.TrimSpace(v))
	default:
		return "", false
	}
	if _, err := n.Int64(); err != nil {
		return "", false
	}
	return n, true
}
