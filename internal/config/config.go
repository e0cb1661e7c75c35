// Package config reads Roster's YAML configuration and checks it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultWorkspace is the workspace that ROSTER_WRITE_KEY and
// ROSTER_ACCESS_TOKEN, and generated credentials, belong to.
const DefaultWorkspace = "default"

// Config is the whole configuration file.
type Config struct {
	Workspaces []Workspace `yaml:"workspaces"`
	Limits     Limits      `yaml:"limits"`
	HTTP       HTTP        `yaml:"http"`
	// DedupWindow is how long a messageId is remembered per source.
	DedupWindow Duration `yaml:"dedupWindow"`
	// PublicURL is the address browsers reach Roster at, used in the
	// settings served to analytics.js; by default it is taken from the
	// request.
	PublicURL string  `yaml:"publicURL"`
	Metrics   Metrics `yaml:"metrics"`
	Console   Console `yaml:"console"`
	// Retention bounds the event log (retention.go).
	Retention Retention `yaml:"retention"`
}

// Metrics says who may read GET /metrics.
type Metrics struct {
	// Token, when set, must come as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
}

// Console configures the web console at /console.
type Console struct {
	// Enabled defaults to true; false removes every /console route.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the console is served.
func (c Console) On() bool { return c.Enabled == nil || *c.Enabled }

// Workspace groups sources, tokens and destinations; data never crosses
// workspaces.
type Workspace struct {
	ID           string        `yaml:"id"`
	Sources      []Source      `yaml:"sources"`
	AccessTokens []AccessToken `yaml:"accessTokens"`
	Destinations []Destination `yaml:"destinations"`
	ProfileAPI   ProfileAPI    `yaml:"profileAPI"`
}

// Source is a sender of events, authenticated by its write key.
type Source struct {
	Name     string `yaml:"name"`
	WriteKey string `yaml:"writeKey"`
}

// AccessToken authorizes reads of one workspace.
type AccessToken struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
}

// Destination is a tool events are forwarded to.
type Destination struct {
	// Name is what the integrations object matches.
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Types are the call types it gets; empty means all it takes.
	Types    []string       `yaml:"types"`
	Settings map[string]any `yaml:"settings"`
}

// On reports whether the destination is enabled.
func (d Destination) On() bool { return d.Enabled == nil || *d.Enabled }

// Limits bound what one request may carry.
type Limits struct {
	MaxMessageBytes  int `yaml:"maxMessageBytes"`
	MaxBatchBytes    int `yaml:"maxBatchBytes"`
	MaxBatchMessages int `yaml:"maxBatchMessages"`
}

// HTTP bounds what the server gives each client, so that slow or too many
// clients cannot take it down.
type HTTP struct {
	// MaxConcurrentRequests above which requests get 503 and Retry-After.
	MaxConcurrentRequests int      `yaml:"maxConcurrentRequests"`
	ReadHeaderTimeout     Duration `yaml:"readHeaderTimeout"`
	ReadTimeout           Duration `yaml:"readTimeout"`
	WriteTimeout          Duration `yaml:"writeTimeout"`
	IdleTimeout           Duration `yaml:"idleTimeout"`
}

// DefaultHTTP is used for what the config leaves unset.
var DefaultHTTP = HTTP{
	MaxConcurrentRequests: 1024,
	ReadHeaderTimeout:     Duration(10 * time.Second),
	ReadTimeout:           Duration(30 * time.Second),
	WriteTimeout:          Duration(30 * time.Second),
	IdleTimeout:           Duration(2 * time.Minute),
}

// WithDefaults fills what is unset with DefaultHTTP.
func (h HTTP) WithDefaults() HTTP {
	if h.MaxConcurrentRequests <= 0 {
		h.MaxConcurrentRequests = DefaultHTTP.MaxConcurrentRequests
	}
	for _, d := range []struct{ v, def *Duration }{
		{&h.ReadHeaderTimeout, &DefaultHTTP.ReadHeaderTimeout},
		{&h.ReadTimeout, &DefaultHTTP.ReadTimeout},
		{&h.WriteTimeout, &DefaultHTTP.WriteTimeout},
		{&h.IdleTimeout, &DefaultHTTP.IdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	return h
}

// DefaultLimits are Segment's published limits.
var DefaultLimits = Limits{MaxMessageBytes: 32 << 10, MaxBatchBytes: 500 << 10, MaxBatchMessages: 2500}

// Duration is a time.Duration written as "24h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string, or a number of days such as
// 400d (retention periods are said in days).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if days, ok := strings.CutSuffix(n.Value, "d"); ok {
		if v, err := strconv.ParseFloat(days, 64); err == nil && v >= 0 && v < 1e5 {
			*d = Duration(v * float64(24*time.Hour))
			return nil
		}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 24h or 400d: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// Load reads and checks a config file. An empty path gives the defaults.
func Load(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// WithDefaults fills the unset limits with DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultLimits.MaxMessageBytes
	}
	if l.MaxBatchBytes <= 0 {
		l.MaxBatchBytes = DefaultLimits.MaxBatchBytes
	}
	if l.MaxBatchMessages <= 0 {
		l.MaxBatchMessages = DefaultLimits.MaxBatchMessages
	}
	return l
}

func (c *Config) applyDefaults() {
	c.Limits = c.Limits.WithDefaults()
	c.HTTP = c.HTTP.WithDefaults()
	if c.Workspace(DefaultWorkspace) == nil {
		c.Workspaces = append(c.Workspaces, Workspace{ID: DefaultWorkspace})
	}
}

// Workspace returns the workspace with that id, or nil.
func (c *Config) Workspace(id string) *Workspace {
	for i := range c.Workspaces {
		if c.Workspaces[i].ID == id {
			return &c.Workspaces[i]
		}
	}
	return nil
}

// Validate reports the first field that is wrong, by its path.
func (c *Config) Validate() error {
	if time.Duration(c.DedupWindow) < 0 {
		return errors.New("dedupWindow: must not be negative")
	}
	if err := c.Retention.validate(time.Duration(c.DedupWindow)); err != nil {
		return err
	}
	if c.Limits.MaxMessageBytes > c.Limits.MaxBatchBytes {
		return errors.New("limits.maxMessageBytes: must not exceed limits.maxBatchBytes")
	}
	workspaces := map[string]bool{}
	keys := map[string]string{}
	for i, w := range c.Workspaces {
		at := fmt.Sprintf("workspaces[%d]", i)
		if w.ID == "" {
			return fmt.Errorf("%s.id: is required", at)
		}
		if workspaces[w.ID] {
			return fmt.Errorf("%s.id: workspace %q is defined twice", at, w.ID)
		}
		workspaces[w.ID] = true
		names := map[string]bool{}
		for j, s := range w.Sources {
			at := fmt.Sprintf("%s.sources[%d]", at, j)
			if s.Name == "" {
				return fmt.Errorf("%s.name: is required", at)
			}
			if names[s.Name] {
				return fmt.Errorf("%s.name: source %q is defined twice in workspace %q", at, s.Name, w.ID)
			}
			names[s.Name] = true
			if s.WriteKey == "" {
				return fmt.Errorf("%s.writeKey: is required", at)
			}
			if prev, ok := keys[s.WriteKey]; ok {
				return fmt.Errorf("%s.writeKey: already used by %s", at, prev)
			}
			keys[s.WriteKey] = at
		}
		for j, t := range w.AccessTokens {
			if t.Token == "" {
				return fmt.Errorf("%s.accessTokens[%d].token: is required", at, j)
			}
		}
		if err := validateDestinations(at, w.Destinations); err != nil {
			return err
		}
		if err := w.ProfileAPI.validate(at); err != nil {
			return err
		}
	}
	return nil
}

// callTypes are what a destination's types may list.
var callTypes = []string{"identify", "track", "page", "screen", "group", "alias"}

// validateDestinations checks what every destination has; each type's
// settings are checked by the destination itself when the server builds it.
func validateDestinations(at string, ds []Destination) error {
	names := map[string]bool{}
	for j, d := range ds {
		at := fmt.Sprintf("%s.destinations[%d]", at, j)
		if d.Name == "" {
			return fmt.Errorf("%s.name: is required", at)
		}
		if names[strings.ToLower(d.Name)] {
			return fmt.Errorf("%s.name: destination %q is defined twice (names match the integrations object, in any case)", at, d.Name)
		}
		names[strings.ToLower(d.Name)] = true
		if d.Type == "" {
			return fmt.Errorf("%s.type: is required", at)
		}
		for k, t := range d.Types {
			if !slices.Contains(callTypes, t) {
				return fmt.Errorf("%s.types[%d]: %q is not a call type (%s)", at, k, t, strings.Join(callTypes, ", "))
			}
		}
	}
	return nil
}
