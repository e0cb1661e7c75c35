package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// rebuildProgress returns a progress callback for roster rebuild that
// prints a line every two seconds: how far, how fast and how long to go.
func rebuildProgress(w io.Writer, start time.Time) func(applied, total int) {
	last := start
	return func(applied, total int) {
		now := time.Now()
		if now.Sub(last) < 2*time.Second {
			return
		}
		last = now
		rate := float64(applied) / now.Sub(start).Seconds()
		line := fmt.Sprintf("rebuild: %d of %d events (%.0f%%), %.0f events/s", applied, total, 100*float64(applied)/float64(max(total, 1)), rate)
		if rate > 0 && total > applied {
			line += fmt.Sprintf(", about %s to go", (time.Duration(float64(total-applied)/rate) * time.Second).Round(time.Second))
		}
		fmt.Fprintln(w, line)
	}
}

// isTerminal reports whether w is a terminal, where a progress bar is
// redrawn in place; elsewhere (a log, a pipe) progress is a line now and
// then.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// transferProgress draws the progress of roster import: on a terminal a
// bar redrawn in place, otherwise a line every interval. done and total
// measure the work (bytes of input), count the events so far.
type transferProgress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	last     time.Time
	interval time.Duration
	drawn    bool
}

func newTransferProgress(w io.Writer, tty bool, start time.Time) *transferProgress {
	interval := 5 * time.Second
	if tty {
		interval = 200 * time.Millisecond
	}
	return &transferProgress{w: w, tty: tty, start: start, last: start, interval: interval}
}

// update draws when it is time; final draws in any case and ends the bar.
func (p *transferProgress) update(now time.Time, events, done, total int64, final bool) {
	if !final && now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(events) / elapsed
	}
	eta := ""
	if total > 0 && done > 0 && done < total && elapsed > 0 {
		left := time.Duration(float64(total-done) / (float64(done) / elapsed) * float64(time.Second))
		eta = ", ETA " + left.Round(time.Second).String()
	}
	pct := ""
	if total > 0 {
		pct = fmt.Sprintf(" %3.0f%%", 100*float64(min(done, total))/float64(total))
	}
	if !p.tty {
		fmt.Fprintf(p.w, "import:%s %d events, %.0f events/s%s\n", pct, events, rate, eta)
		return
	}
	bar := ""
	if total > 0 {
		const width = 30
		n := int(width * min(done, total) / total)
		bar = "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
	}
	fmt.Fprintf(p.w, "\r%s%s %d events, %.0f events/s%s\x1b[K", bar, pct, events, rate, eta)
	p.drawn = true
	if final {
		fmt.Fprintln(p.w)
	}
}
