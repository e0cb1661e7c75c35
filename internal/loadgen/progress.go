package loadgen

import (
	"fmt"
	"time"
)

// progress prints a line every ProgressEvery until the returned func is
// called.
func (r *runner) progress(start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(r.cfg.ProgressEvery)
		defer tick.Stop()
		prev, prevAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				acked := r.acked.Load()
				r.mu.Lock()
				var errs int64
				for _, n := range r.errs {
					errs += n
				}
				r.mu.Unlock()
				fmt.Fprintf(r.cfg.Progress, "%s %5.1fs %10s events/s  acked %s  errors %s  p99 %s\n",
					r.cfg.Label, now.Sub(start).Seconds(), thousands(int64(float64(acked-prev)/now.Sub(prevAt).Seconds())),
					thousands(acked), thousands(errs), fmtMS(r.hist.summary().P99))
				prev, prevAt = acked, now
			}
		}
	}()
	return func() { close(done); <-finished }
}
