// Package warehouse loads events into PostgreSQL in Segment's warehouse
// schema (destination type "postgres"), with accounts, users and
// memberships tables that carry the current profile state under Roster's
// rules.
//
// Settings:
//
//	url        required  postgres:// URL of the warehouse database
//	schema     optional  one schema for every source of the workspace;
//	                     by default each source loads into a schema named
//	                     after it in snake_case, as in Segment
//	batchSize  optional  events per load, 1 to 50000 (default 5000)
//
// Each schema has identifies, groups, tracks, pages, screens, aliases and
// one table per track event name, one row per call keyed by messageId;
// users, accounts and memberships, one row per profile as the profile
// store holds it; and discards, the values that could not be loaded as
// sent. docs/warehouse.md describes the tables and the rules.
//
// Docs followed:
//   - https://segment.com/docs/connections/storage/warehouses/schema/
//     (tables, columns, snake_case names, flattening, reserved columns)
//   - https://www.rudderstack.com/docs/destinations/warehouse-destinations/warehouse-schema/
//     (schema per source, data type mismatches, rudder_discards)
package warehouse

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/destination"
	"roster/internal/store"
)

const (
	defaultBatch = 5000
	maxBatch     = 50000
)

type settings struct {
	URL       string `json:"url"`
	Schema    string `json:"schema"`
	BatchSize *int   `json:"batchSize"`
}

// Loader loads a workspace's events into a PostgreSQL warehouse.
type Loader struct {
	workspace string
	schema    string
	batch     int
	pool      *pgxpool.Pool
	profiles  Profiles
	logger    *slog.Logger

	// ProfileWait bounds how long a load waits for the profile processor
	// to apply its events before it fails (and is retried).
	ProfileWait time.Duration
	Now         func() time.Time

	mu      sync.Mutex
	schemas map[string]tables
}

// New checks the settings and returns a loader for a workspace's events.
// It connects on the first load, so that a warehouse that is down does not
// stop the server: its events wait.
func New(settings map[string]any, workspace string, profiles Profiles, logger *slog.Logger) (*Loader, error) {
	s, err := readSettings(settings)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		return nil, fmt.Errorf("settings.url: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("settings.url: %w", err)
	}
	batch := defaultBatch
	if s.BatchSize != nil {
		batch = *s.BatchSize
	}
	return &Loader{workspace: workspace, schema: s.Schema, batch: batch, pool: pool, profiles: profiles, logger: logger,
		ProfileWait: 30 * time.Second, Now: time.Now, schemas: map[string]tables{}}, nil
}

// decode reads and checks the settings.
func readSettings(raw map[string]any) (settings, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return s, err
	}
	if s.URL == "" {
		return s, destination.Required("url")
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return s, fmt.Errorf("settings.url: must be a postgres:// URL")
	}
	if s.Schema != "" && SnakeCase(s.Schema) != s.Schema {
		return s, fmt.Errorf("settings.schema: %q is not a snake_case name (%q would be)", s.Schema, SnakeCase(s.Schema))
	}
	if s.BatchSize != nil && (*s.BatchSize < 1 || *s.BatchSize > maxBatch) {
		return s, fmt.Errorf("settings.batchSize: must be 1 to %d", maxBatch)
	}
	return s, nil
}

// MaxBatch is how many events one load takes.
func (l *Loader) MaxBatch() int { return l.batch }

// Close closes the loader's connections.
func (l *Loader) Close() { l.pool.Close() }

// SchemaOf is the schema a source's events load into.
func (l *Loader) SchemaOf(source string) string {
	if l.schema != "" {
		return l.schema
	}
	if s := SnakeCase(source); s != "" {
		return s
	}
	return "roster"
}

// Load loads a batch: each source's events into its schema, in one
// transaction per schema. It waits until the profile processor has
// applied the batch, so that the profile tables carry its effect.
func (l *Loader) Load(ctx context.Context, evs []destination.Event) error {
	if len(evs) == 0 {
		return nil
	}
	last := int64(0)
	bySchema := map[string][]destination.Event{}
	for _, ev := range evs {
		last = max(last, ev.Seq)
		s := l.SchemaOf(ev.Source)
		bySchema[s] = append(bySchema[s], ev)
	}
	if err := l.waitProfiles(ctx, last); err != nil {
		return err
	}
	for _, schema := range slices.Sorted(maps.Keys(bySchema)) {
		if err := l.loadSchema(ctx, schema, bySchema[schema]); err != nil {
			l.forget(schema)
			if permanent(err) {
				return fmt.Errorf("warehouse schema %s: %w: %w", schema, destination.ErrPermanent, err)
			}
			return fmt.Errorf("warehouse schema %s: %w", schema, err)
		}
	}
	return nil
}

// waitProfiles waits until the profile cursor covers seq.
func (l *Loader) waitProfiles(ctx context.Context, seq int64) error {
	deadline := l.Now().Add(l.ProfileWait)
	for {
		at, err := l.profiles.Cursor(ctx, store.ProfileCursor)
		if err != nil {
			return fmt.Errorf("profile cursor: %w", err)
		}
		if at >= seq {
			return nil
		}
		if l.Now().After(deadline) {
			return fmt.Errorf("profiles applied up to %d, the batch reaches %d: loading later", at, seq)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
