package warehouse_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/destination"
	"roster/internal/destination/warehouse"
	"roster/internal/pipeline"
	"roster/internal/spec"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/postgres/pgtest"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness is a Roster on the embedded store whose workspace "ws" loads
// into a warehouse schema of the test's own.
type harness struct {
	t      testing.TB
	st     *pebble.Store
	loader *warehouse.Loader
	d      *destination.Deliverer
	db     *pgx.Conn
	schema string
	seq    int
}

// newHarness loads into a fresh schema; through, when set, is the URL the
// loader connects by (a proxy), else the schema's own.
func newHarness(t testing.TB, schemaURL, through string) *harness {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	st, err := pebble.Open(ctx, t.TempDir(), store.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if through == "" {
		through = schemaURL
	}
	l, err := warehouse.New(map[string]any{"url": through, "schema": schema}, "ws", st, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	d := destination.NewDeliverer(destination.Target{Workspace: "ws", Name: "Warehouse", Type: "postgres", Loader: l}, st, st, nil, quiet())
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &harness{t: t, st: st, loader: l, d: d, db: db, schema: schema}
}

// send appends calls to the log, each given as its JSON members after
// type, at t0 plus its offset.
func (h *harness) send(calls ...call) {
	h.t.Helper()
	var evs []store.Event
	for _, c := range calls {
		h.seq++
		id := c.id
		if id == "" {
			id = fmt.Sprintf("m%d", h.seq)
		}
		at := t0.Add(c.at)
		body := fmt.Sprintf(`{"type":%q,"messageId":%q,"receivedAt":%q,"timestamp":%q,%s}`, c.typ, id,
			at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), c.body)
		m, err := spec.ReadStored([]byte(body))
		if err != nil {
			h.t.Fatalf("%s: %v", body, err)
		}
		r := m.Routing
		evs = append(evs, store.Event{Workspace: "ws", Source: "web", MessageID: id, Type: c.typ, ReceivedAt: at, Timestamp: at,
			UserID: r.UserID, AnonymousID: r.AnonymousID, PreviousID: r.PreviousID, GroupID: r.GroupID, Name: r.Name, Body: []byte(body)})
	}
	if err := h.st.Append(context.Background(), evs, nil); err != nil {
		h.t.Fatal(err)
	}
}

type call struct {
	typ  string
	id   string
	at   time.Duration
	body string
}

// process applies the log to the profiles.
func (h *harness) process() {
	h.t.Helper()
	if _, err := pipeline.NewProcessor(h.st, h.st, quiet()).CatchUp(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// deliver runs delivery rounds until the destination has the whole log.
func (h *harness) deliver() {
	h.t.Helper()
	ctx := context.Background()
	head, err := h.st.Head(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for {
		if _, _, err := h.d.Round(ctx); err != nil {
			h.t.Fatal(err)
		}
		at, err := h.st.DeliveryCursor(ctx, "ws/Warehouse")
		if err != nil {
			h.t.Fatal(err)
		}
		if at >= head {
			return
		}
	}
}

// query returns rows as maps of column to value rendered as text, NULLs
// left out.
func (h *harness) query(sql string, args ...any) []map[string]string {
	h.t.Helper()
	rows, err := h.db.Query(context.Background(), sql, args...)
	if err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (map[string]string, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for i, f := range r.FieldDescriptions() {
			if vals[i] != nil {
				m[f.Name] = render(vals[i])
			}
		}
		return m, nil
	})
	if err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func render(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func (h *harness) count(table string) int {
	h.t.Helper()
	n, err := h.tryCount(table)
	if err != nil {
		h.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// tryCount counts a table's rows; the table may not exist yet.
func (h *harness) tryCount(table string) (int, error) {
	var n int
	err := h.db.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{h.schema, table}.Sanitize()).Scan(&n)
	return n, err
}

func freshSchema(t *testing.T) string { return pgtest.FreshSchema(t) }
