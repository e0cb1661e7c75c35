package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrNotFound is returned when a profile, group or identity does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid is returned for a query the caller got wrong (an unknown sort,
// a cursor that is not one): a 400, not a 500.
var ErrInvalid = errors.New("invalid query")

// Identity types, named as the Profile API names them.
const (
	IDUserID      = "user_id"
	IDAnonymousID = "anonymous_id"
	IDGroupID     = "group_id"
	// IDEmail is taken from an identify call's email trait, as Segment
	// turns traits.email into an external id.
	IDEmail = "email"
)

// ProfileCursor is the name of the profile processor's position in the log.
const ProfileCursor = "profiles"

// ProfileUpdate is what one logged event does to profiles. The profile
// package derives it from the event; a backend applies it.
type ProfileUpdate struct {
	Seq       int64
	Workspace string
	Source    string
	MessageID string
	Type      string
	// Timestamp is the event's corrected time: trait writes are ordered by
	// (Timestamp, Seq).
	Timestamp   time.Time
	UserID      string
	AnonymousID string
	// PreviousID is the identity an alias call ties to UserID.
	PreviousID string
	// GroupID is the group of a group call, or context.groupId of another
	// call, which attributes it to that group without a membership.
	GroupID string
	// Traits are the user traits of an identify call or the group traits
	// of a group call, in the order sent.
	Traits []TraitValue
}

// TraitValue is one trait as sent.
type TraitValue struct {
	// Name is the spelling sent; Key is the folded name that identifies
	// the trait (spec.FoldKey).
	Name  string
	Key   string
	Value json.RawMessage
}

// Trait is a trait as stored: the winning write of its key.
type Trait struct {
	Key   string
	Name  string
	Value json.RawMessage
	// UpdatedAt is the timestamp of the write that set the value.
	UpdatedAt time.Time
	Seq       int64
	Source    string
	MessageID string
}

// Activity says when a profile was first and last seen, and by what.
type Activity struct {
	FirstSeen      time.Time
	LastSeen       time.Time
	FirstMessageID string
	FirstSource    string
	LastMessageID  string
	LastSource     string
}

// Group is an account profile.
type Group struct {
	Workspace string
	ID        string
	Activity
	Members int
}

// User is a user profile. Key is internal; users are found by their
// external ids.
type User struct {
	Workspace string
	Key       string
	Activity
}

// ExternalID is an identity of a user profile.
type ExternalID struct {
	Type           string
	ID             string
	Source         string
	FirstMessageID string
	CreatedAt      time.Time
	// Current marks the user_id the profile goes by now, of the several an
	// alias chain (u1 → u2 → u3) gives it: the one the latest alias named.
	Current bool
}

// Membership links a user profile to a group.
type Membership struct {
	GroupID   string
	UserKey   string
	FirstSeen time.Time
	LastSeen  time.Time
}

// TraitChange is one entry of a group's trait history.
type TraitChange struct {
	Seq  int64
	Key  string
	Name string
	// Old is nil when the trait had no value before.
	Old       json.RawMessage
	New       json.RawMessage
	MessageID string
	Timestamp time.Time
}

// EventPosition is where an event sorts among a profile's events: by its
// corrected timestamp in Unix milliseconds, then by its log position.
type EventPosition struct {
	At  int64
	Seq int64
}

// PositionOf returns where e sorts among a profile's events.
func PositionOf(e Event) EventPosition { return EventPosition{e.Timestamp.UnixMilli(), e.Seq} }

// Before reports whether p sorts before o.
func (p EventPosition) Before(o EventPosition) bool {
	return p.At < o.At || (p.At == o.At && p.Seq < o.Seq)
}

// EventPage selects a page of a profile's events.
type EventPage struct {
	// After is the position of the last event of the previous page: the
	// page holds the events past it in the page's order. A zero Seq (no
	// event has one) means from the first.
	After EventPosition
	// Ascending lists the oldest first; by default the newest come first.
	Ascending bool
	Limit     int
}

// Past reports whether an event at p belongs after the page's After.
func (q EventPage) Past(p EventPosition) bool {
	switch {
	case q.After.Seq == 0:
		return true
	case q.Ascending:
		return q.After.Before(p)
	default:
		return p.Before(q.After)
	}
}

// FoldText is how ListGroups' text search compares a group's id and name
// with the query's text: lower-cased by Go's rules, so that every backend
// matches the same groups whatever its database's collation.
func FoldText(s string) string { return strings.ToLower(s) }

// GroupQuery selects and orders groups.
type GroupQuery struct {
	// Text matches a substring of the group id or its name trait,
	// case-insensitively (FoldText).
	Text string
	// Traits must all match: folded trait key → JSON value, compared as
	// JSON text (1000 does not match 1e3).
	Traits map[string]json.RawMessage
	// Sort is one of "id", "name", "first_seen", "last_seen", optionally
	// prefixed with "-" for descending. Empty means "id".
	Sort string
	// After is the cursor returned with the previous page.
	After string
	Limit int
}

// Collections of profiles, named as the Profile API names them.
const (
	Users    = "users"
	Accounts = "accounts"
)

// Profiles holds account and user profiles, memberships and trait history,
// all derived from the log. A limit of 0 or less means 100. Reads of one
// profile return ErrNotFound when the profile does not exist.
type Profiles interface {
	// Cursor returns the log position the named processor has applied.
	Cursor(ctx context.Context, name string) (int64, error)
	// ApplyProfiles applies updates in order and moves the profile cursor
	// to upTo. What a crash leaves is the state of a batch boundary with
	// its cursor: all of this batch or none (PostgreSQL commits each batch),
	// or an earlier boundary (the embedded store writes several batches at
	// a checkpoint), from which the processor applies the same events
	// again. Updates at or below the cursor are skipped, so that two
	// processors that overlap (a node taking over from one that seemed
	// dead) still apply each event once.
	ApplyProfiles(ctx context.Context, updates []ProfileUpdate, upTo int64) error
	// ResetProfiles forgets all profile state and the cursor, for a
	// rebuild from the log.
	ResetProfiles(ctx context.Context) error

	Group(ctx context.Context, workspace, groupID string) (Group, error)
	// GroupTraits returns a group's traits ordered by key.
	GroupTraits(ctx context.Context, workspace, groupID string) ([]Trait, error)
	// GroupMembers returns members ordered by user key, after the given key.
	GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]Membership, error)
	// TraitHistory returns a group's trait changes newest first, those with
	// Seq < before (0: from the newest); key, when set, selects one trait.
	// A page holds every change of the last event it reaches, so it may be
	// longer than limit.
	TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]TraitChange, error)
	// ListGroups returns a page of groups and the cursor of the next page
	// ("" on the last one).
	ListGroups(ctx context.Context, workspace string, q GroupQuery) ([]Group, string, error)

	// ResolveUser finds the user profile that has an external id.
	ResolveUser(ctx context.Context, workspace, idType, id string) (string, error)
	User(ctx context.Context, workspace, key string) (User, error)
	UserTraits(ctx context.Context, workspace, key string) ([]Trait, error)
	ExternalIDs(ctx context.Context, workspace, key string) ([]ExternalID, error)
	// UserGroups returns the user's memberships ordered by group id.
	UserGroups(ctx context.Context, workspace, key string) ([]Membership, error)
	// ProfileEvents returns a page of the events of a user ("users") or
	// group ("accounts") profile in the order of their corrected
	// timestamps, ties by log order: newest first unless the page says
	// ascending.
	ProfileEvents(ctx context.Context, workspace, collection, key string, page EventPage) ([]Event, error)
}
