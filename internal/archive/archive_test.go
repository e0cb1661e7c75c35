package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"roster/internal/archive"
	"roster/internal/store"
)

func event(seq int64) store.Event {
	at := time.Date(2020, 1, 1, 0, 0, int(seq), 0, time.UTC)
	return store.Event{Seq: seq, Workspace: "w", Source: "web", MessageID: fmt.Sprint("m", seq), Type: "group",
		ReceivedAt: at, Timestamp: at.Add(-time.Second), Warnings: []string{"traits.employees: not a number"},
		UserID: "u", GroupID: "g", Body: []byte(fmt.Sprintf(`{"type":"group","messageId":"m%d","groupId":"g","traits":{"n":%d}}`, seq, seq))}
}

func TestLineRoundTrip(t *testing.T) {
	e := event(7)
	line, err := archive.AppendLine(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	got, err := archive.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
	}
	if s := archive.Strip(line); !bytes.Equal(s, e.Body) {
		t.Fatalf("Strip = %s, want %s", s, e.Body)
	}
	plain := []byte(`{"type":"track","event":"x"}`)
	if s := archive.Strip(plain); !bytes.Equal(s, plain) {
		t.Fatalf("Strip of a line without _roster = %s", s)
	}
	if _, err := archive.ParseLine(plain); err != archive.ErrNoMeta {
		t.Fatalf("ParseLine without _roster: %v", err)
	}
}

type memLog []store.Event

func (m memLog) Read(_ context.Context, after int64, limit int) ([]store.Event, error) {
	var out []store.Event
	for _, e := range m {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// The archives and the log read as one log, in order, each event once,
// whatever the page size, even when the log still holds archived events
// (a crash between archiving and trimming).
func TestLogReadsArchivesThenLog(t *testing.T) {
	dir := t.TempDir()
	var all []store.Event
	for i := int64(1); i <= 25; i++ {
		all = append(all, event(i))
	}
	if _, err := archive.Write(dir, all[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Write(dir, all[10:18]); err != nil {
		t.Fatal(err)
	}
	files, err := archive.Files(dir)
	if err != nil || len(files) != 2 || files[0].First != 1 || files[1].Last != 18 {
		t.Fatalf("Files = %+v, %v", files, err)
	}
	for _, page := range []int{1, 3, 7, 100} {
		l, err := archive.NewLog(dir, memLog(all[15:]))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		var after int64
		for {
			es, err := l.Read(context.Background(), after, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				got = append(got, e.Seq)
				if !reflect.DeepEqual(e, all[e.Seq-1]) {
					t.Fatalf("event %d differs: %+v", e.Seq, e)
				}
			}
			after = es[len(es)-1].Seq
		}
		l.Close()
		if len(got) != 25 || got[0] != 1 || got[24] != 25 {
			t.Fatalf("page %d: read %v", page, got)
		}
		for i := range got {
			if got[i] != int64(i+1) {
				t.Fatalf("page %d: read %v", page, got)
			}
		}
	}
}
