package spec

import (
	"fmt"
	"strings"
	"testing"
)

// benchGroupCall is a realistic group call (about 370 bytes) as an SDK sends
// it: ids, a small context, traits like the spec's example, client times.
const benchGroupCall = `{"type":"group","messageId":"022bb90c-bbac-11e4-8dfc-aa07a5b093db",` +
	`"userId":"97980cfea0067","groupId":"0e8c78ea9d97a7b8185e8632",` +
	`"context":{"ip":"8.8.8.8","library":{"name":"analytics.js","version":"2.11.1"}},` +
	`"traits":{"name":"Initech","employees":329,"plan":"enterprise","total billed":830},` +
	`"sentAt":"2015-02-23T22:28:55.111Z","timestamp":"2015-02-23T22:28:55.111Z"}`

// benchBatch is a batch body of n group calls with distinct message ids.
func benchBatch(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"writeKey":"wk_bench","sentAt":"2015-02-23T22:28:55.200Z","batch":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strings.Replace(benchGroupCall, "022bb90c", fmt.Sprintf("%08x", i), 1))
	}
	sb.WriteString(`]}`)
	return sb.String()
}

func BenchmarkNormalize(b *testing.B) {
	n := NewNormalizer(func() string { return "generated" })
	body := []byte(benchGroupCall)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := n.Normalize(body, Group, nil, recvAt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBatch100(b *testing.B) {
	n := NewNormalizer(func() string { return "generated" })
	body := []byte(benchBatch(100))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		batch, err := n.DecodeBatch(body, 1000)
		if err != nil {
			b.Fatal(err)
		}
		for _, raw := range batch.Messages {
			if _, err := n.Normalize(raw, "", &batch.Defaults, recvAt); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestBenchInputsAreValid(t *testing.T) {
	if l := len(benchGroupCall); l < 340 || l > 400 {
		t.Errorf("benchGroupCall is %d bytes, want about 370", l)
	}
	msg, _ := normalizeOK(t, newTestNormalizer(), benchGroupCall, Group, nil)
	if len(msg.Warnings) != 0 {
		t.Errorf("warnings %q", msg.Warnings)
	}
	n := newTestNormalizer()
	batch := mustDecodeBatch(t, n, benchBatch(100))
	if len(batch.Messages) != 100 {
		t.Fatalf("%d messages, want 100", len(batch.Messages))
	}
	seen := map[string]bool{}
	for _, raw := range batch.Messages {
		msg, _ := normalizeOK(t, n, string(raw), "", &batch.Defaults)
		seen[msg.MessageID] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct message ids, want 100", len(seen))
	}
}
