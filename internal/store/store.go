// Package store defines what Roster keeps and the interfaces every storage
// backend implements. The conformance suite in storetest holds each backend
// to the same behaviour.
package store

import (
	"context"
	"errors"
	"time"
)

// Event is one accepted, normalized call in the log.
type Event struct {
	// Seq is the event's position in the log, assigned at commit; it only
	// grows, so processors can keep a cursor.
	Seq        int64
	Workspace  string
	Source     string
	MessageID  string
	Type       string
	ReceivedAt time.Time
	Timestamp  time.Time
	Warnings   []string
	// What ingestion's Normalize computed, stored next to the body so that
	// no reader parses the body to route or apply an event. Ids are
	// strings: a numeric id is its decimal string.
	UserID      string
	AnonymousID string
	// PreviousID is an alias call's previousId.
	PreviousID string
	// GroupID is a group call's groupId, else the normalized
	// context.groupId of the call ("" when it has none).
	GroupID string
	// Name is a track call's event name, or a page or screen call's name.
	Name string
	// Body is the normalized message JSON.
	Body []byte
}

// Quarantined is a message that was received but rejected, kept with the
// reason so that it can be looked at and replayed.
type Quarantined struct {
	ID         int64
	Workspace  string
	Source     string
	ReceivedAt time.Time
	// MessageID is set when it could be read from the message.
	MessageID string
	Code      string
	Reason    string
	Raw       []byte
	// ReplayedAt is when a fixed copy was replayed through ingestion (zero
	// when it was not); the quarantined copy is kept as received.
	ReplayedAt time.Time
}

// Source is where events come from; its write key authenticates ingestion.
type Source struct {
	Workspace string
	Name      string
	WriteKey  string
}

// AccessToken authorizes reads in one workspace. Only a hash of the token
// is kept.
type AccessToken struct {
	Workspace string
	Name      string
	Hash      []byte
}

// Log is the durable, deduplicated event log and its quarantine.
type Log interface {
	// Append stores events and quarantined messages durably: when it
	// returns nil they survive a crash. An event whose (workspace, source,
	// messageId) was appended within the dedup window is acknowledged but
	// not stored again. On success Append sets each event's Seq to where it
	// was stored, and to 0 for a duplicate (of an earlier append, or of an
	// earlier event of the same append), so that ingestion can tell a
	// client which of its events were repeats.
	Append(ctx context.Context, events []Event, quarantined []Quarantined) error
	// Read returns up to limit events with Seq > after, in log order.
	Read(ctx context.Context, after int64, limit int) ([]Event, error)
	// RecentEvents returns a workspace's events newest first, those with
	// Seq < before (before <= 0 means from the newest).
	RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]Event, error)
	// RecentQuarantined does the same for the quarantine, by ID.
	RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]Quarantined, error)
	// MarkReplayed records that quarantined message id was replayed at
	// at, keeping the message; ErrNotFound when there is no such message.
	MarkReplayed(ctx context.Context, workspace string, id int64, at time.Time) error
	// Head returns the position of the last event in the log (0 when it
	// is empty): processors are caught up when their cursor reaches it.
	Head(ctx context.Context) (int64, error)
}

// Trimmer removes the start of the log, for retention: the events are
// archived first (internal/archive) and profiles keep what they learned.
type Trimmer interface {
	// TrimLog removes the events with Seq <= through (at most Head) from
	// the log and its indexes: Read, RecentEvents and ProfileEvents no
	// longer return them. Positions are not reused: Head stays, and
	// later appends continue after it, across a restart too. Nothing
	// after the profile cursor as written is removed, so that a crash
	// never needs a trimmed event (a backend that holds applied profiles
	// in memory writes them first). It returns the position it trimmed
	// through, which may be short of through.
	TrimLog(ctx context.Context, through int64) (int64, error)
}

// Credentials keeps the sources and access tokens created at run time
// (those in the config file live there).
type Credentials interface {
	Sources(ctx context.Context) ([]Source, error)
	PutSource(ctx context.Context, s Source) error
	AccessTokens(ctx context.Context) ([]AccessToken, error)
	PutAccessToken(ctx context.Context, t AccessToken) error
}

// Store is a complete backend.
type Store interface {
	Log
	Trimmer
	Credentials
	Profiles
	Outbox
	Leases
	// Ping reports whether the store can serve reads and writes.
	Ping(ctx context.Context) error
	// Close flushes pending appends and releases the store.
	Close() error
}

// Options tune a backend.
type Options struct {
	// DedupWindow is how long a (source, messageId) is remembered. It is at
	// least 24 hours unless a test says otherwise.
	DedupWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultDedupWindow is the dedup window when none is configured.
const DefaultDedupWindow = 7 * 24 * time.Hour

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store: closed")

// WithDefaults fills unset options.
func (o Options) WithDefaults() Options {
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Sizer is what a backend that can tell its size implements: the bytes
// each part of the data takes ("log", "quarantine", "profiles",
// "outbox", "other") and "total". A part is an estimate where the backend
// can only estimate it.
type Sizer interface {
	Sizes(ctx context.Context) (map[string]int64, error)
}
