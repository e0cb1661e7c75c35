package pebble

import "context"

// Head implements store.Log. Positions are assigned and made visible under
// the appender's lock, so the last one assigned is readable.
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.appender.mu.Lock()
	defer s.appender.mu.Unlock()
	return s.appender.seq, nil
}
