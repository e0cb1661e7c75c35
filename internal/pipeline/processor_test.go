package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/pipeline"
	"roster/internal/spec"
	"roster/internal/store"
)

// fakeLog is an in-memory log of events ordered by Seq.
type fakeLog struct {
	mu     sync.Mutex
	events []store.Event
	reads  []readCall
	err    error // returned by Read when set
}

type readCall struct {
	after int64
	limit int
}

func (l *fakeLog) Read(_ context.Context, after int64, limit int) ([]store.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, readCall{after, limit})
	if l.err != nil {
		return nil, l.err
	}
	var out []store.Event
	for _, e := range l.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *fakeLog) append(es ...store.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, es...)
}

func (l *fakeLog) readCalls() []readCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reads)
}

// fakeProfiles is an in-memory ProfileStore. ApplyProfiles is all or
// nothing, like the real one: when it fails, neither the updates nor the
// cursor are kept.
type fakeProfiles struct {
	mu        sync.Mutex
	cursor    int64
	applied   []store.ProfileUpdate // every update committed, in order
	commits   []int64               // upTo of every successful commit
	attempts  []int64               // upTo of every call, failed or not
	failNext  int                   // how many calls fail before one succeeds
	failErr   error
	cursorErr error
	names     []string // names Cursor was asked for
	// committed, when set, runs after each successful apply, under the
	// lock: it stands for another node or a later failure.
	committed func(s *fakeProfiles)
}

var errApply = errors.New("fake: apply failed")

func (s *fakeProfiles) Cursor(_ context.Context, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, name)
	if s.cursorErr != nil {
		return 0, s.cursorErr
	}
	return s.cursor, nil
}

func (s *fakeProfiles) ApplyProfiles(_ context.Context, updates []store.ProfileUpdate, upTo int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, upTo)
	if s.failNext > 0 {
		s.failNext--
		if s.failErr != nil {
			return s.failErr
		}
		return errApply
	}
	s.applied = append(s.applied, updates...)
	s.commits = append(s.commits, upTo)
	s.cursor = upTo
	if s.committed != nil {
		s.committed(s)
	}
	return nil
}

type profilesState struct {
	cursor   int64
	applied  []store.ProfileUpdate
	commits  []int64
	attempts []int64
	names    []string
}

func (s *fakeProfiles) state() profilesState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return profilesState{
		cursor:   s.cursor,
		applied:  slices.Clone(s.applied),
		commits:  slices.Clone(s.commits),
		attempts: slices.Clone(s.attempts),
		names:    slices.Clone(s.names),
	}
}

// syncBuffer is a bytes.Buffer safe for the logger of a running processor.
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

func newLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// groupEvent is a logged group call of user u<seq> to group g<seq>.
func groupEvent(seq int64) store.Event {
	return store.Event{
		Seq:       seq,
		Workspace: "ws",
		Source:    "web",
		MessageID: fmt.Sprintf("m%d", seq),
		Type:      spec.Group,
		Timestamp: time.Date(2024, 1, 1, 0, 0, int(seq), 0, time.UTC),
		UserID:    fmt.Sprintf("u%d", seq),
		GroupID:   fmt.Sprintf("g%d", seq),
		Body:      fmt.Appendf(nil, `{"type":"group","userId":"u%d","groupId":"g%d","traits":{"plan":"p%d"}}`, seq, seq, seq),
	}
}

func groupEvents(seqs ...int64) []store.Event {
	out := make([]store.Event, len(seqs))
	for i, s := range seqs {
		out[i] = groupEvent(s)
	}
	return out
}

func seqsOf(us []store.ProfileUpdate) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.Seq
	}
	return out
}

// checkUpdates checks that each update was derived from its event.
func checkUpdates(t *testing.T, us []store.ProfileUpdate) {
	t.Helper()
	for _, u := range us {
		wantUser, wantGroup := fmt.Sprintf("u%d", u.Seq), fmt.Sprintf("g%d", u.Seq)
		if u.UserID != wantUser || u.GroupID != wantGroup || u.MessageID != fmt.Sprintf("m%d", u.Seq) || u.Type != spec.Group {
			t.Errorf("update %d = %+v, not derived from its event", u.Seq, u)
		}
		if len(u.Traits) != 1 || u.Traits[0].Key != "plan" || string(u.Traits[0].Value) != fmt.Sprintf(`"p%d"`, u.Seq) {
			t.Errorf("update %d traits = %+v", u.Seq, u.Traits)
		}
	}
}

func TestStepReadsFromCursorAndAppliesBatch(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 4, 7, 9, 12)}
	profiles := &fakeProfiles{cursor: 2}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 3

	n, err := p.Step(t.Context())
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if n != 3 {
		t.Errorf("Step read %d events, want 3", n)
	}
	if got, want := log.readCalls(), []readCall{{after: 2, limit: 3}}; !slices.Equal(got, want) {
		t.Errorf("log reads = %v, want %v", got, want)
	}
	st := profiles.state()
	if !slices.Equal(st.names, []string{store.ProfileCursor}) {
		t.Errorf("cursor names asked = %q, want [%q]", st.names, store.ProfileCursor)
	}
	if !slices.Equal(st.commits, []int64{9}) {
		t.Errorf("commits (upTo) = %v, want [9]: the last seq of the batch", st.commits)
	}
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{4, 7, 9}) {
		t.Errorf("applied seqs = %v, want [4 7 9]", got)
	}
	checkUpdates(t, st.applied)
	if st.cursor != 9 {
		t.Errorf("cursor = %d, want 9", st.cursor)
	}

	// The next step starts where the first left off.
	n, err = p.Step(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("second Step = %d, %v; want 1, nil", n, err)
	}
	if got := log.readCalls(); len(got) != 2 || got[1].after != 9 {
		t.Errorf("second read = %v, want after 9", got)
	}
	st = profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{4, 7, 9, 12}) {
		t.Errorf("applied seqs = %v, want [4 7 9 12]", got)
	}
	if st.cursor != 12 {
		t.Errorf("cursor = %d, want 12", st.cursor)
	}
}

func TestStepNothingToRead(t *testing.T) {
	cases := []struct {
		name   string
		events []store.Event
		cursor int64
	}{
		{"empty log", nil, 0},
		{"caught up", groupEvents(1, 2, 3), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &fakeLog{events: tc.events}
			profiles := &fakeProfiles{cursor: tc.cursor}
			logger, _ := newLogger()
			p := pipeline.NewProcessor(log, profiles, logger)

			n, err := p.Step(t.Context())
			if err != nil || n != 0 {
				t.Fatalf("Step = %d, %v; want 0, nil", n, err)
			}
			st := profiles.state()
			if len(st.attempts) != 0 {
				t.Errorf("ApplyProfiles called with upTo %v; want no call", st.attempts)
			}
			if st.cursor != tc.cursor {
				t.Errorf("cursor moved to %d, want %d", st.cursor, tc.cursor)
			}
			if got := log.readCalls(); len(got) != 1 || got[0].after != tc.cursor {
				t.Errorf("log reads = %v, want one after %d", got, tc.cursor)
			}
		})
	}
}

func TestStepSkipsUnreadableEvent(t *testing.T) {
	bad := store.Event{Seq: 2, Workspace: "ws", Type: spec.Group, MessageID: "m-bad", Body: []byte(`not json`)}
	log := &fakeLog{events: []store.Event{groupEvent(1), bad, groupEvent(3)}}
	profiles := &fakeProfiles{}
	logger, logs := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)

	n, err := p.Step(t.Context())
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if n != 3 {
		t.Errorf("Step read %d events, want 3 (the unreadable one counts as read)", n)
	}
	st := profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("applied seqs = %v, want [1 3]", got)
	}
	checkUpdates(t, st.applied)
	if st.cursor != 3 {
		t.Errorf("cursor = %d, want 3: past the unreadable event", st.cursor)
	}
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "seq=2") {
		t.Errorf("unreadable event not logged as an error with its seq; log:\n%s", out)
	}
	if strings.Contains(out, "seq=1 ") || strings.Contains(out, "seq=3 ") {
		t.Errorf("readable events logged as errors; log:\n%s", out)
	}
}

func TestStepAllUnreadableStillMovesCursor(t *testing.T) {
	log := &fakeLog{events: []store.Event{
		{Seq: 5, Type: spec.Identify, Body: []byte(`{`)},
		{Seq: 6, Type: spec.Group, Body: []byte(``)},
	}}
	profiles := &fakeProfiles{cursor: 4}
	logger, logs := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)

	n, err := p.Step(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("Step = %d, %v; want 2, nil", n, err)
	}
	st := profiles.state()
	if !slices.Equal(st.commits, []int64{6}) || st.cursor != 6 {
		t.Errorf("commits = %v, cursor = %d; want one commit to 6", st.commits, st.cursor)
	}
	if len(st.applied) != 0 {
		t.Errorf("applied %v, want nothing", seqsOf(st.applied))
	}
	if out := logs.String(); !strings.Contains(out, "seq=5") || !strings.Contains(out, "seq=6") {
		t.Errorf("unreadable events not logged; log:\n%s", out)
	}
	// Nothing is left to read afterwards.
	if n, err := p.Step(t.Context()); n != 0 || err != nil {
		t.Errorf("next Step = %d, %v; want 0, nil", n, err)
	}
}

func TestStepApplyFailureKeepsCursor(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 3)}
	profiles := &fakeProfiles{cursor: 1, failNext: 1}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)

	_, err := p.Step(t.Context())
	if !errors.Is(err, errApply) {
		t.Fatalf("Step error = %v, want %v", err, errApply)
	}
	st := profiles.state()
	if st.cursor != 1 || len(st.applied) != 0 {
		t.Errorf("after a failed apply: cursor = %d, applied %v; want 1 and nothing", st.cursor, seqsOf(st.applied))
	}
	if !slices.Equal(st.attempts, []int64{3}) {
		t.Errorf("attempts = %v, want [3]", st.attempts)
	}

	// The next step reads the same events again and applies them.
	n, err := p.Step(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("retry Step = %d, %v; want 2, nil", n, err)
	}
	if got := log.readCalls(); len(got) != 2 || got[0].after != 1 || got[1].after != 1 {
		t.Errorf("log reads = %v, want both after 1", got)
	}
	st = profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{2, 3}) || st.cursor != 3 {
		t.Errorf("applied %v, cursor %d; want [2 3], 3", got, st.cursor)
	}
}

func TestStepReadErrors(t *testing.T) {
	t.Run("cursor", func(t *testing.T) {
		errCursor := errors.New("fake: cursor failed")
		log := &fakeLog{events: groupEvents(1)}
		profiles := &fakeProfiles{cursorErr: errCursor}
		logger, _ := newLogger()
		p := pipeline.NewProcessor(log, profiles, logger)
		n, err := p.Step(t.Context())
		if !errors.Is(err, errCursor) || n != 0 {
			t.Errorf("Step = %d, %v; want 0, %v", n, err, errCursor)
		}
		if len(log.readCalls()) != 0 || len(profiles.state().attempts) != 0 {
			t.Errorf("read the log or applied without a cursor")
		}
	})
	t.Run("log", func(t *testing.T) {
		errRead := errors.New("fake: read failed")
		log := &fakeLog{events: groupEvents(1), err: errRead}
		profiles := &fakeProfiles{}
		logger, _ := newLogger()
		p := pipeline.NewProcessor(log, profiles, logger)
		n, err := p.Step(t.Context())
		if !errors.Is(err, errRead) || n != 0 {
			t.Errorf("Step = %d, %v; want 0, %v", n, err, errRead)
		}
		if st := profiles.state(); len(st.attempts) != 0 || st.cursor != 0 {
			t.Errorf("applied after a failed read: attempts %v, cursor %d", st.attempts, st.cursor)
		}
	})
}

// runProcessor starts p.Run and returns a function that cancels it and
// waits for it to return, failing the test if it does not within a second.
func runProcessor(t *testing.T, ctx context.Context, p *pipeline.Processor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() {
		t.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Run did not return within 1s of its context being cancelled")
		}
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestRunRetriesUntilApplySucceeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	const failures = 4
	log := &fakeLog{events: groupEvents(1, 2, 3)}
	profiles := &fakeProfiles{failNext: failures}
	logger, logs := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Idle = time.Millisecond

	stop := runProcessor(t, ctx, p)
	waitFor(t, ctx, "the cursor to reach 3", func() bool { return profiles.state().cursor == 3 })
	stop()

	st := profiles.state()
	if len(st.attempts) != failures+1 {
		t.Errorf("ApplyProfiles called %d times (upTo %v), want %d failures and one success", len(st.attempts), st.attempts, failures)
	}
	for i, upTo := range st.attempts {
		if upTo != 3 {
			t.Errorf("attempt %d upTo = %d, want 3 (the same batch every time)", i, upTo)
		}
	}
	if !slices.Equal(st.commits, []int64{3}) {
		t.Errorf("commits = %v, want [3]", st.commits)
	}
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("applied seqs = %v, want [1 2 3], once each", got)
	}
	// Every retry read from the unmoved cursor.
	reads := log.readCalls()
	for i, r := range reads[:failures+1] {
		if r.after != 0 {
			t.Errorf("read %d after %d, want 0 (the cursor did not move while failing)", i, r.after)
		}
	}
	if n := strings.Count(logs.String(), "retrying"); n != failures {
		t.Errorf("logged %d retries, want %d; log:\n%s", n, failures, logs.String())
	}
}

func TestRunAppliesNewEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	log := &fakeLog{events: groupEvents(1, 2)}
	profiles := &fakeProfiles{}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Idle = time.Millisecond
	p.Batch = 2

	stop := runProcessor(t, ctx, p)
	defer stop()
	waitFor(t, ctx, "the cursor to reach 2", func() bool { return profiles.state().cursor == 2 })
	log.append(groupEvents(3, 4, 5)...)
	waitFor(t, ctx, "the cursor to reach 5", func() bool { return profiles.state().cursor == 5 })

	st := profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("applied seqs = %v, want [1 2 3 4 5], once each", got)
	}
	checkUpdates(t, st.applied)
	if !slices.Equal(st.commits, []int64{2, 4, 5}) {
		t.Errorf("commits = %v, want [2 4 5]", st.commits)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	t.Run("while idle", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		log := &fakeLog{events: groupEvents(1)}
		profiles := &fakeProfiles{}
		logger, _ := newLogger()
		p := pipeline.NewProcessor(log, profiles, logger)
		p.Idle = time.Hour // Run must not sit out the idle wait

		stop := runProcessor(t, ctx, p)
		// One event is less than a batch: after applying it Run waits Idle.
		waitFor(t, ctx, "the first step", func() bool { return profiles.state().cursor == 1 })
		stop()
		if st := profiles.state(); len(st.attempts) != 1 {
			t.Errorf("ApplyProfiles called %d times, want 1", len(st.attempts))
		}
	})
	t.Run("while backing off", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		log := &fakeLog{events: groupEvents(1)}
		profiles := &fakeProfiles{failNext: 1000}
		logger, _ := newLogger()
		p := pipeline.NewProcessor(log, profiles, logger)
		p.Idle = time.Hour

		stop := runProcessor(t, ctx, p)
		waitFor(t, ctx, "a failed apply", func() bool { return len(profiles.state().attempts) >= 1 })
		stop()
		if st := profiles.state(); st.cursor != 0 || len(st.attempts) != 1 {
			t.Errorf("cursor %d after %d attempts; want 0 after 1 (the hour of backoff was not waited)", st.cursor, len(st.attempts))
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		log := &fakeLog{events: groupEvents(1)}
		profiles := &fakeProfiles{}
		logger, _ := newLogger()
		p := pipeline.NewProcessor(log, profiles, logger)
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx)
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Run with a cancelled context did not return within 1s")
		}
		if st := profiles.state(); len(st.attempts) != 0 || st.cursor != 0 {
			t.Errorf("Run with a cancelled context applied: attempts %v, cursor %d", st.attempts, st.cursor)
		}
	})
}

func TestCatchUpInBatches(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 3, 5, 8)}
	profiles := &fakeProfiles{}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 2
	var progress []int
	p.Progress = func(read int) { progress = append(progress, read) }

	total, err := p.CatchUp(t.Context())
	if err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if total != 5 {
		t.Errorf("CatchUp read %d events, want 5", total)
	}
	if !slices.Equal(progress, []int{2, 4, 5}) {
		t.Errorf("progress = %v, want [2 4 5]: the events read after each batch", progress)
	}
	st := profiles.state()
	if !slices.Equal(st.commits, []int64{2, 5, 8}) {
		t.Errorf("commits = %v, want [2 5 8]: one per batch of 2", st.commits)
	}
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 3, 5, 8}) {
		t.Errorf("applied seqs = %v, want [1 2 3 5 8]", got)
	}
	checkUpdates(t, st.applied)
	if st.cursor != 8 {
		t.Errorf("cursor = %d, want 8", st.cursor)
	}
	for _, r := range log.readCalls() {
		if r.limit != 2 {
			t.Errorf("read with limit %d, want the batch size 2", r.limit)
		}
	}

	// Caught up: nothing more.
	total, err = p.CatchUp(t.Context())
	if err != nil || total != 0 {
		t.Errorf("second CatchUp = %d, %v; want 0, nil", total, err)
	}
	if got := profiles.state().commits; len(got) != 3 {
		t.Errorf("second CatchUp committed: %v", got)
	}
}

func TestCatchUpStopsOnError(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 3, 4, 5)}
	profiles := &fakeProfiles{}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 2

	// The first batch commits; then every apply fails.
	if n, err := p.Step(t.Context()); err != nil || n != 2 {
		t.Fatalf("Step = %d, %v", n, err)
	}
	profiles.mu.Lock()
	profiles.failNext = 1000
	profiles.mu.Unlock()

	_, err := p.CatchUp(t.Context())
	if !errors.Is(err, errApply) {
		t.Fatalf("CatchUp error = %v, want %v", err, errApply)
	}
	st := profiles.state()
	if st.cursor != 2 || len(st.attempts) != 2 {
		t.Errorf("cursor %d after attempts %v; want 2 after one more attempt", st.cursor, st.attempts)
	}
}

func TestCatchUpReadsEachBatchOnce(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 3, 4, 5, 6, 7)}
	profiles := &fakeProfiles{}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 2

	if _, err := p.CatchUp(t.Context()); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	// While a full batch applies, the next one is read: every read starts
	// where the previous batch ended, and none is repeated.
	var afters []int64
	for _, r := range log.readCalls() {
		afters = append(afters, r.after)
	}
	if want := []int64{0, 2, 4, 6, 7}; !slices.Equal(afters, want) {
		t.Errorf("reads after %v, want %v", afters, want)
	}
	st := profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("applied seqs = %v, want 1 to 7 once each", got)
	}
	if !slices.Equal(st.commits, []int64{2, 4, 6, 7}) {
		t.Errorf("commits = %v, want [2 4 6 7]", st.commits)
	}
}

func TestReadAheadDroppedWhenCursorMoved(t *testing.T) {
	log := &fakeLog{events: groupEvents(1, 2, 3, 4, 5, 6)}
	profiles := &fakeProfiles{}
	// After the first batch, another node applies 3 and 4.
	profiles.committed = func(s *fakeProfiles) {
		if s.cursor == 2 {
			s.cursor = 4
		}
	}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 2

	if _, err := p.CatchUp(t.Context()); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	st := profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 5, 6}) {
		t.Errorf("applied seqs = %v, want [1 2 5 6]: the batch read ahead (3, 4) was applied elsewhere meanwhile", got)
	}
	if !slices.Equal(st.commits, []int64{2, 6}) {
		t.Errorf("commits = %v, want [2 6]", st.commits)
	}
}

func TestReadAheadDroppedAfterFailedApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	log := &fakeLog{events: groupEvents(1, 2, 3, 4, 5, 6)}
	profiles := &fakeProfiles{}
	// The apply after the first one fails once.
	profiles.committed = func(s *fakeProfiles) {
		if s.cursor == 2 {
			s.failNext = 1
		}
	}
	logger, _ := newLogger()
	p := pipeline.NewProcessor(log, profiles, logger)
	p.Batch = 2
	p.Idle = time.Millisecond

	stop := runProcessor(t, ctx, p)
	waitFor(t, ctx, "the cursor to reach 6", func() bool { return profiles.state().cursor == 6 })
	stop()
	st := profiles.state()
	if got := seqsOf(st.applied); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("applied seqs = %v, want 1 to 6 once each", got)
	}
	if !slices.Equal(st.attempts, []int64{2, 4, 4, 6}) {
		t.Errorf("attempts = %v, want [2 4 4 6]: the failed batch is retried before the one read ahead of it", st.attempts)
	}
}
