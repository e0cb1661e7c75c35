package durability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roster/internal/config"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/storetest"
)

// Profiles are derived from the log, one transaction per batch with the
// processor's cursor, so a crash at any moment must leave state that a
// clean rebuild from the log reproduces exactly. This test SIGKILLs the
// server while it ingests mixed traffic and applies it to profiles, lets
// the last run catch up, and compares the profile state with what
// `roster rebuild` makes of the same log.

// The ids the traffic uses. Groups are few, so that each is written by
// many events. Users are people: person p has the userId user-p and two
// devices, anonymousIds anon-p-0 and anon-p-1. The traffic is about a
// window of people that moves as it goes, so identities are created and
// merged all along, not only at the start. Persons 2k and 2k+1 are
// partners: a shared device and a second account tie them, and nothing
// ties further, so merges leave many distinct profiles to compare.
const (
	nGroups      = 20
	personWindow = 24
	personStride = 150 // events per step of the window
	// sentinel is a group written once after all other traffic: when the
	// profile API shows it, the processor has applied the whole log.
	sentinel     = "caught-up"
	sentinelUser = "sentinel-user"
)

// traffic generates the events of one writer.
type traffic struct {
	r *rand.Rand
	// clock is the shared client clock in Unix milliseconds. Writers step
	// it by 0–2 ms per event, so timestamps of different writers often tie
	// and (timestamp, seq) ordering is exercised.
	clock *atomic.Int64
	// made counts the events of all writers; it moves the window of people.
	made *atomic.Int64
}

// pendingBatch is a batch body and its messageIds. A writer resends the
// same batch until it is acknowledged, as Segment clients retry, so the
// log must deduplicate a batch that was committed but whose answer the
// kill cut off.
type pendingBatch struct {
	body []byte
	ids  []string
}

func (g *traffic) person() int {
	return int(g.made.Load()/personStride) + g.r.IntN(personWindow)
}

// who names a person by userId or by one of their anonymousIds.
func (g *traffic) who() string {
	p := g.person()
	if g.r.IntN(2) == 0 {
		return fmt.Sprintf(`"userId":"user-%d"`, p)
	}
	return fmt.Sprintf(`"anonymousId":"anon-%d-%d"`, p, g.r.IntN(2))
}

// groupID is a string, or for a fifth of the groups a JSON number, which
// ingestion stores as its decimal string.
func groupID(n int) string {
	if n%5 == 0 {
		return fmt.Sprint(1000 + n)
	}
	return fmt.Sprintf(`"acct-%02d"`, n)
}

// timestamp is the client clock, or for one event in five an older time,
// as a client that was offline sends late: an older write must not win
// over a newer one already applied, in either processing.
func (g *traffic) timestamp() string {
	ms := g.clock.Add(int64(g.r.IntN(3)))
	if g.r.IntN(5) == 0 {
		ms -= g.r.Int64N(int64(2 * time.Hour / time.Millisecond))
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

var plans = []string{`"trial"`, `"starter"`, `"pro"`, `"enterprise"`, `null`}

// groupTraits change plan values (null included), rename, and spell the
// same trait differently, which folds to one key.
func (g *traffic) groupTraits() string {
	var ts []string
	if g.r.IntN(3) == 0 {
		ts = append(ts, fmt.Sprintf(`"name":"Account %d"`, g.r.IntN(4)))
	}
	if g.r.IntN(2) == 0 {
		spelling := []string{"plan", "Plan", "PLAN"}[g.r.IntN(3)]
		ts = append(ts, fmt.Sprintf(`%q:%s`, spelling, plans[g.r.IntN(len(plans))]))
	}
	if g.r.IntN(2) == 0 {
		ts = append(ts, fmt.Sprintf(`"employees":%d`, g.r.IntN(500)))
	}
	if g.r.IntN(6) == 0 {
		ts = append(ts, fmt.Sprintf(`"address":{"city":%q}`, []string{"Austin", "Boston", "Oslo"}[g.r.IntN(3)]))
	}
	return "{" + strings.Join(ts, ",") + "}"
}

// event renders one call: group calls with traits; identify calls tying
// a device's anonymousId to its person's userId, or at times to the
// partner's (a shared device); alias calls from a device's anonymousId or
// from the partner's userId (a second account, which merges two users);
// and track calls attributed to a group by context.groupId, or not.
func (g *traffic) event(id string) string {
	g.made.Add(1)
	head := fmt.Sprintf(`"messageId":%q,"timestamp":%q`, id, g.timestamp())
	switch n := g.r.IntN(20); {
	case n < 8:
		return fmt.Sprintf(`{"type":"group",%s,%s,"groupId":%s,"traits":%s}`, head, g.who(), groupID(g.r.IntN(nGroups)), g.groupTraits())
	case n < 11:
		p := g.person()
		u := p
		if g.r.IntN(16) == 0 {
			u = p ^ 1
		}
		return fmt.Sprintf(`{"type":"identify",%s,"anonymousId":"anon-%d-%d","userId":"user-%d","traits":{"email":"user%d@example.com","plan":%s,"firstName":"F%d"}}`,
			head, p, g.r.IntN(2), u, g.r.IntN(3), plans[g.r.IntN(len(plans))], g.r.IntN(3))
	case n < 12:
		p := g.person()
		prev := fmt.Sprintf("anon-%d-%d", p, g.r.IntN(2))
		if g.r.IntN(12) == 0 {
			prev = fmt.Sprintf("user-%d", p^1)
		}
		return fmt.Sprintf(`{"type":"alias",%s,"userId":"user-%d","previousId":%q}`, head, p, prev)
	default:
		ctx := ""
		if g.r.IntN(5) > 0 {
			ctx = fmt.Sprintf(`,"context":{"groupId":%s}`, groupID(g.r.IntN(nGroups)))
		}
		return fmt.Sprintf(`{"type":"track",%s,%s,"event":"Report Run"%s}`, head, g.who(), ctx)
	}
}

func (g *traffic) batch(prefix string, n int) *pendingBatch {
	b := &pendingBatch{}
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		b.ids = append(b.ids, id)
		body.WriteString(g.event(id))
	}
	body.WriteString(`]}`)
	b.body = body.Bytes()
	return b
}

func TestProfilesAfterSIGKILLEqualRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server binary; skipped with -short")
	}
	bin := buildRoster(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)

	const kills, writers, perBatch = 4, 6, 25
	// Each writer sends at most this many events a second, which bounds
	// the log, and with it catch-up, rebuild and dump times, on a machine
	// where fsync is cheap; a slower one sends what it can.
	const writerRate = 2000
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		pending = make([]*pendingBatch, writers) // a writer's unacknowledged batch, across restarts
		procs   []*proc
		clock   atomic.Int64
		made    atomic.Int64
		backlog []int64 // events committed but not applied, at each kill
	)
	clock.Store(time.Now().UnixMilli())
	ack := func(b *pendingBatch) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range b.ids {
			acked[id] = true
		}
	}
	for round := range kills + 1 {
		p := start(t, bin, dataDir, addr)
		procs = append(procs, p)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				g := &traffic{r: rand.New(rand.NewPCG(uint64(round), uint64(w))), clock: &clock, made: &made}
				client := &http.Client{Timeout: 5 * time.Second}
				next := time.Now()
				for n := 0; ctx.Err() == nil; n++ {
					next = next.Add(perBatch * time.Second / writerRate)
					time.Sleep(time.Until(next))
					if pending[w] == nil {
						pending[w] = g.batch(fmt.Sprintf("p%d-w%d-b%d", round, w, n), perBatch)
					}
					if post(client, addr, pending[w].body) {
						ack(pending[w])
						pending[w] = nil
					} else {
						time.Sleep(10 * time.Millisecond) // the server is down: don't spin
					}
				}
			})
		}
		if round < kills {
			// Kill at a different point of ingestion and processing each
			// time, while requests are in flight and the processor has a
			// backlog to apply.
			time.Sleep(time.Duration(400+rand.IntN(500)) * time.Millisecond)
			if err := p.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.Wait()
			cancel()
			wg.Wait()
			cursor, last := snapshotProgress(t, dataDir)
			backlog = append(backlog, last-cursor)
			continue
		}
		// The last run ends gracefully: the writers stop, their batches
		// still unacknowledged are resent, and then the sentinel, which is
		// the last event of the log.
		time.Sleep(300 * time.Millisecond)
		cancel()
		wg.Wait()
		for _, b := range pending {
			if b != nil {
				if !post(http.DefaultClient, addr, b.body) {
					t.Fatalf("resending a batch to the running server failed:\n%s", p.logs)
				}
				ack(b)
			}
		}
		final := &pendingBatch{
			body: fmt.Appendf(nil, `{"batch":[{"type":"group","messageId":"sentinel","userId":%q,"groupId":%q,"traits":{"name":"Sentinel"}}]}`, sentinelUser, sentinel),
			ids:  []string{"sentinel"},
		}
		if !post(http.DefaultClient, addr, final.body) {
			t.Fatalf("sentinel not acknowledged:\n%s", p.logs)
		}
		ack(final)
		waitForGroup(t, addr, sentinel, p)
		stop(t, p)
	}
	for _, p := range procs {
		// The processor logs these only on a failed apply or an event it
		// cannot read: a bug, even if the state ends up right.
		for _, bad := range []string{"profile processing failed", "event not applied to profiles"} {
			if strings.Contains(p.logs.String(), bad) {
				t.Errorf("server logged %q:\n%s", bad, p.logs)
			}
		}
	}
	t.Logf("%d events acknowledged; at the %d kills %v events were committed but not yet applied to profiles", len(acked), kills, backlog)
	if len(acked) < 2000 {
		t.Fatalf("only %d events acknowledged; the load did not run", len(acked))
	}
	behind := false
	for _, n := range backlog {
		behind = behind || n > 0
	}
	if !behind {
		t.Errorf("no kill left the profile processor behind the log (backlogs %v): the kills did not test processing", backlog)
	}

	// Every identity the traffic can have named.
	ids := []storetest.ID{{Type: store.IDUserID, ID: sentinelUser}}
	for p := range int(made.Load()/personStride) + personWindow {
		ids = append(ids, storetest.ID{Type: store.IDUserID, ID: fmt.Sprintf("user-%d", p)},
			storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprintf("anon-%d-0", p)},
			storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprintf("anon-%d-1", p)})
	}

	// The state the crashed and restarted processor built.
	st := openStore(t, dataDir)
	cursor, last := progress(t, st)
	if cursor != last {
		t.Fatalf("profile cursor %d, log ends at %d: the processor had not caught up", cursor, last)
	}
	stored := messageIDs(t, st)
	incremental := storetest.Dump(t, st, config.DefaultWorkspace, ids)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A clean rebuild of the same log, by the command an operator runs.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "rebuild", "--data", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("roster rebuild: %v\n%s", err, out)
	}
	t.Logf("roster rebuild: %s", bytes.TrimSpace(lastLine(out)))
	st = openStore(t, dataDir)
	if c, l := progress(t, st); c != l || l != last {
		t.Fatalf("after rebuild: cursor %d, log ends at %d (was %d)", c, l, last)
	}
	rebuilt := storetest.Dump(t, st, config.DefaultWorkspace, ids)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if !strings.Contains(incremental, "group {Workspace:default ID:"+sentinel+" ") {
		t.Fatalf("the dump holds no sentinel group: it does not read the workspace\n%.2000s", incremental)
	}
	if incremental != rebuilt {
		// Whole dumps are kept for a closer look (go test -artifacts).
		dir := t.ArtifactDir()
		os.WriteFile(filepath.Join(dir, "profiles-after-kills.txt"), []byte(incremental), 0o644)
		os.WriteFile(filepath.Join(dir, "profiles-rebuilt.txt"), []byte(rebuilt), 0o644)
		t.Errorf("profiles after %d kills differ from a rebuild of the same log (- after kills, + rebuilt; whole dumps in %s, kept with go test -artifacts):\n%s",
			kills, dir, diffLines(incremental, rebuilt))
	}
	lost := 0
	for id := range acked {
		if stored[id] == 0 {
			lost++
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events lost", lost, len(acked))
	}
	if incremental == rebuilt {
		t.Logf("profile state of %d logged events (%d dump lines) equals the rebuild", len(stored), strings.Count(incremental, "\n"))
	}
}

func openStore(t *testing.T, dir string) *pebble.Store {
	t.Helper()
	st, err := pebble.Open(context.Background(), dir, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// progress returns the profile processor's cursor and the last seq of the
// log.
func progress(t *testing.T, st *pebble.Store) (cursor, last int64) {
	t.Helper()
	ctx := context.Background()
	cursor, err := st.Cursor(ctx, store.ProfileCursor)
	if err != nil {
		t.Fatal(err)
	}
	for {
		evs, err := st.Read(ctx, last, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return cursor, last
		}
		last = evs[len(evs)-1].Seq
	}
}

// snapshotProgress reads the progress of a killed server from a copy of its
// database files, so that the restarted server, not the test, is the one
// to recover the databases from what the kill left.
func snapshotProgress(t *testing.T, dataDir string) (cursor, last int64) {
	t.Helper()
	snap := t.TempDir()
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		name := entry.Name()
		if !entry.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(snap, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := openStore(t, snap)
	defer st.Close()
	return progress(t, st)
}

// messageIDs counts each messageId in the log.
func messageIDs(t *testing.T, st *pebble.Store) map[string]int {
	t.Helper()
	stored := map[string]int{}
	var after int64
	for {
		evs, err := st.Read(context.Background(), after, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return stored
		}
		for _, e := range evs {
			stored[e.MessageID]++
		}
		after = evs[len(evs)-1].Seq
	}
}

// waitForGroup polls the group route until the group exists: events are
// applied in log order, so then everything logged before it is applied.
func waitForGroup(t *testing.T, addr, group string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/workspaces/"+config.DefaultWorkspace+"/groups/"+group, nil)
		req.SetBasicAuth(accessToken, "")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s never appeared: the processor did not catch up\n%s", group, p.logs)
}

// stop asks the server to shut down (SIGTERM) and waits for it, so that
// the data directory's lock is free.
func stop(t *testing.T, p *proc) {
	t.Helper()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("roster serve exited with %v after SIGTERM:\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		p.Process.Kill()
		<-done
		t.Fatalf("roster serve did not stop within 30s of SIGTERM:\n%s", p.logs)
	}
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// diffLines lists the lines of each dump that the other lacks, each group
// of them under the group or user it belongs to, at most 40 lines; long
// lines (a profile's event seqs) are cut.
func diffLines(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	cut := func(l string, n int) string {
		if len(l) > n {
			return l[:n] + "…"
		}
		return l
	}
	var out strings.Builder
	shown := 0
	list := func(s string, other map[string]int, sign string) {
		head, printed := "", ""
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, " ") {
				head = l
			}
			if other[l] > 0 {
				other[l]--
				continue
			}
			if shown++; shown > 40 {
				continue
			}
			if head != printed && head != l {
				fmt.Fprintf(&out, "  in %s\n", cut(head, 200))
			}
			printed = head
			fmt.Fprintf(&out, "%s %s\n", sign, cut(l, 400))
		}
	}
	list(a, count(b), "-")
	list(b, count(a), "+")
	if shown > 40 {
		fmt.Fprintf(&out, "… %d differing lines in all\n", shown)
	}
	return out.String()
}
