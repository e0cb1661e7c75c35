// Package intercom delivers identify, group and track calls to Intercom's
// REST API, authenticated with an access token.
//
// Settings:
//
//	accessToken  required  access token of an Intercom app, sent as "Authorization: Bearer <token>"
//	endpoint     optional  API base URL, default https://api.intercom.io
//	                       (https://api.eu.intercom.io and https://api.au.intercom.io for the
//	                       EU and Australian regions)
//	apiVersion   optional  Intercom-Version header of the company and event requests,
//	                       default "2.11"; "2.x" or "Unstable"
//	companyAttributes  optional  the company custom attributes defined in Intercom
//	                       (Settings > Data > Companies), which companies may be sent with;
//	                       by default none is sent
//
// Calls:
//
//   - group creates or updates the company with company_id = groupId:
//     POST /companies {company_id, name, plan, size (employees),
//     website, industry, remote_created_at (createdAt in Unix seconds),
//     monthly_spend (the monthly_spend trait, truncated to a whole number
//     as Intercom does), custom_attributes}. When the
//     user is known (userId, or context.traits.email), a second request
//     attaches them to it: POST /users {user_id, email, companies:
//     [{company_id}]}. Intercom shows a company only once it has a user.
//   - identify creates or updates the user: POST /users {user_id (userId),
//     email, name (or firstName and lastName joined), phone, signed_up_at
//     (createdAt in Unix seconds), companies (from the company trait),
//     custom_attributes}. An identify with neither a userId nor an email is
//     not sent: Segment's Intercom destination does not create leads, and
//     Intercom has no other record for an anonymous visitor.
//   - track submits a data event: POST /events {event_name, created_at (the
//     event's timestamp in Unix seconds), user_id (userId) or else email
//     (properties.email, else context.traits.email), metadata}. Without
//     either identifier the event is not sent, for the reason above.
//     Intercom answers 404, a permanent failure, for a user it does not know
//     yet, so the user's identify must reach it first (the log's order
//     does that when both go through Roster); it ignores a repeated event
//     with the same user, name and created_at, so retries do not count an
//     event twice.
//   - page, screen and alias are not sent: Intercom takes page views only
//     from its Messenger script.
//
// Why /users. Intercom 2.x has no create-or-update for contacts: POST
// /contacts only creates (409 when the contact exists) and updating or
// attaching a company (POST /contacts/{id}/companies with the company's
// Intercom id) needs Intercom's ids, which a search would have to return
// first. A conversion sends requests without reading their answers, so the
// user requests use the Users API of version 1.4, the last that has it,
// which creates or updates by user_id or email and creates and attaches the
// companies listed in "companies" by company_id. Those requests carry
// "Intercom-Version: 1.4" whatever apiVersion says; users and leads of 1.4
// are the contacts of 2.x (user_id is their external_id). Should Intercom
// retire 1.4, identify and the group attachment need a search-then-update
// sequence that the conversion contract cannot express today.
//
// Last seen. A server-side call does not make the user "seen": only with
// context.active true does the user request set last_request_at to the
// event's timestamp, and last_seen_ip and last_seen_user_agent from
// context.ip and context.userAgent, as Segment's destination documents.
// The per-call option {"Intercom": {"unsubscribedFromEmails": true}} sets
// unsubscribed_from_emails.
//
// Attributes. Reserved traits are recognised in any spelling (created_at =
// createdAt). The id trait is not sent (userId or groupId already keys the
// record). A company trait that is an object becomes {company_id: its id,
// or the MD5 of its name as Segment does, ...the company fields above,
// remove: true when given}; a company that is a string becomes {company_id:
// MD5 of the name, name}. Every other trait becomes a custom attribute,
// named as sent (reserved traits under their spec name) with the characters
// Intercom forbids in attribute names (. $ ~ ` ! @ # % ^ & * ' { } | \ ")
// replaced by "_". Intercom custom attributes hold only strings, numbers,
// booleans and null, so nested objects are flattened with "_" (address.city
// → address_city), arrays are sent as their JSON text, and strings are cut
// to Intercom's 255 characters. null clears a custom attribute; a null
// standard field (name, plan…) is left out rather than sent. Intercom 2.x
// refuses a company request whose custom attribute is not defined in the
// workspace, so a company (of a group call, or an identify's company trait)
// gets only the custom attributes named in
// companyAttributes (matched in any spelling: "Plan Tier" = plan_tier), and
// each must be created in Intercom first, with the type the traits carry.
//
// Metadata. Intercom takes at most 10 flat metadata keys per event. Numbers,
// booleans and strings (cut to 255 characters) pass; null is dropped; an
// object shaped as Intercom's rich link {url, value} or monetary amount
// {amount, currency} passes as is; other objects are flattened with "_" and
// arrays sent as JSON text. properties.revenue becomes the monetary amount
// price {amount: revenue in cents, currency: properties.currency or "usd"}.
// email is not repeated in the metadata. When more than 10 keys remain,
// price is kept first, then the keys in sorted order, and the rest are
// dropped.
//
// Docs followed:
//   - https://developers.intercom.com/docs/references/rest-api/api.intercom.io/companies/listallcompanies
//     (Create or update a company: company_id lookup, field types, monthly_spend truncation)
//   - https://developers.intercom.com/intercom-api-reference/reference/createdataevent
//     (metadata types, the 10-key limit, duplicates ignored by user, name and created_at)
//   - https://developers.intercom.com/docs/references/2.1/rest-api/contacts/create-contact (create only, 409)
//   - https://developers.intercom.com/docs/references/rest-api/api.intercom.io/Contacts/UpdateContact/ (needs the Intercom id)
//   - https://developers.intercom.com/docs/references/1.4/rest-api/users/create-or-update-user
//   - https://developers.intercom.com/docs/references/1.2/rest-api/users/companies-and-users
//   - https://developers.intercom.com/docs/references/1.4/rest-api/users/updating-the-last-seen-time
//   - https://developers.intercom.com/docs/build-an-integration/learn-more/rest-apis/update-your-api-version
//   - https://www.intercom.com/help/en/articles/179-send-custom-user-attributes-to-intercom
//   - https://segment.com/docs/connections/destinations/catalog/intercom/ (server-side
//     mapping, company id as MD5 of a name, active, no leads, revenue → price)
//   - segmentio/action-destinations intercom (groupIdentifyContact, trackEvent) and
//     rudderlabs/rudder-transformer intercom (the v1 /users flow)
package intercom

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"roster/internal/destination"
	"roster/internal/spec"
)

const (
	defaultEndpoint   = "https://api.intercom.io"
	defaultAPIVersion = "2.11"
	// usersAPIVersion is the last Intercom API version with the Users API,
	// the only create-or-update for people that needs no Intercom id.
	usersAPIVersion = "1.4"
)

type settings struct {
	AccessToken       string   `json:"accessToken"`
	Endpoint          string   `json:"endpoint"`
	APIVersion        string   `json:"apiVersion"`
	CompanyAttributes []string `json:"companyAttributes"`
}

var apiVersion = regexp.MustCompile(`^([0-9]+)\.[0-9]+$`)

// Intercom converts events to Intercom API requests. It is immutable after
// New.
type Intercom struct {
	base    string
	token   string
	version string
	// companyAttributes are the folded names of the company custom
	// attributes defined in Intercom, which group calls may write.
	companyAttributes map[string]bool
}

// New builds an Intercom converter from its settings.
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
	v := s.APIVersion
	if v == "" {
		v = defaultAPIVersion
	}
	// The company and event bodies follow the 2.x documents.
	if m := apiVersion.FindStringSubmatch(v); v != "Unstable" && (m == nil || atoi(m[1]) < 2) {
		return nil, fmt.Errorf("settings.apiVersion: must be an Intercom API version 2.0 or later (\"2.11\") or \"Unstable\", not %q", v)
	}
	ic := &Intercom{base: base, token: s.AccessToken, version: v, companyAttributes: map[string]bool{}}
	for i, name := range s.CompanyAttributes {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("settings.companyAttributes[%d]: must not be empty", i)
		}
		ic.companyAttributes[spec.FoldKey(attributeName(name))] = true
	}
	return ic, nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func (ic *Intercom) request(path, version string, body []byte) destination.Request {
	return destination.Request{
		Method: http.MethodPost,
		URL:    ic.base + path,
		Header: http.Header{
			"Authorization":    {"Bearer " + ic.token},
			"Content-Type":     {"application/json"},
			"Accept":           {"application/json"},
			"Intercom-Version": {version},
		},
		Body: body,
	}
}
