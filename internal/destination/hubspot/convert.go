package hubspot

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"roster/internal/destination"
	"roster/internal/spec"
)

// Convert turns one event into HubSpot requests.
func (h *HubSpot) Convert(ev destination.Event) ([]destination.Request, error) {
	switch ev.Type {
	case spec.Group:
		return h.group(ev)
	case spec.Identify:
		return h.identify(ev)
	case spec.Track:
		return h.track(ev)
	}
	return nil, nil
}

// upsertInput is one input of a CRM batch upsert: the record whose unique
// property idProperty has the value id.
type upsertInput struct {
	IDProperty string            `json:"idProperty"`
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
}

type upsertBody struct {
	Inputs []upsertInput `json:"inputs"`
}

func (h *HubSpot) upsert(object, idProperty, id string, props map[string]string) (destination.Request, error) {
	b, err := json.Marshal(upsertBody{Inputs: []upsertInput{{IDProperty: idProperty, ID: id, Properties: props}}})
	if err != nil {
		return destination.Request{}, err
	}
	return h.request("/crm/objects/"+apiVersion+"/"+object+"/batch/upsert", b), nil
}

func (h *HubSpot) group(ev destination.Event) ([]destination.Request, error) {
	if ev.GroupID == "" {
		return nil, fmt.Errorf("hubspot: group without groupId: %w", destination.ErrPermanent)
	}
	company, err := h.upsert("companies", h.groupIDProperty, ev.GroupID, h.properties(spec.Group, destination.TraitMap(ev.Traits)))
	if err != nil {
		return nil, err
	}
	reqs := []destination.Request{company}
	// Only the user's own traits name a contact: traits.email of a group
	// call is the company's address.
	ctxTraits := destination.ContextTraits(ev)
	if email, ok := destination.Email(ctxTraits); ok {
		contact, err := h.upsert("contacts", "email", email, h.properties(spec.Identify, ctxTraits))
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, contact)
	}
	return reqs, nil
}

func (h *HubSpot) identify(ev destination.Event) ([]destination.Request, error) {
	traits := destination.TraitMap(ev.Traits)
	email, ok := destination.Email(traits)
	if !ok {
		email, ok = destination.Email(destination.ContextTraits(ev))
	}
	if !ok {
		return nil, fmt.Errorf("hubspot: identify without a valid email in traits or context.traits (HubSpot keys contacts by email): %w", destination.ErrPermanent)
	}
	contact, err := h.upsert("contacts", "email", email, h.properties(spec.Identify, traits))
	if err != nil {
		return nil, err
	}
	return []destination.Request{contact}, nil
}

// eventBody is a custom event occurrence.
type eventBody struct {
	EventName  string            `json:"eventName"`
	OccurredAt string            `json:"occurredAt"`
	Email      string            `json:"email"`
	UUID       string            `json:"uuid,omitempty"`
	Properties map[string]string `json:"properties"`
}

func (h *HubSpot) track(ev destination.Event) ([]destination.Request, error) {
	name, ok := h.eventName(ev)
	if !ok {
		return nil, nil
	}
	props := destination.TraitMap(ev.Properties)
	email, ok := destination.Email(props)
	if !ok {
		email, ok = destination.Email(destination.ContextTraits(ev))
	}
	if !ok {
		return nil, fmt.Errorf("hubspot: track %q without a valid email in properties or context.traits (HubSpot needs one to find the contact): %w", ev.Name, destination.ErrPermanent)
	}
	custom := map[string]string{}
	for _, k := range destination.SortedKeys(props) {
		if n, ok := spec.ReservedName(k); ok && n == "email" {
			continue
		}
		addCustom(custom, propertyName(k), props[k])
	}
	body := eventBody{
		EventName:  name,
		OccurredAt: ev.Timestamp.UTC().Format(spec.TimeLayout),
		Email:      email,
		Properties: custom,
	}
	if isUUID(ev.MessageID) {
		body.UUID = strings.ToLower(ev.MessageID)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return []destination.Request{h.request("/events/v3/send", b)}, nil
}

// eventName is the HubSpot event a track call is sent as: the call's own
// eventName option, else the events setting by exact name, else by name
// ignoring case (libraries and people spell "Signed Up" and "signed up").
func (h *HubSpot) eventName(ev destination.Event) (string, bool) {
	var opts struct {
		EventName string `json:"eventName"`
	}
	if len(ev.Options) > 0 && json.Unmarshal(ev.Options, &opts) == nil && opts.EventName != "" {
		return opts.EventName, true
	}
	if n, ok := h.events[ev.Name]; ok {
		return n, true
	}
	for _, k := range h.eventNames {
		if strings.EqualFold(k, ev.Name) {
			return h.events[k], true
		}
	}
	return "", false
}

// properties maps a group's or a user's traits to HubSpot properties: the
// reserved traits that have a standard HubSpot property, and the traits
// the properties setting maps. Nothing else is sent, since HubSpot refuses
// the whole request for one property that does not exist (400
// PROPERTY_DOESNT_EXIST). A mapped trait does not overwrite a standard
// property set from a reserved trait.
func (h *HubSpot) properties(callType string, traits map[string]any) map[string]string {
	fixed := map[string]string{}
	custom := map[string]string{}
	set := func(name string, v any) {
		if s, ok := scalar(v); ok {
			fixed[name] = s
		}
	}
	var name any
	for _, k := range destination.SortedKeys(traits) {
		v := traits[k]
		if prop, ok := h.mapped[spec.FoldKey(k)]; ok {
			addCustom(custom, prop, v)
			continue
		}
		n, reserved := destination.ReservedFor(callType, k)
		if !reserved {
			continue
		}
		switch n {
		case "address":
			address(fixed, v)
		case "phone":
			set("phone", v)
		case "website":
			set("website", v)
			if callType == spec.Group {
				if s, ok := v.(string); ok {
					if host := bareHost(s); host != "" {
						fixed["domain"] = host
					}
				}
			}
		case "name":
			if callType == spec.Group {
				set("name", v)
			} else {
				name = v
			}
		case "industry":
			// An enumeration: only a value that is one of its options.
			if opt := industryOption(v); callType == spec.Group && opt != "" {
				fixed["industry"] = opt
			} else if callType == spec.Group && v == nil {
				fixed["industry"] = ""
			}
		case "description":
			if callType == spec.Group {
				set(n, v)
			}
		case "employees":
			if callType == spec.Group {
				set("numberofemployees", v)
			}
		case "firstName":
			set("firstname", v)
		case "lastName":
			set("lastname", v)
		case "title":
			set("jobtitle", v)
		case "company":
			if m, ok := v.(map[string]any); ok {
				if cn, ok := destination.ReservedTrait(m, "name"); ok {
					set("company", cn)
				}
			} else {
				set("company", v)
			}
		}
		// id, email (a contact's key; a company has no email property),
		// createdAt, plan and the other reserved traits have no standard
		// property: they are sent only when the properties setting maps them.
	}
	// Segment's own destinations derive first and last names from name
	// when they are not given; HubSpot contacts have no name property.
	if s, ok := name.(string); ok && s != "" {
		if _, f := fixed["firstname"]; !f {
			if _, l := fixed["lastname"]; !l {
				first, last, _ := strings.Cut(strings.TrimSpace(s), " ")
				fixed["firstname"] = first
				if last = strings.TrimSpace(last); last != "" {
					fixed["lastname"] = last
				}
			}
		}
	}
	for k, v := range custom {
		if _, ok := fixed[k]; !ok {
			fixed[k] = v
		}
	}
	return fixed
}

// addressFields are HubSpot's properties for the fields of the reserved
// address object, by folded name: the spec's five, and line2.
var addressFields = map[string]string{"street": "address", "line1": "address", "line2": "address2", "city": "city", "state": "state", "postalcode": "zip", "country": "country"}

// address maps the reserved address object to HubSpot's address
// properties; its other fields are not sent, an address sent as a plain
// string is the street, and a null address clears them all.
func address(fixed map[string]string, v any) {
	if v == nil {
		for _, p := range addressFields {
			fixed[p] = ""
		}
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		if s, ok := scalar(v); ok {
			fixed["address"] = s
		}
		return
	}
	for _, k := range destination.SortedKeys(m) {
		if target := addressFields[spec.FoldKey(k)]; target != "" {
			if s, ok := scalar(m[k]); ok {
				if _, done := fixed[target]; !done {
					fixed[target] = s
				}
			}
		}
	}
}

// addCustom adds a custom trait, flattening objects into name_key entries.
func addCustom(props map[string]string, name string, v any) {
	if m, ok := v.(map[string]any); ok {
		for _, k := range destination.SortedKeys(m) {
			addCustom(props, name+"_"+propertyName(k), m[k])
		}
		return
	}
	if s, ok := scalar(v); ok {
		if _, exists := props[name]; !exists {
			props[name] = s
		}
	}
}

// scalar renders a value as HubSpot's string property value. Objects are not
// scalars; the caller flattens or drops them.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true // clears the property
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any, nil:
				b, err := json.Marshal(x)
				if err != nil {
					return "", false
				}
				return string(b), true
			}
			s, _ := scalar(e)
			parts = append(parts, s)
		}
		return strings.Join(parts, ";"), true
	}
	return "", false
}

// propertyName is a trait name as a HubSpot internal property name: lower
// case, with every character other than a-z and 0-9 replaced by "_".
func propertyName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// bareHost is a website as HubSpot's company domain: the host alone, lower
// case, without "www.".
func bareHost(website string) string {
	s := strings.TrimSpace(website)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}

// isUUID reports a canonical 8-4-4-4-12 hex UUID, the only form HubSpot's
// occurrence uuid is documented to take.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
