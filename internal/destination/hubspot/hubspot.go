// Package hubspot delivers identify, group and track calls to HubSpot's CRM
// and custom-event APIs, authenticated with a static access token.
//
// Settings:
//
//	accessToken      required  a Service Key (Settings > Integrations > Service Keys), which
//	                           replaces legacy private apps for system-to-system integrations,
//	                           or a project app's static token; sent as "Authorization: Bearer
//	                           <token>" (scopes crm.objects.contacts.write,
//	                           crm.objects.companies.write, and analytics.behavioral_events.send
//	                           for track)
//	endpoint         optional  API base URL, default https://api.hubapi.com
//	groupIdProperty  optional  internal name of the company property that holds the Segment
//	                           groupId, default "roster_group_id"
//	properties       optional  map from a trait name (any spelling) to the internal name of the
//	                           HubSpot property it is sent as, for traits with no standard
//	                           property, as Segment's HubSpot action maps them
//	events           optional  map from Segment event name to the fully qualified HubSpot
//	                           custom event name ("pe<HubID>_<name>") that track sends
//
// HubSpot keys companies by HubSpot object ids, so the group id must live in
// a property of its own that HubSpot knows is unique: before enabling the
// destination, create a company property (Settings > Properties > Company
// properties, or POST /crm/properties/2026-03/companies) with the internal
// name given in groupIdProperty, field type single-line text and "Require
// unique values for this property" set (hasUniqueValue: true). Without it
// HubSpot rejects every group call. Each property named in the properties
// setting must exist too, on companies for group traits and on contacts
// for identify traits.
//
// Calls (CRM objects through the dated 2026-03 API, which replaces /crm/v3):
//
//   - group upserts the company whose groupIdProperty equals the groupId:
//     POST /crm/objects/2026-03/companies/batch/upsert with one input
//     {idProperty: groupIdProperty, id: groupId, properties}. When the call's
//     context.traits carry an email (HubSpot keys contacts by email), it also
//     upserts that contact, as identify does. The group's own traits.email is
//     the company's email, not the user's, so it never identifies a contact.
//   - identify upserts the contact with the trait's email (traits.email,
//     else context.traits.email): POST /crm/objects/2026-03/contacts/batch/upsert
//     with {idProperty: "email", id: email, properties}. An identify without
//     an email is a permanent error, as in Segment's and RudderStack's HubSpot
//     destinations, which both refuse it: HubSpot has no other key to find
//     the contact by.
//   - track sends a custom event occurrence, POST /events/v3/send, for events
//     named in the events setting (or given an eventName in the call's
//     integrations options, {"HubSpot": {"eventName": "pe123_x"}}); other
//     events are not sent. The contact is found by properties.email, else
//     context.traits.email; a mapped event without either is a permanent
//     error. occurredAt is the event's timestamp; a messageId that is a UUID
//     is sent as the occurrence's uuid, which HubSpot deduplicates for a
//     year (it refuses the later copies, so a retry after a lost answer can
//     end as a dead letter for an occurrence HubSpot already has). Every
//     event property is sent: the custom event must define them.
//   - page, screen and alias are not sent: HubSpot takes page views only from
//     its own tracking script.
//
// Association. HubSpot associates records by their HubSpot object ids only
// (the associations API and the "associations" of a create take
// {"id": ...}; neither the batch upsert inputs nor the association endpoints
// accept a unique property instead). A conversion sends requests without
// reading their answers, so it cannot learn the ids and the contact is not
// associated with the company explicitly. HubSpot does associate them itself
// when its "Automatically create and associate companies with contacts"
// setting is on and the contact's email domain matches the company's domain,
// which is why website is also written to the company's domain as a bare
// host.
//
// Properties. By default only the reserved traits that have a standard
// HubSpot property are sent, since HubSpot refuses the whole request for a
// property that does not exist (400 PROPERTY_DOESNT_EXIST):
//
//	group:    name→name, website→domain (bare host, no scheme, path or "www.")
//	          and website, industry→industry, employees→numberofemployees,
//	          phone→phone, description→description
//	identify: firstName→firstname, lastName→lastname (or both split from name),
//	          phone→phone, title→jobtitle, company (or company.name)→company,
//	          website→website
//	both:     address.street→address, address.line2→address2, address.city→city,
//	          address.state→state, address.postalCode→zip, address.country→country
//
// industry is an enumeration (400 INVALID_OPTION for any other value): it is
// sent only when the trait names one of HubSpot's default options, by the
// option ("COMPUTER_SOFTWARE") or its label ("Computer Software"). Reserved
// names are recognised in any spelling (created_at = createdAt). Every other
// trait (email on a group, plan, createdAt, custom traits) is sent only when
// the properties setting maps it; an object is flattened into
// <property>_<key> entries.
//
// Values are sent as the strings HubSpot's API documents: numbers as their
// literal (large integers intact), booleans as "true"/"false", arrays of
// scalars joined by ";" (HubSpot's multiple-checkbox format), other arrays as
// JSON, and null as "" (which clears the property). Dates are sent as given:
// HubSpot reads ISO 8601 strings for date and datetime properties.
//
// Docs followed:
//   - https://developers.hubspot.com/docs/api-reference/2026-03/overview (dated paths)
//   - https://developers.hubspot.com/docs/api-reference/latest/crm/objects/custom-objects/batch/upsert-custom-objects
//   - https://developers.hubspot.com/changelog/service-keys (replacing legacy private apps)
//   - https://developers.hubspot.com/docs/api-reference/legacy/events/send-event-data/guide
//   - https://segment.com/docs/connections/destinations/catalog/actions-hubspot-cloud/ (standard
//     properties by default, custom ones through a properties mapping)
//   - rudderlabs/rudder-transformer src/v0/destinations/hs (contact field mapping, null → "")
package hubspot

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"roster/internal/destination"
	"roster/internal/spec"
)

const (
	defaultEndpoint        = "https://api.hubapi.com"
	defaultGroupIDProperty = "roster_group_id"
	// apiVersion is the date version of HubSpot's CRM object APIs, which
	// replace /crm/v3 (retired in September 2027).
	apiVersion = "2026-03"
)

type settings struct {
	AccessToken     string            `json:"accessToken"`
	Endpoint        string            `json:"endpoint"`
	GroupIDProperty string            `json:"groupIdProperty"`
	Events          map[string]string `json:"events"`
	Properties      map[string]string `json:"properties"`
}

// internalName is what HubSpot allows as a property's internal name.
var internalName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// HubSpot converts events to HubSpot API requests. It is immutable after New.
type HubSpot struct {
	base            string
	token           string
	groupIDProperty string
	events          map[string]string
	// mapped are the properties setting: folded trait name → the HubSpot
	// property it is sent as.
	mapped map[string]string
	// eventNames are the keys of events sorted, for the case-insensitive
	// fallback to pick the same mapping every time.
	eventNames []string
}

// New builds a HubSpot converter from its settings.
func New(raw map[string]any) (destination.Converter, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if strings.TrimSpace(s.AccessToken) == "" {
		return nil, destination.Required("accessToken")
	}
	base, err := destination.Endpoint(s.Endpoint, defaultEndpoint)
	if err != nil {
		return nil, err
	}
	prop := s.GroupIDProperty
	if prop == "" {
		prop = defaultGroupIDProperty
	}
	if !internalName.MatchString(prop) {
		return nil, fmt.Errorf("settings.groupIdProperty: must be a HubSpot internal property name (lower-case letters, digits and _, starting with a letter), not %q", prop)
	}
	h := &HubSpot{base: base, token: s.AccessToken, groupIDProperty: prop, events: map[string]string{}, mapped: map[string]string{}}
	for trait, property := range s.Properties {
		if strings.TrimSpace(trait) == "" || !internalName.MatchString(property) {
			return nil, fmt.Errorf("settings.properties: %q: %q must be a HubSpot internal property name (lower-case letters, digits and _, starting with a letter)", trait, property)
		}
		h.mapped[spec.FoldKey(trait)] = property
	}
	for k, v := range s.Events {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("settings.events: event names and HubSpot event names must not be empty (%q: %q)", k, v)
		}
		h.events[k] = v
		h.eventNames = append(h.eventNames, k)
	}
	sort.Strings(h.eventNames)
	return h, nil
}

func (h *HubSpot) request(path string, body []byte) destination.Request {
	return destination.Request{
		Method: http.MethodPost,
		URL:    h.base + path,
		Header: http.Header{
			"Authorization": {"Bearer " + h.token},
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json"},
		},
		Body: body,
	}
}
