package pipeline

import (
	"testing"
	"time"
)

func TestWaitAfterStep(t *testing.T) {
	p := &Processor{Batch: 100, Idle: 50 * time.Millisecond}
	for _, tc := range []struct {
		name string
		n    int
		took time.Duration
		want time.Duration
	}{
		{"nothing new: a whole Idle", 0, time.Millisecond, 49 * time.Millisecond},
		{"a partial batch: Idle after the step began", 40, 30 * time.Millisecond, 20 * time.Millisecond},
		{"a partial batch that took longer than Idle: at once", 99, 80 * time.Millisecond, 0},
		{"a full batch: behind, at once", 100, time.Millisecond, 0},
	} {
		if got := p.wait(tc.n, tc.took); got != tc.want {
			t.Errorf("%s: wait(%d, %v) = %v, want %v", tc.name, tc.n, tc.took, got, tc.want)
		}
	}
}
