// Package customerio converts events for Customer.io's Track API
// (Customer.io Journeys), authenticated with HTTP Basic site_id:api_key.
//
//   - group becomes an object identify on POST /api/v2/entity:
//     identifiers {object_type_id, object_id: groupId}, attributes = the
//     traits. With a userId the person is related to the object in the same
//     request (cio_relationships [{identifiers: {id: userId}}]); with only an
//     anonymousId the action is identify_anonymous with the relationship
//     identified by anonymous_id, which Customer.io carries over when the
//     person is identified. The object type id is, in order: the
//     integrations option under the destination's configured name, e.g.
//     {"Customer.io": {"objectTypeId": "2"}}, a trait
//     objectTypeId (any spelling, as Segment's Customer.io destination
//     reads it), the objectTypeId setting (default "1"). A trait
//     relationshipAttributes (an object) becomes the relationship's
//     relationship_attributes; neither trait is stored on the object.
//   - identify becomes a person identify on POST /api/v2/entity, identified
//     by {id: userId}, or by {email} from the email trait when there is no
//     userId. The anonymousId is set as the anonymous_id attribute so that
//     Customer.io merges the person's anonymous activity. An identify with
//     neither a userId nor an email cannot create a person: it is an
//     ErrPermanent error.
//   - track, page and screen become person events (action event, page and
//     screen) on POST /api/v2/entity for a known user; for an anonymous one,
//     whom the v2 API has no identifier for, the documented anonymous event
//     POST /api/v1/events with anonymous_id and type. The name is the event
//     name, the page URL (properties.url, else context.page.url, else the
//     page name) or the screen name; attributes (v2) or data (v1) are the
//     properties; timestamp is the event time in unix seconds; id is a ULID
//     for Customer.io's deduplication: the messageId when it is a ULID, else
//     one derived from the event time and a hash of the messageId, so that a
//     retried event carries the same id.
//   - alias becomes a person merge: primary {id: userId}, secondary
//     {id: previousId}, as Segment's Customer.io (Actions) destination does.
//     Customer.io deletes the secondary person; a previousId that was never
//     identified there (e.g. an anonymousId) is refused by Customer.io.
//
// Traits and properties keep their names: Customer.io attribute names are
// case-sensitive and free-form. Reserved traits recognised in any spelling
// (createdAt, created_at, "Created At"…) are createdAt → created_at and
// email → email; a trait id is dropped because on a person it would ask
// Customer.io to change the person's identifier. Strings holding an ISO-8601
// date (at any depth of objects, not inside arrays) become unix seconds, as
// Segment's Customer.io destination does by default ("Convert Timestamps"),
// since Customer.io segments and triggers on unix timestamps only.
//
// A /api/v2/entity body over the documented 32 KB limit, a page or screen
// without a name, and an objectTypeId trait or option that is not a
// positive integer are ErrPermanent errors: Customer.io would refuse them
// on every retry. Other call types give no requests.
//
// Docs followed:
//   - https://docs.customer.io/integrations/api/track/ (Track API: Basic
//     auth, /api/v2/entity person and object operations, identify_anonymous,
//     merge, 32 KB request limit; /api/v1/events anonymous events)
//   - https://docs.customer.io/journeys/objects-data/objects/create/ (objects,
//     object types, reserved object attributes)
//   - https://docs.customer.io/journeys/anonymous-events/ (anonymous_id on
//     events and people)
//   - https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-customerio
//     and segmentio/action-destinations' customerio mappings
package customerio

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"

	"roster/internal/destination"
)

const defaultEndpoint = "https://track.customer.io"

type settings struct {
	SiteID   string `json:"siteId"`
	APIKey   string `json:"apiKey"`
	Endpoint string `json:"endpoint"`
	// ObjectTypeID is any so that YAML's objectTypeId: 1 works as well as
	// "1"; objectTypeID checks it.
	ObjectTypeID any `json:"objectTypeId"`
}

// CustomerIO converts events for one Customer.io workspace. It is immutable
// after New.
type CustomerIO struct {
	base         string // endpoint without a trailing slash
	auth         string // Authorization header value
	objectTypeID string
}

// New builds a Customer.io converter from its settings.
func New(raw map[string]any) (destination.Converter, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.SiteID == "" {
		return nil, destination.Required("siteId")
	}
	if s.APIKey == "" {
		return nil, destination.Required("apiKey")
	}
	base, err := destination.Endpoint(s.Endpoint, defaultEndpoint)
	if err != nil {
		return nil, err
	}
	typeID := "1"
	if s.ObjectTypeID != nil {
		id, ok := objectTypeID(s.ObjectTypeID)
		if !ok {
			return nil, fmt.Errorf("settings.objectTypeId: must be a Customer.io object type id, a positive integer such as \"1\", not %v", s.ObjectTypeID)
		}
		typeID = id
	}
	return &CustomerIO{
		base:         base,
		auth:         "Basic " + base64.StdEncoding.EncodeToString([]byte(s.SiteID+":"+s.APIKey)),
		objectTypeID: typeID,
	}, nil
}

// objectTypeID reads an object type id given as a string or a number.
// Customer.io numbers object types from 1 and sends them as strings.
func objectTypeID(v any) (string, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
	case float64: // settings decoded from YAML or JSON
		if v != math.Trunc(v) || v < 1 || v > math.MaxInt32 {
			return "", false
		}
		s = strconv.FormatInt(int64(v), 10)
	case interface{ String() string }: // json.Number from event options
		s = v.String()
	default:
		return "", false
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil || n < 1 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}
