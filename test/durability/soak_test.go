package durability

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/config"
	"roster/internal/loadgen"
	"roster/internal/store"
	"roster/internal/store/postgres"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// The soak: mixed traffic at half of the measured capacity for a long
// while, on the embedded store and on PostgreSQL. Ingestion latency, the
// server's memory and its open file descriptors must stay flat from the
// first window to the last; at the end every acknowledged messageId is
// stored once and the profiles equal a rebuild of the log.
//
// CI runs it for a few seconds. ROSTER_SOAK=10m runs it for ten minutes,
// reporting by minute (ROSTER_SOAK_WINDOW changes that); the figures are
// logged (go test -v) for docs/performance.md.

// soakTraffic is the traffic's size: few enough profiles that the dumps
// compared at the end stay quick, enough for merges and memberships.
const (
	soakGroups = 200
	soakUsers  = 2000
)

type soakPlan struct {
	duration, window, capacityRun time.Duration
	long                          bool
}

func soakSettings(t *testing.T) soakPlan {
	p := soakPlan{duration: 4 * time.Second, window: 2 * time.Second, capacityRun: time.Second}
	if s := os.Getenv("ROSTER_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("ROSTER_SOAK=%q: want a duration such as 10m", s)
		}
		p = soakPlan{duration: d, window: min(time.Minute, d/3), capacityRun: 20 * time.Second, long: true}
	}
	if s := os.Getenv("ROSTER_SOAK_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("ROSTER_SOAK_WINDOW=%q: want a duration", s)
		}
		p.window = d
	}
	return p
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server binary under load; skipped with -short")
	}
	plan := soakSettings(t)
	bin := buildRoster(t)
	t.Run("pebble", func(t *testing.T) {
		dir := t.TempDir()
		soak(t, plan, bin, []string{"--data", dir}, func() store.Profiles { return openStore(t, dir) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.FreshSchema(t)
		soak(t, plan, bin, []string{"--database-url", url}, func() store.Profiles {
			st, err := postgres.Open(context.Background(), url, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
}

// procSample is the server process's memory and descriptors at a moment.
type procSample struct {
	at       time.Duration // since the soak started
	rssBytes int64
	fds      int
}

func soak(t *testing.T, plan soakPlan, bin string, storeArgs []string, open func() store.Profiles) {
	addr := freeAddr(t)
	p := startWith(t, bin, addr, storeArgs...)
	ctx := context.Background()
	base := loadgen.Config{
		URL: "http://" + addr, WriteKey: writeKey, Token: accessToken,
		Concurrency: 16, Batch: 50, Groups: soakGroups, Users: soakUsers, Seed: 1,
		VerifyTimeout: 10 * time.Minute,
	}

	capacity := base
	capacity.Duration, capacity.RunID, capacity.Token = plan.capacityRun, "capacity", ""
	capRes, err := loadgen.Run(ctx, capacity)
	if err != nil {
		t.Fatalf("capacity run: %v\n%s", err, p.logs)
	}
	if capRes.EventsPerSec <= 0 {
		t.Fatalf("capacity run acknowledged nothing: %+v", capRes)
	}

	run := base
	run.Duration, run.Window, run.Rate, run.RunID, run.Verify = plan.duration, plan.window, capRes.EventsPerSec/2, "soak", true
	run.Concurrency = 64 // an open loop: enough in flight that a slow answer does not hold the schedule back
	samples := sampleProcess(t, p.Process.Pid, time.Second)
	res, err := loadgen.Run(ctx, run)
	procs := samples()
	if err != nil {
		t.Fatalf("soak: %v\n%s", err, p.logs)
	}
	windows := res.Windows
	if len(windows) < 2 {
		t.Fatalf("%d windows: the soak is shorter than two", len(windows))
	}
	first, last := windows[0], windows[len(windows)-1]
	firstProc := procWindow(procs, 0, plan.window)
	lastProc := procWindow(procs, time.Duration(last.StartSeconds*float64(time.Second)), plan.window)
	t.Logf("capacity %.0f events/s (closed loop, %s); soak %s at %.0f events/s: %d acknowledged, %d failed, %d unsent",
		capRes.EventsPerSec, plan.capacityRun, plan.duration, run.Rate, res.Acked, res.Failed, res.Unsent)
	for _, w := range []struct {
		name string
		w    loadgen.Window
		p    procStats
	}{{"first", first, firstProc}, {"last", last, lastProc}} {
		t.Logf("%s window (from %.0fs): %d acknowledged, latency p50 %.1f ms p99 %.1f ms max %.1f ms; RSS %.0f–%.0f MB; open fds %d–%d",
			w.name, w.w.StartSeconds, w.w.Acked, w.w.Latency.P50, w.w.Latency.P99, w.w.Latency.Max,
			float64(w.p.minRSS)/(1<<20), float64(w.p.maxRSS)/(1<<20), w.p.minFDs, w.p.maxFDs)
	}
	if res.Processing != nil {
		t.Logf("profiles caught up %.1fs after the last acknowledgement (%d events behind at the end)", res.Processing.CaughtUpSeconds, res.Processing.BehindAtEnd)
	}

	// Nothing acknowledged is lost or stored twice.
	if v := res.Verify; v == nil || !v.OK() || v.Acked != res.Acked {
		t.Errorf("verify: %+v; want every one of the %d acknowledged events stored once", v, res.Acked)
	}
	if res.Failed > 0 {
		t.Errorf("%d events failed at half of the capacity: %v (first: %s)", res.Failed, res.Errors, res.FirstError)
	}
	// Descriptors are not leaked: the last window holds about what the
	// first did (the connections of the run, the store's files).
	if lastProc.maxFDs > firstProc.maxFDs+64 {
		t.Errorf("open fds grew from %d in the first window to %d in the last", firstProc.maxFDs, lastProc.maxFDs)
	}
	if plan.long {
		// Flat, with the room a noisy shared machine needs.
		if lastProc.maxRSS > firstProc.maxRSS*3/2+64<<20 {
			t.Errorf("RSS grew from %.0f MB in the first window to %.0f MB in the last", float64(firstProc.maxRSS)/(1<<20), float64(lastProc.maxRSS)/(1<<20))
		}
		if last.Latency.P99 > 3*first.Latency.P99+50 {
			t.Errorf("p99 latency grew from %.1f ms in the first window to %.1f ms in the last", first.Latency.P99, last.Latency.P99)
		}
	}

	// The profiles equal a rebuild of the same log.
	stop(t, p)
	ids := make([]storetest.ID, 0, 2*soakUsers)
	for u := range soakUsers {
		ids = append(ids, storetest.ID{Type: store.IDUserID, ID: fmt.Sprintf("user-%d", u)}, storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprintf("anon-%d", u)})
	}
	incremental := dumpAndClose(t, open, ids)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(rctx, bin, append([]string{"rebuild"}, storeArgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("roster rebuild: %v\n%s", err, out)
	}
	rebuilt := dumpAndClose(t, open, ids)
	if !strings.Contains(incremental, "group {") {
		t.Fatalf("the dump holds no group:\n%.2000s", incremental)
	}
	if incremental != rebuilt {
		dir := t.ArtifactDir()
		os.WriteFile(filepath.Join(dir, "profiles-soaked.txt"), []byte(incremental), 0o644)
		os.WriteFile(filepath.Join(dir, "profiles-rebuilt.txt"), []byte(rebuilt), 0o644)
		t.Errorf("profiles after the soak differ from a rebuild (- soaked, + rebuilt):\n%s", diffLines(incremental, rebuilt))
	} else {
		t.Logf("profiles (%d dump lines) equal a rebuild of the log (%s)", strings.Count(incremental, "\n"), strings.TrimSpace(string(lastLine(out))))
	}
}

func dumpAndClose(t *testing.T, open func() store.Profiles, ids []storetest.ID) string {
	t.Helper()
	st := open()
	d := storetest.Dump(t, st, config.DefaultWorkspace, ids)
	if c, ok := st.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// sampleProcess reads the process's RSS and open descriptors every
// interval until the returned function is called, which returns them.
func sampleProcess(t *testing.T, pid int, interval time.Duration) func() []procSample {
	start := time.Now()
	var (
		mu      sync.Mutex
		samples []procSample
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if s, ok := readProc(pid); ok {
				s.at = time.Since(start)
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() []procSample {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		if len(samples) == 0 {
			t.Skip("cannot read /proc for the server's memory and descriptors on this system")
		}
		return samples
	}
}

// readProc reads VmRSS from /proc/pid/status and counts /proc/pid/fd.
func readProc(pid int) (procSample, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, false
	}
	var s procSample
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return procSample{}, false
			}
			s.rssBytes = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return procSample{}, false
	}
	s.fds = len(fds)
	return s, s.rssBytes > 0
}

type procStats struct {
	minRSS, maxRSS int64
	minFDs, maxFDs int
}

// procWindow summarizes the samples taken in [from, from+length).
func procWindow(samples []procSample, from, length time.Duration) procStats {
	var st procStats
	n := 0
	for _, s := range samples {
		if s.at < from || s.at >= from+length {
			continue
		}
		if n == 0 || s.rssBytes < st.minRSS {
			st.minRSS = s.rssBytes
		}
		if n == 0 || s.fds < st.minFDs {
			st.minFDs = s.fds
		}
		st.maxRSS, st.maxFDs = max(st.maxRSS, s.rssBytes), max(st.maxFDs, s.fds)
		n++
	}
	return st
}
