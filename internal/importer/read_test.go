package importer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// units reads an input and returns its messages (as maps) with their
// lines, and the lines reported as bad.
func units(t *testing.T, input []byte) (msgs []map[string]any, lines []int64, defaults []string, bad []int64) {
	t.Helper()
	sc, err := newScanner(bytes.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	for {
		u, lerr, err := sc.next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if lerr != nil {
			bad = append(bad, lerr.line)
			continue
		}
		for _, m := range u.messages {
			var v map[string]any
			if err := json.Unmarshal(m.raw, &v); err != nil {
				t.Fatalf("message %s is not JSON: %v", m.raw, err)
			}
			msgs = append(msgs, v)
			lines = append(lines, m.line)
			defaults = append(defaults, string(u.defaults))
		}
	}
}

func TestScannerShapes(t *testing.T) {
	input := strings.Join([]string{
		`{"type":"track","messageId":"s1","userId":"u","event":"E","receivedAt":"2020-01-01T00:00:00Z","_roster":{"seq":9,"workspace":"w"}}`,
		``,
		`{"batch":[{"type":"identify","userId":"u"},{"type":"identify","userId":"v","messageId":"b2"}],"context":{"ip":"1.2.3.4"},"writeKey":"x"}`,
		`not json`,
		`{"JobID":1,"EventPayload":"{\"batch\":[{\"type\":\"group\",\"messageId\":\"r1\",\"userId\":\"u\",\"groupId\":\"g\"}],\"receivedAt\":\"2020-02-02T00:00:00Z\"}"}`,
	}, "\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(input))
	zw.Close()
	for name, in := range map[string][]byte{"plain": []byte(input), "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			msgs, lines, defaults, bad := units(t, in)
			if len(msgs) != 4 || len(bad) != 1 || bad[0] != 4 {
				t.Fatalf("read %d messages, bad lines %v; want 4 messages and line 4 bad", len(msgs), bad)
			}
			if _, ok := msgs[0]["_roster"]; ok || msgs[0]["messageId"] != "s1" {
				t.Errorf("an export line is imported without _roster: %v", msgs[0])
			}
			id, _ := msgs[1]["messageId"].(string)
			if !strings.HasPrefix(id, "import-") || msgs[2]["messageId"] != "b2" {
				t.Errorf("messageIds %v and %v: want a derived one for the message without, b2 kept", msgs[1]["messageId"], msgs[2]["messageId"])
			}
			if defaults[1] != `"context":{"ip":"1.2.3.4"}` || defaults[0] != "" {
				t.Errorf("batch defaults = %q (message 0: %q)", defaults[1], defaults[0])
			}
			if msgs[3]["receivedAt"] != "2020-02-02T00:00:00Z" || msgs[3]["messageId"] != "r1" {
				t.Errorf("RudderStack message = %v, want its batch's receivedAt", msgs[3])
			}
			if want := []int64{1, 3, 3, 5}; lines[0] != want[0] || lines[1] != want[1] || lines[3] != want[3] {
				t.Errorf("lines = %v, want %v", lines, want)
			}
		})
	}
	// The same message always gets the same derived id.
	a, _, _, _ := units(t, []byte(`{"type":"identify","userId":"u"}`))
	b, _, _, _ := units(t, []byte(`{"type":"identify","userId":"u"}`))
	if a[0]["messageId"] != b[0]["messageId"] {
		t.Errorf("derived ids differ: %v, %v", a[0]["messageId"], b[0]["messageId"])
	}
}

// A pretty-printed {"batch":[…]} file is read as one value.
func TestScannerWholeBatchFile(t *testing.T) {
	msgs, _, _, bad := units(t, []byte("{\n  \"batch\": [\n    {\"type\":\"identify\",\"userId\":\"u\",\"messageId\":\"p1\"},\n    {\"type\":\"identify\",\"userId\":\"v\",\"messageId\":\"p2\"}\n  ]\n}\n"))
	if len(msgs) != 2 || len(bad) != 0 || msgs[1]["messageId"] != "p2" {
		t.Fatalf("read %v, bad %v", msgs, bad)
	}
}

func TestScannerResumeSkips(t *testing.T) {
	sc, err := newScanner(strings.NewReader("{\"type\":\"identify\",\"userId\":\"a\"}\n{\"type\":\"identify\",\"userId\":\"b\"}\n{\"type\":\"identify\",\"userId\":\"c\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sc.skip = 2
	u, _, err := sc.next()
	if err != nil || len(u.messages) != 1 || u.messages[0].line != 3 {
		t.Fatalf("after skipping 2 lines: %+v, %v; want line 3", u, err)
	}
}

// done moves only past batches acknowledged in order.
func TestWatermark(t *testing.T) {
	w := newWatermark(0)
	a, b, c := w.add(10), w.add(20), w.add(30)
	w.ack(b)
	if w.done != 0 {
		t.Fatalf("done = %d after the second of three, want 0", w.done)
	}
	w.ack(a)
	if w.done != 20 {
		t.Fatalf("done = %d, want 20", w.done)
	}
	w.skipped(35)
	if w.done != 20 {
		t.Fatalf("done = %d with batch 3 pending, want 20", w.done)
	}
	w.ack(c)
	if w.done != 35 {
		t.Fatalf("done = %d, want 35", w.done)
	}
}
