package destination

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"roster/internal/store"
)

// ErrUnknown is returned for a destination that is not configured.
var ErrUnknown = errors.New("no such destination")

// Status is what the destinations route and `roster destinations` show.
type Status struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Behind is how many log positions the cursor is behind the
	// workspace's newest event: events not yet looked at (some of which
	// the destination may not take).
	Behind    int64 `json:"behind"`
	Retrying  int   `json:"retrying"`
	Delivered int64 `json:"delivered"`
	Dead      int   `json:"dead"`
	Cursor    int64 `json:"cursor"`
}

// Manager runs every configured destination's deliverer.
type Manager struct {
	deliverers []*Deliverer
	log        store.Log
	outbox     store.Outbox
	leases     store.Leases
	holder     string
	logger     *slog.Logger
	Now        func() time.Time
}

// NewManager returns a manager of deliverers; holder names this node in
// the leases.
func NewManager(ds []*Deliverer, log store.Log, outbox store.Outbox, leases store.Leases, holder string, logger *slog.Logger) *Manager {
	return &Manager{deliverers: ds, log: log, outbox: outbox, leases: leases, holder: holder, logger: logger, Now: time.Now}
}

// Start starts every destination seen for the first time at the end of
// its workspace's log (see Deliverer.Start).
func (m *Manager) Start(ctx context.Context) error {
	for _, d := range m.deliverers {
		if err := d.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Run delivers to every destination until ctx ends, each on its own
// goroutine so that a slow one delays only itself, then closes the
// loaders' connections.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range m.deliverers {
		wg.Go(func() { d.Run(ctx, m.leases, m.holder) })
	}
	wg.Wait()
	for _, d := range m.deliverers {
		CloseLoader(d.Target().Loader)
	}
}

// CloseLoader releases a loader's connections, when it holds any.
func CloseLoader(l Loader) {
	if c, ok := l.(interface{ Close() }); ok {
		c.Close()
	}
}

func (m *Manager) find(workspace, name string) (Target, error) {
	for _, d := range m.deliverers {
		if t := d.Target(); t.Workspace == workspace && t.Name == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("destination %q: %w", name, ErrUnknown)
}

// Statuses returns the counts of a workspace's destinations.
func (m *Manager) Statuses(ctx context.Context, workspace string) ([]Status, error) {
	head := int64(0)
	newest, err := m.log.RecentEvents(ctx, workspace, 0, 1)
	if err != nil {
		return nil, err
	}
	if len(newest) > 0 {
		head = newest[0].Seq
	}
	out := []Status{}
	for _, d := range m.deliverers {
		t := d.Target()
		if t.Workspace != workspace {
			continue
		}
		st, err := m.outbox.DeliveryStats(ctx, t.ID())
		if err != nil {
			return nil, err
		}
		out = append(out, Status{Name: t.Name, Type: t.Type, Behind: max(0, head-st.Cursor),
			Retrying: st.Retrying, Delivered: st.Delivered, Dead: st.Dead, Cursor: st.Cursor})
	}
	return out, nil
}

// DeadLetters returns a page of a destination's dead letters.
func (m *Manager) DeadLetters(ctx context.Context, workspace, name string, before int64, limit int) ([]store.Delivery, error) {
	t, err := m.find(workspace, name)
	if err != nil {
		return nil, err
	}
	return m.outbox.DeadLetters(ctx, t.ID(), before, limit)
}

// Redrive schedules every dead letter of a destination to be sent again
// now.
func (m *Manager) Redrive(ctx context.Context, workspace, name string) (int, error) {
	t, err := m.find(workspace, name)
	if err != nil {
		return 0, err
	}
	n, err := m.outbox.Redrive(ctx, t.ID(), m.Now())
	if err == nil && n > 0 {
		m.logger.Info("dead letters re-driven", "destination", t.ID(), "count", n)
	}
	return n, err
}

// AllStatuses returns the counts of every destination, by workspace.
func (m *Manager) AllStatuses(ctx context.Context) (map[string][]Status, error) {
	out := map[string][]Status{}
	for _, d := range m.deliverers {
		ws := d.Target().Workspace
		if _, done := out[ws]; done {
			continue
		}
		st, err := m.Statuses(ctx, ws)
		if err != nil {
			return nil, err
		}
		out[ws] = st
	}
	return out, nil
}

// Observe sets the observer of every deliverer; call it before Run. Each
// destination is announced with an empty round, so that its counters exist
// from the start.
func (m *Manager) Observe(o Observer) {
	for _, d := range m.deliverers {
		d.Observe = o
		o.Settled(d.Target(), 0, 0, 0)
	}
}
