package pebble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"roster/internal/auth"
	"roster/internal/ingest"
	"roster/internal/store"
)

// fullDisk is a file system that can be filled: while full it reports
// little free space and fails writes to the WAL with ENOSPC, as a full
// disk would.
type fullDisk struct {
	*errorfs.FS
	full atomic.Bool
}

func newFullDisk() *fullDisk {
	d := &fullDisk{}
	d.FS = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if d.full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return syscall.ENOSPC
		}
		return nil
	}))
	return d
}

func (d *fullDisk) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	u, err := d.FS.GetDiskUsage(path)
	if d.full.Load() {
		u.AvailBytes = 10 << 20
	}
	return u, err
}

// A full disk answers 503 (SDKs retry) instead of acknowledging, and the
// store works again once there is room, with nothing lost and nothing
// stored twice. The guard refuses before the WAL sees an ENOSPC, which
// Pebble would not survive (TestPebbleCannotSurviveENOSPC).
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	disk := newFullDisk()
	s, err := openOn(context.Background(), t.TempDir(), store.Options{}, discard(), disk)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := auth.NewRegistry([]store.Source{{Workspace: "ws", Name: "web", WriteKey: "wk"}}, nil)
	mux := http.NewServeMux()
	ingest.New(ingest.Options{Log: s, Sources: reg, Logger: discard()}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(i int) *http.Response {
		var b strings.Builder
		b.WriteString(`{"batch":[`)
		for j := range 50 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"group","messageId":"m%d-%d","userId":"u","groupId":"g","traits":{"pad":"%s"}}`, i, j, strings.Repeat("x", 400))
		}
		b.WriteString(`]}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", strings.NewReader(b.String()))
		req.SetBasicAuth("wk", "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp
	}

	acked := map[int]bool{}
	for i := range 5 {
		if resp := send(i); resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %d: %d", i, resp.StatusCode)
		}
		acked[i] = true
	}
	disk.full.Store(true)
	if err := s.Append(context.Background(), []store.Event{{Workspace: "ws", Source: "web", MessageID: "x"}}, nil); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Append on a full disk = %v, want ErrDiskFull", err)
	}
	const full = 5
	resp := send(full)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("batch on a full disk: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	disk.full.Store(false)
	// The SDK retries the refused batch, and an acknowledged one too.
	for _, i := range []int{full, 0} {
		if resp := send(i); resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %d after room was made: %d", i, resp.StatusCode)
		}
		acked[i] = true
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after the disk had room again: %v", err)
	}
	count := map[string]int{}
	var after int64
	for {
		evs, err := s.Read(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			count[e.MessageID]++
		}
		after = evs[len(evs)-1].Seq
	}
	for i := range acked {
		for j := range 50 {
			if id := fmt.Sprintf("m%d-%d", i, j); count[id] != 1 {
				t.Errorf("%s stored %d times, want once", id, count[id])
			}
		}
	}
	if len(count) != len(acked)*50 {
		t.Errorf("%d events stored, want %d", len(count), len(acked)*50)
	}
}

// fatalPanics makes Pebble's fatal errors visible to a test.
type fatalPanics struct{}

func (fatalPanics) Infof(string, ...any)              {}
func (fatalPanics) Errorf(string, ...any)             {}
func (fatalPanics) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// TestPebbleCannotSurviveENOSPC is why the space guard exists: a synced
// write that meets a full disk in the WAL is fatal to Pebble (its commit
// pipeline ends the process), or if it is not, the WAL keeps the error and
// the next commit is, even with room again.
func TestPebbleCannotSurviveENOSPC(t *testing.T) {
	disk := newFullDisk()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{FS: disk, Logger: fatalPanics{}})
	if err != nil {
		t.Fatal(err)
	}
	set := func(key string, size int) (err error, fatal any) {
		defer func() { fatal = recover() }()
		return db.Set([]byte(key), make([]byte, size), pebble.Sync), nil
	}
	if err, fatal := set("a", 10); err != nil || fatal != nil {
		t.Fatal(err, fatal)
	}
	disk.full.Store(true)
	err, fatal := set("b", 64<<10)
	if err == nil && fatal == nil {
		t.Fatal("a synced write to a full WAL succeeded")
	}
	t.Logf("a write to a full disk: error %v, fatal %v", err, fatal)
	if fatal == nil {
		disk.full.Store(false)
		err, fatal = set("c", 10)
		if fatal == nil {
			t.Fatalf("this Pebble recovered from a failed WAL write (%v); the space guard could go", err)
		}
		t.Logf("the write after room was made: fatal %v", fatal)
	}
	// The database is broken now; closing it may panic too, and its
	// files go with the test's directory.
	func() {
		defer func() { recover() }() //nolint:errcheck
		db.Close()
	}()
}
