// Package amplitude converts Segment calls for Amplitude's HTTP V2,
// Identify and Group Identify APIs.
//
// What each call becomes:
//
//   - group: a Group Identify API call (POST /groupidentify, form fields
//     api_key and identification) that $sets the traits as group
//     properties of group_type = setting groupType (default "company"),
//     group_value = groupId, sent only when there are traits; then an
//     Identify API call (POST /identify) that puts the caller in the group
//     the way Amplitude's SDKs' setGroup does: groups {groupType: groupId}
//     and the user property groupType = groupId. The caller is user_id =
//     userId and device_id = anonymousId (else context.device.id), so a
//     group call with only an anonymousId joins the device's user. Amplitude
//     keeps one value per group type on a user unless given a list, so a
//     user who joins a second group of the same type moves to it; events
//     with context.groupId still name their group themselves.
//   - identify: an Identify API call with user_properties {$set: traits},
//     traits sent as null going to $unset. With no traits it is sent only
//     when it carries both ids, since then it links the device to the user.
//   - track, page, screen: one event on the HTTP V2 API (POST /2/httpapi,
//     JSON {api_key, events}) with user_id, device_id, event_type, time in
//     ms, insert_id = messageId, event_properties, the context fields
//     Amplitude has event fields for, revenue fields from the properties,
//     and groups {groupType: context.groupId} when set. Pages are "Viewed
//     <category> <name> Page" ("Loaded a Page" without either), screens
//     likewise, as Segment's Amplitude destination names them with Track
//     Named/Categorized Pages on. The integrations option
//     {"Amplitude": {"session_id": <ms>}} sets session_id, as in Segment.
//   - alias: nothing. Segment maps alias to Amplitude's User Mapping API,
//     which needs the Portfolio add-on and a secret key, and sends it only
//     when asked to.
//
// Ids: Amplitude drops user and device ids shorter than 5 characters (or
// the minIdLength setting, sent as options.min_id_length) and rejects
// placeholder ids ("null", "anonymous"…). Such ids are left out here the
// same way, and an event with no id left fails permanently instead of
// coming back as a 400.
//
// Reserved traits are sent under the spec's spelling (created_at →
// createdAt) since Amplitude has no reserved user or group properties,
// createdAt as an ISO UTC timestamp without zone because Amplitude
// compares dates as strings; other traits keep the client's spelling and
// values pass through unchanged.
// The Identify API takes no event time, so Amplitude applies identify and
// group updates in delivery order.
//
// Docs followed:
//   - https://amplitude.com/docs/apis/analytics/http-v2
//   - https://amplitude.com/docs/apis/analytics/identify
//   - https://amplitude.com/docs/apis/analytics/group-identify
//   - https://amplitude.com/docs/analytics/account-level-reporting
//   - Segment's mapping: https://segment.com/docs/connections/destinations/catalog/amplitude/
//     and segmentio/action-destinations (amplitude groupIdentifyUser).
package amplitude

import (
	"fmt"
	"strings"

	"roster/internal/destination"
)

// DefaultEndpoint is Amplitude's standard ingestion host; EU projects set
// endpoint to https://api.eu.amplitude.com.
const DefaultEndpoint = "https://api2.amplitude.com"

// defaultMinIDLength is Amplitude's minimum id length when the request
// does not override it.
const defaultMinIDLength = 5

type settings struct {
	APIKey      string  `json:"apiKey"`
	GroupType   *string `json:"groupType"`
	MinIDLength *int    `json:"minIdLength"`
	Endpoint    string  `json:"endpoint"`
}

type converter struct {
	apiKey    string
	groupType string
	// minIDLength is the minimum applied; sendMin says whether it is
	// sent as options.min_id_length (only when configured).
	minIDLength int
	sendMin     bool
	base        string
}

// New builds the Amplitude converter from its settings: apiKey is
// required; groupType, minIdLength and endpoint are optional.
func New(raw map[string]any) (destination.Converter, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return nil, err
	}
	c := &converter{apiKey: strings.TrimSpace(s.APIKey), groupType: "company", minIDLength: defaultMinIDLength}
	if c.apiKey == "" {
		return nil, destination.Required("apiKey")
	}
	if s.GroupType != nil {
		if c.groupType = strings.TrimSpace(*s.GroupType); c.groupType == "" {
			return nil, fmt.Errorf("settings.groupType: must not be empty")
		}
	}
	if s.MinIDLength != nil {
		if *s.MinIDLength < 1 {
			return nil, fmt.Errorf("settings.minIdLength: must be at least 1, not %d", *s.MinIDLength)
		}
		c.minIDLength, c.sendMin = *s.MinIDLength, true
	}
	base, err := destination.Endpoint(s.Endpoint, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	c.base = base
	return c, nil
}
