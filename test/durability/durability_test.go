// Package durability checks Roster's promise that an acknowledged event is
// never lost: the server process is killed with SIGKILL while under load,
// restarted, and every acknowledged messageId must be in the log once.
package durability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"roster/internal/store"
	"roster/internal/store/pebble"
)

const (
	writeKey    = "wk_durability"
	accessToken = "tok_durability"
)

// The binary is built once per test run and shared by the tests: linking
// it takes seconds.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildRoster(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "roster-durability-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "roster")
		cmd := exec.Command("go", "build", "-o", binPath, "roster/cmd/roster")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running roster serve and its output.
type proc struct {
	*exec.Cmd
	logs *syncBuffer
}

// syncBuffer collects a process's output; the test reads it while the
// process may still write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs roster serve and waits until it is ready. The process is
// killed when the test ends, should the test not have stopped it.
func start(t *testing.T, bin, dataDir, addr string) *proc {
	t.Helper()
	return startWith(t, bin, addr, "--data", dataDir)
}

// startWith runs roster serve with store flags of the caller's choice
// (--data, or --database-url).
func startWith(t *testing.T, bin, addr string, storeArgs ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, storeArgs...)...)
	cmd.Env = append(os.Environ(), "ROSTER_WRITE_KEY="+writeKey, "ROSTER_ACCESS_TOKEN="+accessToken)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd, logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("roster did not become ready:\n%s", logs.String())
	return nil
}

// send posts one batch of group calls and reports whether it was
// acknowledged.
func send(client *http.Client, addr string, ids []string) bool {
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"group","messageId":%q,"userId":"u-%s","groupId":"g-%d","traits":{"name":"Acme","plan":"enterprise","employees":%d}}`, id, id, i%7, i)
	}
	b.WriteString(`]}`)
	return post(client, addr, b.Bytes())
}

// post sends a /v1/batch body and reports whether it was acknowledged.
func post(client *http.Client, addr string, body []byte) bool {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/batch", bytes.NewReader(body))
	req.SetBasicAuth(writeKey, "")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestAcknowledgedEventsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server binary; skipped with -short")
	}
	bin := buildRoster(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	const rounds, writers, perBatch = 3, 8, 20
	for round := range rounds {
		cmd := start(t, bin, dataDir, addr)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				client := &http.Client{Timeout: 5 * time.Second}
				for n := 0; ctx.Err() == nil; n++ {
					ids := make([]string, perBatch)
					for i := range ids {
						ids[i] = fmt.Sprintf("r%d-w%d-b%d-%d", round, w, n, i)
					}
					if send(client, addr, ids) {
						mu.Lock()
						for _, id := range ids {
							acked[id] = true
						}
						mu.Unlock()
					}
				}
			})
		}
		// Kill while requests are in flight.
		time.Sleep(time.Duration(300+round*200) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		cancel()
		wg.Wait()
	}

	// Resending an acknowledged id after the crash must not store it twice.
	cmd := start(t, bin, dataDir, addr)
	var resent string
	for id := range acked {
		resent = id
		break
	}
	if !send(http.DefaultClient, addr, []string{resent}) {
		t.Fatal("resend after restart was not acknowledged")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	st, err := pebble.Open(context.Background(), dataDir, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := map[string]int{}
	var after int64
	for {
		evs, err := st.Read(context.Background(), after, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			stored[e.MessageID]++
		}
		after = evs[len(evs)-1].Seq
	}
	if len(acked) < rounds*writers*perBatch {
		t.Fatalf("only %d events acknowledged; the load did not run", len(acked))
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
		t.Fatalf("%d of %d acknowledged events lost after SIGKILL", lost, len(acked))
	}
	t.Logf("%d events acknowledged across %d kills, all stored exactly once (%d stored in all, including unacknowledged ones)", len(acked), rounds, len(stored))
}
