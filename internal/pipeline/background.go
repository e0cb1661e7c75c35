package pipeline

// backgroundThread runs functions, one at a time, on a goroutine of its own
// whose thread has the lowest CPU priority (lowerPriority): a processor
// hands it the work it may do late and does the rest itself, on ordinary
// goroutines. Taking the priority back up needs no privilege this way,
// where raising a thread's niceness again would.
type backgroundThread struct {
	work chan func()
	done chan struct{}
}

// startBackgroundThread starts the thread, or says why it could not lower
// its priority.
func startBackgroundThread() (*backgroundThread, error) {
	t := &backgroundThread{work: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(t.done)
		err := lowerPriority()
		started <- err
		if err != nil {
			return
		}
		for f := range t.work {
			f()
			t.done <- struct{}{}
		}
	}()
	if err := <-started; err != nil {
		<-t.done
		return nil, err
	}
	return t, nil
}

// run runs f on the thread and returns when it has.
func (t *backgroundThread) run(f func()) {
	t.work <- f
	<-t.done
}

// stop ends the thread; its goroutine exits, and with it the thread, which
// lowerPriority locked to it.
func (t *backgroundThread) stop() {
	close(t.work)
	<-t.done
}
