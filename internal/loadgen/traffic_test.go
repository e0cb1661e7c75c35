package loadgen

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func testTraffic(seed uint64) *traffic {
	mix, _ := ParseMix(DefaultMix)
	return newTraffic(Config{Seed: seed, Mix: mix, Users: DefaultUsers, Groups: DefaultGroups}, "run-")
}

var fixedTS = timestamp(nil, time.Date(2024, 2, 23, 22, 28, 55, 111e6, time.UTC))

// Message n depends on the seed and n only, so runs with one seed send
// the same traffic whichever worker builds which message.
func TestMessagesAreAFunctionOfSeedAndNumber(t *testing.T) {
	a, b, other := testTraffic(1), testTraffic(1), testTraffic(2)
	same, differ := 0, 0
	for n := range uint64(200) {
		ma, ka := a.appendMessage(nil, n, true, fixedTS)
		mb, kb := b.appendMessage(nil, n, true, fixedTS)
		mo, _ := other.appendMessage(nil, n, true, fixedTS)
		if !bytes.Equal(ma, mb) || ka != kb {
			t.Fatalf("message %d differs between two traffics with one seed:\n%s\n%s", n, ma, mb)
		}
		if bytes.Equal(ma, mo) {
			same++
		} else {
			differ++
		}
	}
	if differ < 190 {
		t.Errorf("seeds 1 and 2 gave %d identical messages of 200", same)
	}
}

// Every message is valid JSON that Roster accepts, with the spec's
// example traits, well under the 32 KB message limit.
func TestMessagesAreValid(t *testing.T) {
	tr := testTraffic(3)
	kinds := make([]kind, 500)
	body := tr.appendBatch(nil, 1000, kinds, fixedTS)
	var batch struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		t.Fatalf("batch is not JSON: %v\n%.500s", err, body)
	}
	if len(batch.Batch) != 500 || batch.SentAt != "2024-02-23T22:28:55.111Z" || len(body) > 500<<10 {
		t.Fatalf("%d messages, sentAt %q, %d bytes", len(batch.Batch), batch.SentAt, len(body))
	}
	groupTraits := map[string]bool{}
	for i, m := range batch.Batch {
		checkMessage(t, m)
		if m["type"] != kinds[i].String() || m["messageId"] != "run-"+itoa(1000+i) {
			t.Errorf("message %d: type %v id %v, want %s run-%d", i, m["type"], m["messageId"], kinds[i], 1000+i)
		}
		if m["type"] == "group" {
			for k := range m["traits"].(map[string]any) {
				groupTraits[k] = true
			}
		}
	}
	for _, k := range []string{"name", "industry", "employees", "plan", "total billed", "address", "createdAt", "website", "stripe customer id"} {
		if !groupTraits[k] {
			t.Errorf("no group call has the trait %q", k)
		}
	}
	single, k := tr.appendMessage(nil, 5, false, fixedTS)
	var m map[string]any
	if err := json.Unmarshal(single, &m); err != nil || m["type"] != nil || m["sentAt"] == nil {
		t.Errorf("single %s call %s: %v; want no type, a sentAt", k, single, err)
	}
}

func TestTrafficSpreadsOverUsersAndGroups(t *testing.T) {
	tr := testTraffic(1)
	groups := map[any]bool{}
	users := map[any]bool{}
	for n := range uint64(20000) {
		b, _ := tr.appendMessage(nil, n, true, fixedTS)
		var m map[string]any
		json.Unmarshal(b, &m) //nolint:errcheck
		users[m["userId"]] = true
		if g, ok := m["groupId"]; ok {
			groups[g] = true
		}
	}
	// 20,000 draws over 50,000 users and ~10,000 group calls over 5,000 groups.
	if len(users) < 15000 || len(groups) < 4000 {
		t.Errorf("%d users and %d groups in 20,000 messages, want them spread", len(users), len(groups))
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 100000)
	for i := range samples {
		// Log-uniform from 20 µs to 20 s: the whole range a run meets.
		samples[i] = time.Duration(math.Exp(math.Log(20e3)+r.Float64()*math.Log(1e6))) / time.Microsecond * time.Microsecond
		h.record(samples[i])
	}
	slices.Sort(samples)
	s := h.summary()
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, s.P50}, {0.9, s.P90}, {0.99, s.P99}, {1, s.Max}} {
		want := float64(samples[int(math.Ceil(c.q*float64(len(samples))))-1].Microseconds()) / 1000
		// An upper bound, within one bucket (1/64) of the true value.
		if c.got < want || c.got > want*(1+1.0/64)+0.001 {
			t.Errorf("p%v = %.3f ms, want %.3f ms (+1.6%%)", c.q*100, c.got, want)
		}
	}
	if s.Count != int64(len(samples)) {
		t.Errorf("count %d", s.Count)
	}
	for v := uint64(0); v < 1<<20; v += 1 + v/7 {
		if i := bucketOf(v); bucketMax(i) < v || (i > 0 && bucketMax(i-1) >= v) {
			t.Fatalf("value %d in bucket %d of max %d", v, i, bucketMax(i))
		}
	}
}

func TestBitset(t *testing.T) {
	var s bitset
	want := []uint64{0, 1, 63, 64, 65, 1000, 1 << 20}
	for _, n := range want {
		s.add(n)
	}
	var got []uint64
	s.each(func(n uint64) { got = append(got, n) })
	if !slices.Equal(got, want) || s.has(2) || !s.has(1000) || s.has(1<<30) {
		t.Errorf("bitset holds %v, want %v", got, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// syncBuffer is an io.Writer safe to read while a run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The generator must stay far ahead of the floor handler:
//
//	go test -run '^$' -bench AppendBatch ./internal/loadgen/
func BenchmarkAppendBatch100(b *testing.B) {
	tr := testTraffic(1)
	kinds := make([]kind, 100)
	var buf []byte
	for i := range b.N {
		buf = tr.appendBatch(buf[:0], uint64(i)*100, kinds, fixedTS)
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	b.SetBytes(int64(len(buf)))
}
