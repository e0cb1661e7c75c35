package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// state is what --resume continues from: per input, the lines up to which
// every message was acknowledged. Lines after it may have been stored too
// (batches finish out of order, and a kill loses the last save); sending
// them again is safe, since dedup stores them once.
type state struct {
	Done map[string]int64 `json:"done"`
}

func loadState(path string) (state, error) {
	st := state{Done: map[string]int64{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read the resume state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("resume state %s: %w", path, err)
	}
	if st.Done == nil {
		st.Done = map[string]int64{}
	}
	return st, nil
}

// save writes the state to a new file and renames it over the old one, so
// that a kill leaves one or the other whole.
func (st state) save(path string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".roster-import-*")
	if err != nil {
		return fmt.Errorf("save the resume state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("save the resume state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save the resume state: %w", err)
	}
	return nil
}

// watermark tracks, for one input, which batches are acknowledged, and
// the line before which every one is.
type watermark struct {
	next  int64 // id of the next batch
	acked map[int64]bool
	low   int64 // the lowest batch id not yet acknowledged
	done  int64 // every line up to here is acknowledged
	last  map[int64]int64
}

func newWatermark(done int64) *watermark {
	return &watermark{acked: map[int64]bool{}, last: map[int64]int64{}, done: done}
}

// add registers a batch ending at line and returns its id.
func (w *watermark) add(lastLine int64) int64 {
	id := w.next
	w.next++
	w.last[id] = lastLine
	return id
}

// ack marks a batch acknowledged and moves done past every batch in
// order that is.
func (w *watermark) ack(id int64) {
	w.acked[id] = true
	for w.acked[w.low] {
		w.done = max(w.done, w.last[w.low])
		delete(w.acked, w.low)
		delete(w.last, w.low)
		w.low++
	}
}

// skipped records lines read that send nothing (blank, unparsable, or
// every message of a batch): done may move past them once everything
// before them is acknowledged.
func (w *watermark) skipped(line int64) { w.ack(w.add(line)) }
