package mixpanel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

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
			return nil, fmt.Errorf("mixpanel: track without an event name: %w", destination.ErrPermanent)
		}
		return c.track(ev, ev.Name)
	case spec.Page:
		return c.track(ev, "Loaded a Page")
	case spec.Screen:
		return c.track(ev, "Loaded a Screen")
	case spec.Alias:
		return c.alias(ev)
	}
	return nil, nil
}

func (c *converter) group(ev destination.Event) ([]destination.Request, error) {
	if ev.GroupID == "" {
		return nil, fmt.Errorf("mixpanel: group without a groupId: %w", destination.ErrPermanent)
	}
	// An anonymous caller gets no people profile, only the group's.
	id, idErr := distinctID(ev)
	if ev.UserID == "" {
		id, idErr = "", nil
	}
	if idErr != nil {
		return nil, idErr
	}
	var reqs []destination.Request
	if traits := destination.TraitMap(ev.Traits); len(traits) > 0 {
		update := map[string]any{
			"$token":     c.token,
			"$group_key": c.groupKey,
			"$group_id":  ev.GroupID,
			"$set":       profileProps(spec.Group, traits),
			"$time":      ev.Timestamp.UnixMilli(),
			// A company's location is not that of whichever member sent
			// the call, nor of Roster's server.
			"$ip": "0",
		}
		r, err := c.post("/groups?verbose=1", update, "")
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	if id == "" {
		return reqs, nil
	}
	update := c.profileUpdate(ev, id)
	update["$union"] = map[string]any{c.groupKey: []string{ev.GroupID}}
	r, err := c.post("/engage?verbose=1", update, "")
	if err != nil {
		return nil, err
	}
	return append(reqs, r), nil
}

func (c *converter) identify(ev destination.Event) ([]destination.Request, error) {
	id, err := distinctID(ev)
	if err != nil {
		return nil, err
	}
	var reqs []destination.Request
	if ev.UserID != "" && ev.AnonymousID != "" && ev.UserID != ev.AnonymousID && id == ev.UserID {
		props := map[string]any{
			"$identified_id": ev.UserID,
			"$anon_id":       ev.AnonymousID,
		}
		r, err := c.event(ev, "$identify", id, props)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	props := profileProps(spec.Identify, destination.TraitMap(ev.Traits))
	// The group key property holds the groups that group calls $union: a
	// trait of that name would replace the list.
	delete(props, c.groupKey)
	if len(props) > 0 {
		update := c.profileUpdate(ev, id)
		update["$set"] = props
		r, err := c.post("/engage?verbose=1", update, "")
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

func (c *converter) alias(ev destination.Event) ([]destination.Request, error) {
	if ev.UserID == "" || ev.PreviousID == "" {
		return nil, fmt.Errorf("mixpanel: alias needs userId and previousId: %w", destination.ErrPermanent)
	}
	return one(c.event(ev, "$create_alias", ev.PreviousID, map[string]any{"alias": ev.UserID}))
}

func (c *converter) track(ev destination.Event, name string) ([]destination.Request, error) {
	id, err := distinctID(ev)
	if err != nil {
		return nil, err
	}
	props := destination.TraitMap(ev.Properties)
	ctx := destination.TraitMap(ev.Context)
	for _, m := range contextProps {
		if v := destination.Lookup(ctx, m.path...); v != nil {
			if _, set := props[m.prop]; !set {
				props[m.prop] = v
			}
		}
	}
	if ev.Type == spec.Page || ev.Type == spec.Screen {
		if ev.Name != "" {
			props["name"] = ev.Name
		}
		if cat := destination.PageCategory(ev); cat != "" {
			props["category"] = cat
		}
	}
	// The call's group, context.groupId as ingestion read it.
	if ev.GroupID != "" {
		if _, set := props[c.groupKey]; !set {
			props[c.groupKey] = ev.GroupID
		}
	}
	return one(c.event(ev, name, id, props))
}

func one(r destination.Request, err error) ([]destination.Request, error) {
	if err != nil {
		return nil, err
	}
	return []destination.Request{r}, nil
}

// event builds the event request: /import with the secret when there is
// one, else /track with the token. The identity, time and dedup
// properties are set last so that no event property can override them.
func (c *converter) event(ev destination.Event, name, distinctID string, props map[string]any) (destination.Request, error) {
	props["distinct_id"] = distinctID
	props["token"] = c.token
	props["time"] = ev.Timestamp.UnixMilli()
	props["$insert_id"] = insertID(ev.MessageID)
	// Simplified ID Merge joins anonymous and identified activity through
	// these two; Original ID Merge keeps them as plain properties.
	if ev.UserID != "" {
		props["$user_id"] = ev.UserID
	}
	if ev.AnonymousID != "" {
		props["$device_id"] = ev.AnonymousID
	}
	e := map[string]any{"event": name, "properties": props}
	if c.auth != "" {
		return c.post(c.importPath, e, c.auth)
	}
	return c.post("/track?verbose=1", e, "")
}

// profileUpdate starts an Engage update object for the profile id.
func (c *converter) profileUpdate(ev destination.Event, id string) map[string]any {
	ctx := destination.TraitMap(ev.Context)
	ip, _ := destination.String(ctx["ip"])
	if ip == "" {
		ip = "0"
	}
	u := map[string]any{
		"$token":       c.token,
		"$distinct_id": id,
		"$ip":          ip,
		"$time":        ev.Timestamp.UnixMilli(),
	}
	if active, ok := ctx["active"].(bool); ok && !active {
		u["$ignore_time"] = true
	}
	return u
}

// contextProps are the Segment context fields that Mixpanel has default
// event properties for (as Segment's Mixpanel destination maps them).
var contextProps = []struct {
	prop string
	path []string
}{
	{"ip", []string{"ip"}},
	{"$current_url", []string{"page", "url"}},
	{"$referrer", []string{"page", "referrer"}},
	{"$os", []string{"os", "name"}},
	{"$os_version", []string{"os", "version"}},
	{"$manufacturer", []string{"device", "manufacturer"}},
	{"$model", []string{"device", "model"}},
	{"$app_version_string", []string{"app", "version"}},
	{"$app_build_number", []string{"app", "build"}},
	{"$screen_width", []string{"screen", "width"}},
	{"$screen_height", []string{"screen", "height"}},
	{"$carrier", []string{"network", "carrier"}},
	{"utm_campaign", []string{"campaign", "name"}},
	{"utm_source", []string{"campaign", "source"}},
	{"utm_medium", []string{"campaign", "medium"}},
	{"utm_term", []string{"campaign", "term"}},
	{"utm_content", []string{"campaign", "content"}},
}

// renames maps reserved traits (in the spec's spelling) to Mixpanel's
// reserved profile properties.
var renames = map[string]string{
	"name":      "$name",
	"email":     "$email",
	"phone":     "$phone",
	"avatar":    "$avatar",
	"createdAt": "$created",
}

// userRenames are the renames of traits the spec reserves for users only;
// on a group call they are ordinary traits.
var userRenames = map[string]string{
	"firstName": "$first_name",
	"lastName":  "$last_name",
	"username":  "$username",
}

// profileProps turns traits into Mixpanel profile properties. Two
// spellings of one trait (createdAt and created_at) give one property:
// the spec's spelling wins, else the first in sorted order, so that the
// result does not depend on map order.
func profileProps(callType string, traits map[string]any) map[string]any {
	out := map[string]any{}
	exact := map[string]bool{}
	for _, k := range destination.SortedKeys(traits) {
		name := spec.TraitName(callType, k)
		target, v := name, traits[k]
		if r, ok := renames[name]; ok {
			target = r
		} else if r, ok := userRenames[name]; ok && callType == spec.Identify {
			target = r
		}
		if name == "createdAt" {
			// The form Mixpanel recognises as a date.
			v = destination.ISODate(v)
		}
		if _, seen := out[target]; seen && (exact[target] || k != name) {
			continue
		}
		out[target], exact[target] = v, k == name
		if name == "address" {
			addressProps(v, out)
		}
	}
	return out
}

// addressProps copies the parts of an address Mixpanel has reserved
// profile properties for. $country_code takes ISO two-letter codes only.
func addressProps(v any, out map[string]any) {
	addr, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range destination.SortedKeys(addr) {
		s, _ := destination.String(addr[k])
		if s == "" {
			continue
		}
		switch spec.FoldKey(k) {
		case "city":
			out["$city"] = s
		case "state":
			out["$region"] = s
		case "country":
			if len(s) == 2 && isLetters(s) {
				out["$country_code"] = strings.ToUpper(s)
			}
		}
	}
}

func isLetters(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// distinctID is the id Segment's Mixpanel destination uses: userId, else
// anonymousId, skipping values Mixpanel rejects as placeholders.
func distinctID(ev destination.Event) (string, error) {
	for _, id := range []string{ev.UserID, ev.AnonymousID} {
		if id != "" && !invalidIDs[strings.ToLower(id)] {
			return id, nil
		}
	}
	return "", fmt.Errorf("mixpanel: no usable distinct id (userId %q, anonymousId %q): %w", ev.UserID, ev.AnonymousID, destination.ErrPermanent)
}

// invalidIDs are the distinct_id values /import refuses as likely
// instrumentation mistakes.
var invalidIDs = map[string]bool{
	"00000000-0000-0000-0000-000000000000": true, "anon": true, "anonymous": true,
	"nil": true, "none": true, "null": true, "n/a": true, "na": true, "undefined": true,
	"unknown": true, "<nil>": true, "0": true, "-1": true, "true": true, "false": true,
	"[]": true, "{}": true,
}

// insertID is messageId when Mixpanel accepts it as $insert_id (at most
// 36 letters, digits or '-'), else a stable hash of it, cut to 36
// characters as Mixpanel recommends. analytics.js ids ("ajs-next-…") are
// longer than that.
func insertID(messageID string) string {
	ok := len(messageID) > 0 && len(messageID) <= 36
	for i := 0; ok && i < len(messageID); i++ {
		b := messageID[i]
		ok = b == '-' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
	}
	if ok && !invalidIDs[strings.ToLower(messageID)] {
		return messageID
	}
	sum := sha256.Sum256([]byte(messageID))
	return hex.EncodeToString(sum[:])[:36]
}
