// Package loadgen drives a Segment-compatible endpoint (Roster or any
// other, given its URL and a write key) with realistic traffic: group,
// identify and track calls over many users and groups, with traits shaped
// like the spec's examples. It counts only acknowledged events, measures
// latency, can verify through Roster's read API that every acknowledged
// event was stored exactly once, and can run the same traffic against a
// do-nothing handler in the same process (the floor) so that results read
// as a ratio to what the machine's HTTP stack does.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config says what to send, where, and for how long.
type Config struct {
	// URL is the base URL; traffic goes to URL/v1/batch or URL/v1/{type}
	// and nowhere else.
	URL      string
	WriteKey string
	// Token is an access token of Workspace, needed by Verify; with it a
	// run also measures how long profiles take to cover it.
	Token     string
	Workspace string

	// The run ends after Duration or once Events events have been sent,
	// whichever comes first; a zero value is no limit, but one of them must
	// be set.
	Duration time.Duration
	Events   int64

	// Warmup, when set, sends the same traffic (under messageIds of its
	// own) for this long before the run, uncounted, so that the run starts
	// with its connections open and the endpoint past its first requests.
	Warmup time.Duration

	// Concurrency is the number of requests in flight at most.
	Concurrency int
	// Batch is the number of events a request carries: 1 sends single
	// calls to /v1/{group,identify,track}, more sends /v1/batch.
	Batch int
	// Rate in events/s: 0 sends as fast as the endpoint answers (closed
	// loop); otherwise requests are due at fixed times and latency counts
	// from when a request was due, not when it left (open loop), so a
	// stalled endpoint shows up in the percentiles instead of slowing the
	// generator down with it.
	Rate float64
	Mix  Mix
	// Groups and Users are how many distinct groupIds and userIds the
	// traffic spreads over.
	Groups int
	Users  int
	Gzip   bool
	// Verify reads the workspace's events back after the run and checks
	// that every acknowledged messageId is there exactly once.
	Verify bool
	// Seed makes the traffic reproducible: message n has the same type,
	// user, group and traits in every run with the same seed.
	Seed uint64
	// RunID prefixes every messageId; empty picks a random one, so that a
	// second run is never deduplicated against the first.
	RunID string

	// Timeout bounds each request, VerifyTimeout the whole verification.
	Timeout       time.Duration
	VerifyTimeout time.Duration
	// Progress receives a line every ProgressEvery while the run lasts;
	// nil prints nothing.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Label names the run in progress lines and reports.
	Label string
	// Window, with a Duration, also reports latency and acknowledged
	// events for each window of that length, so that a long run (a soak)
	// shows whether they stay flat from its first minute to its last.
	Window time.Duration
}

// Defaults are the values a zero field of Config takes.
const (
	DefaultWorkspace     = "default"
	DefaultConcurrency   = 32
	DefaultBatch         = 100
	DefaultGroups        = 5000
	DefaultUsers         = 50000
	DefaultMix           = "group=50,identify=20,track=30"
	DefaultTimeout       = 30 * time.Second
	DefaultVerifyTimeout = 5 * time.Minute
	// MaxBatch is Segment's limit of messages per batch.
	MaxBatch = 2500
)

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Workspace == "" {
		c.Workspace = DefaultWorkspace
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Groups == 0 {
		c.Groups = DefaultGroups
	}
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Mix.total() == 0 {
		c.Mix, _ = ParseMix(DefaultMix)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = DefaultVerifyTimeout
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = time.Second
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Label == "" {
		c.Label = c.URL
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return c, fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return c, fmt.Errorf("url: %q is not an http(s)://host[:port] address", c.URL)
	case u.RawQuery != "" || u.Fragment != "":
		return c, fmt.Errorf("url: %q: give the base address, without a query", c.URL)
	case c.WriteKey == "":
		return c, errors.New("a write key is required")
	case c.Duration < 0 || c.Events < 0 || c.Warmup < 0:
		return c, errors.New("duration, events and warmup cannot be negative")
	case c.Duration == 0 && c.Events == 0:
		return c, errors.New("give a duration or a number of events")
	case c.Concurrency < 1:
		return c, errors.New("concurrency must be at least 1")
	case c.Batch < 1 || c.Batch > MaxBatch:
		return c, fmt.Errorf("batch must be from 1 to %d", MaxBatch)
	case c.Rate < 0:
		return c, errors.New("rate cannot be negative")
	case c.Window < 0 || c.Window > 0 && c.Duration == 0:
		return c, errors.New("a window needs a duration, and cannot be negative")
	case c.Groups < 1 || c.Users < 1:
		return c, errors.New("groups and users must be at least 1")
	case c.Verify && c.Token == "":
		return c, errors.New("verify needs an access token")
	}
	return c, nil
}

// Mix is the relative weight of each call type.
type Mix [numKinds]int

// ParseMix reads "group=50,identify=20,track=30"; a type left out has
// weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var seen [numKinds]bool
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, ok := strings.Cut(part, "=")
		if !ok {
			return m, fmt.Errorf("mix: %q is not type=weight", part)
		}
		name = strings.TrimSpace(name)
		k, ok := kindByName(name)
		if !ok {
			return m, fmt.Errorf("mix: unknown call type %q (group, identify or track)", name)
		}
		if seen[k] {
			return m, fmt.Errorf("mix: %s is given twice", name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(weight))
		if err != nil || n < 0 {
			return m, fmt.Errorf("mix: the weight of %s must be a non-negative integer", name)
		}
		m[k], seen[k] = n, true
	}
	if m.total() == 0 {
		return m, errors.New("mix: at least one weight must be positive")
	}
	return m, nil
}

func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// String is the form ParseMix reads, without the zero weights.
func (m Mix) String() string {
	var parts []string
	for k, w := range m {
		if w > 0 {
			parts = append(parts, kind(k).String()+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText makes a Mix a readable string in JSON reports.
func (m Mix) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
