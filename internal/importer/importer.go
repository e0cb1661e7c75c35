// Package importer sends archived events (Segment's S3/GCS archives,
// RudderStack backups, Roster exports, {"batch":[…]} files) to a Roster
// through /v1/import, so that validation, dedup and quarantine apply as
// to live traffic and the archive's receivedAt and timestamp are kept.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to import where.
type Config struct {
	URL      string
	WriteKey string
	// Inputs are file paths; "-" is Stdin.
	Inputs []string
	Stdin  io.Reader
	// Concurrency is how many requests are in flight (default 4).
	Concurrency int
	// BatchSize is the most messages per request and BatchBytes the most
	// bytes; the defaults stay under Roster's and Segment's body limit.
	BatchSize  int
	BatchBytes int
	// StatePath, when set, is where progress is saved for Resume.
	StatePath string
	// Resume skips what the state at StatePath says was acknowledged.
	Resume bool
	// Problems receives one line per unparsable or rejected message,
	// with its input and line.
	Problems io.Writer
	Client   *http.Client
}

// Stats counts an import.
type Stats struct {
	Sent, Accepted, Deduplicated, Rejected, Unparsable int64
	// Skipped are lines a resume did not read again.
	Skipped int64
	// BytesRead and BytesTotal measure the inputs (as stored, compressed
	// or not) for progress; BytesTotal is 0 when unknown (stdin).
	BytesRead, BytesTotal int64
}

// Importer runs one import.
type Importer struct {
	cfg      Config
	stats    counters
	mu       sync.Mutex // guards marks and state
	marks    map[string]*watermark
	state    state
	problems sync.Mutex
}

type counters struct {
	sent, accepted, dedup, rejected, unparsable, skipped, read, total atomic.Int64
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Importer, error) {
	if cfg.URL == "" || cfg.WriteKey == "" {
		return nil, errors.New("import: a URL and a write key are required")
	}
	if len(cfg.Inputs) == 0 {
		return nil, errors.New("import: no input: give files, or - for stdin")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 450 << 10
	}
	if cfg.Problems == nil {
		cfg.Problems = io.Discard
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Concurrency, DisableCompression: true}}
	}
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	im := &Importer{cfg: cfg, marks: map[string]*watermark{}, state: state{Done: map[string]int64{}}}
	if cfg.Resume && cfg.StatePath != "" {
		st, err := loadState(cfg.StatePath)
		if err != nil {
			return nil, err
		}
		im.state = st
	}
	for _, in := range cfg.Inputs {
		if in == "-" {
			continue
		}
		fi, err := os.Stat(in)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		im.stats.total.Add(fi.Size())
	}
	return im, nil
}

// DefaultStatePath is where an import of inputs saves its progress unless
// told otherwise: named after the inputs, so that --resume finds it.
func DefaultStatePath(inputs []string) string {
	h := sha256.New()
	for _, in := range inputs {
		if abs, err := filepath.Abs(in); err == nil && in != "-" {
			in = abs
		}
		h.Write([]byte(in))
		h.Write([]byte{0})
	}
	return ".roster-import-" + hex.EncodeToString(h.Sum(nil)[:6]) + ".json"
}

// Stats returns the counts so far.
func (im *Importer) Stats() Stats {
	c := &im.stats
	return Stats{Sent: c.sent.Load(), Accepted: c.accepted.Load(), Deduplicated: c.dedup.Load(), Rejected: c.rejected.Load(),
		Unparsable: c.unparsable.Load(), Skipped: c.skipped.Load(), BytesRead: c.read.Load(), BytesTotal: c.total.Load()}
}

// batch is one request's messages.
type batch struct {
	input    string
	id       int64
	defaults []byte
	messages []message
	size     int
}

// Run imports every input. It returns when all is acknowledged, or at
// the first error that retries do not cure, or when ctx ends; the state
// is saved either way, for Resume.
func (im *Importer) Run(ctx context.Context) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan *batch, im.cfg.Concurrency*2)
	var wg sync.WaitGroup
	for range im.cfg.Concurrency {
		wg.Go(func() {
			for b := range work {
				if err := im.send(ctx, b); err != nil {
					cancel(err)
				} else {
					im.acked(b)
				}
			}
		})
	}
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	go func() {
		defer close(saved)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				im.save() //nolint:errcheck // the final save reports
			case <-stopSaving:
				return
			}
		}
	}()
	var err error
	for _, in := range im.cfg.Inputs {
		if err = im.read(ctx, in, work); err != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	close(stopSaving)
	<-saved
	if cause := context.Cause(ctx); err == nil && cause != nil {
		err = cause
	}
	if serr := im.save(); serr != nil && err == nil {
		err = serr
	}
	return im.Stats(), err
}

// save writes the state, if there is a path for it.
func (im *Importer) save() error {
	if im.cfg.StatePath == "" {
		return nil
	}
	im.mu.Lock()
	st := state{Done: make(map[string]int64, len(im.state.Done))}
	for k, v := range im.state.Done {
		st.Done[k] = v
	}
	for in, w := range im.marks {
		st.Done[in] = max(st.Done[in], w.done)
	}
	im.mu.Unlock()
	return st.save(im.cfg.StatePath)
}

func (im *Importer) acked(b *batch) {
	im.mu.Lock()
	im.marks[b.input].ack(b.id)
	im.mu.Unlock()
}

// countingReader counts the bytes read from an input, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// read splits one input into batches and queues them.
func (im *Importer) read(ctx context.Context, input string, work chan<- *batch) error {
	var r io.Reader = im.cfg.Stdin
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc, err := newScanner(countingReader{r, &im.stats.read})
	if err != nil {
		return fmt.Errorf("import: %s: %w", input, err)
	}
	im.mu.Lock()
	skip := im.state.Done[input]
	w := newWatermark(skip)
	im.marks[input] = w
	im.mu.Unlock()
	sc.skip = skip
	im.stats.skipped.Add(skip)

	var cur *batch
	flush := func(lastLine int64) error {
		if cur == nil || len(cur.messages) == 0 {
			return nil
		}
		im.mu.Lock()
		cur.id = w.add(lastLine)
		im.mu.Unlock()
		select {
		case work <- cur:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		cur = nil
		return nil
	}
	for {
		u, bad, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("import: %s: %w", input, err)
		}
		if bad != nil {
			im.stats.unparsable.Add(1)
			im.problem("%s:%d: unparsable: %v", input, bad.line, bad.err)
			if cur == nil {
				im.mu.Lock()
				w.skipped(bad.line)
				im.mu.Unlock()
			}
			continue
		}
		for i, m := range u.messages {
			if cur != nil && (string(cur.defaults) != string(u.defaults) || len(cur.messages) >= im.cfg.BatchSize || cur.size+len(m.raw) > im.cfg.BatchBytes) {
				// A batch cut inside a line's messages covers only the
				// lines before it.
				last := m.line
				if i > 0 {
					last--
				} else {
					last = cur.messages[len(cur.messages)-1].line
				}
				if err := flush(last); err != nil {
					return err
				}
			}
			if cur == nil {
				cur = &batch{input: input, defaults: u.defaults}
			}
			cur.messages = append(cur.messages, m)
			cur.size += len(m.raw) + 1
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if cur != nil {
		return flush(sc.line)
	}
	im.mu.Lock()
	w.skipped(sc.line)
	im.mu.Unlock()
	return nil
}

func (im *Importer) problem(format string, args ...any) {
	im.problems.Lock()
	defer im.problems.Unlock()
	fmt.Fprintf(im.cfg.Problems, format+"\n", args...)
}
