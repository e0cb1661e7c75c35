// Package mixpanel converts Segment calls for Mixpanel's Ingestion API.
//
// What each call becomes:
//
//   - group: a Groups API $set of the traits on the group profile
//     ($group_key = setting groupKey, $group_id = groupId), sent only when
//     there are traits, and an Engage $union of {groupKey: [groupId]} on the
//     user's profile, so that the user keeps the groups it is already in.
//     A group call with only an anonymousId creates no people profile (an
//     anonymous visitor is no person in Mixpanel, and its profile would
//     count against the plan): it sends only the group's $set.
//   - identify: an Engage $set of the traits on userId (else anonymousId).
//     A trait named as the group key property (groupKey) is not set: it
//     would replace the list of groups that group calls $union.
//     With both ids, an $identify event first tells Mixpanel that the
//     anonymous id is that user (Original ID Merge; under Simplified ID
//     Merge the $device_id and $user_id it carries do the same).
//   - track, page, screen: one event on /track (token in the properties)
//     or, with a service account (serviceAccount, serviceAccountSecret,
//     projectId: Basic auth with the account, ?project_id=) or apiSecret
//     (Basic auth with the project secret, which Mixpanel retires on
//     2027-03-03), /import,
//     with distinct_id, time in ms, $insert_id from messageId, and the
//     group key property when context.groupId is set, so that Mixpanel
//     Group Analytics attributes the event to the group. Pages are
//     "Loaded a Page" and screens "Loaded a Screen", with name and
//     category as properties: Segment's default, which keeps Mixpanel's
//     event names few.
//   - alias: a $create_alias event (distinct_id previousId, alias userId),
//     as Segment sends it. Projects on Simplified ID Merge ignore it.
//
// Reserved traits are recognised in any spelling (created_at = createdAt)
// and renamed to Mixpanel's reserved profile properties: name → $name,
// email → $email, phone → $phone, avatar → $avatar, createdAt → $created
// (as an ISO UTC date), and for users firstName → $first_name, lastName →
// $last_name, username → $username; address.city, address.state and a
// two-letter address.country also become $city, $region and
// $country_code. Other reserved traits keep the spec's spelling, other
// traits the client's; values (null, lists, objects, big numbers) pass
// through unchanged.
//
// Profile updates carry $time (the event time, so that Mixpanel applies
// updates in event order) and $ip: context.ip for users, else "0" so that
// Mixpanel does not locate everyone at Roster's server, and always "0" for
// groups, whose location is not that of the member who sent the call.
// User updates carry $ignore_time when context.active is false. Bodies
// are JSON arrays, as the Ingestion API reference documents for every
// endpoint.
//
// Batches: delivery hands the converter up to 2,000 events, the most every
// ingestion endpoint takes in one request, and their requests to the same
// endpoint become one, in log order.
//
// Limits: /track takes events of the last 5 days only, so replays and
// backfills need /import (a service account, or apiSecret). Without either, /track, /engage
// and /groups answer 200 even when Mixpanel rejects the data (the body
// says so); ?verbose=1 makes that body a JSON object with the error.
//
// Docs followed:
//   - https://developer.mixpanel.com/reference/ingestion-api (openapi:
//     https://github.com/mixpanel/docs/blob/main/openapi/src/ingestion.openapi.yaml)
//   - https://developer.mixpanel.com/reference/import-events
//   - https://developer.mixpanel.com/reference/track-event
//   - https://developer.mixpanel.com/reference/profile-set,
//     https://developer.mixpanel.com/reference/user-profile-union
//   - https://developer.mixpanel.com/reference/group-set-property
//   - https://developer.mixpanel.com/reference/identity-create-alias,
//     https://developer.mixpanel.com/reference/create-identity
//   - https://docs.mixpanel.com/docs/data-structure/property-reference/reserved-properties
//   - https://docs.mixpanel.com/docs/tracking-best-practices/geolocation
//   - https://docs.mixpanel.com/docs/data-structure/group-analytics
//   - Segment's mapping: https://segment.com/docs/connections/destinations/catalog/mixpanel/
//     and segmentio/action-destinations (mixpanel).
package mixpanel

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"roster/internal/destination"
)

// DefaultEndpoint is Mixpanel's US ingestion host; EU projects set
// endpoint to https://api-eu.mixpanel.com.
const DefaultEndpoint = "https://api.mixpanel.com"

type settings struct {
	ProjectToken string `json:"projectToken"`
	GroupKey     string `json:"groupKey"`
	APISecret    string `json:"apiSecret"`
	// A service account authenticates /import without the project secret,
	// which Mixpanel retires.
	ServiceAccount       string `json:"serviceAccount"`
	ServiceAccountSecret string `json:"serviceAccountSecret"`
	ProjectID            string `json:"projectId"`
	Endpoint             string `json:"endpoint"`
}

type converter struct {
	token    string
	groupKey string
	// auth is the Authorization header for /import, empty when events go
	// to /track; importPath is /import with its query (a service account
	// names the project there).
	auth       string
	importPath string
	base       string
}

// New builds the Mixpanel converter from its settings: projectToken and
// groupKey are required, apiSecret and endpoint optional.
func New(raw map[string]any) (destination.Converter, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return nil, err
	}
	s.ProjectToken = strings.TrimSpace(s.ProjectToken)
	s.GroupKey = strings.TrimSpace(s.GroupKey)
	if s.ProjectToken == "" {
		return nil, destination.Required("projectToken")
	}
	if s.GroupKey == "" {
		return nil, destination.Required("groupKey")
	}
	base, err := destination.Endpoint(s.Endpoint, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	c := &converter{token: s.ProjectToken, groupKey: s.GroupKey, base: base, importPath: "/import?strict=1"}
	switch {
	case s.ServiceAccount != "" || s.ServiceAccountSecret != "" || s.ProjectID != "":
		if s.APISecret != "" {
			return nil, fmt.Errorf("settings.apiSecret: set either apiSecret or a service account, not both")
		}
		for _, f := range []struct{ name, value string }{{"serviceAccount", s.ServiceAccount}, {"serviceAccountSecret", s.ServiceAccountSecret}, {"projectId", s.ProjectID}} {
			if strings.TrimSpace(f.value) == "" {
				return nil, fmt.Errorf("settings.%s: required with a service account (serviceAccount, serviceAccountSecret and projectId)", f.name)
			}
		}
		if _, err := strconv.ParseUint(s.ProjectID, 10, 64); err != nil {
			return nil, fmt.Errorf("settings.projectId: must be the project's numeric id, not %q", s.ProjectID)
		}
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.ServiceAccount+":"+s.ServiceAccountSecret))
		c.importPath = "/import?strict=1&project_id=" + url.QueryEscape(s.ProjectID)
	case s.APISecret != "":
		// Mixpanel takes the project secret as the Basic username with an
		// empty password.
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.APISecret+":"))
	}
	return c, nil
}

// post builds a request whose body is the one-element JSON array holding
// obj: every ingestion endpoint takes a list of objects.
func (c *converter) post(path string, obj map[string]any, auth string) (destination.Request, error) {
	body, err := destination.EncodeJSON([]any{obj})
	if err != nil {
		return destination.Request{}, fmt.Errorf("mixpanel: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	return destination.Request{Method: http.MethodPost, URL: c.base + path, Header: h, Body: body}, nil
}
