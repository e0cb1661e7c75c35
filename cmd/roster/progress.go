package main

import (
	"fmt"
	"io"
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
