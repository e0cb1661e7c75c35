package pebble

import (
	"context"
	"fmt"
)

// partOf names the part of the data each key prefix belongs to, for
// Sizes.
var partOf = map[byte]string{
	prefixEvent: "log", prefixWorkspaceEv: "log", prefixDedup: "log",
	prefixQuarantine: "quarantine",
	prefixProfile:    "profiles", prefixIdentity: "profiles", prefixMember: "profiles",
	prefixProfileEv: "profiles", prefixHistory: "profiles", prefixGroupOrder: "profiles", prefixCursor: "profiles",
	prefixOutbox: "outbox",
	prefixMeta:   "other", prefixCredential: "other",
}

// Sizes implements store.Sizer. The parts are Pebble's estimates of the
// tables holding each key range (what is still in memory is not in them);
// total is everything in the data directory, the WAL included.
func (s *Store) Sizes(ctx context.Context) (map[string]int64, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := map[string]int64{}
	for prefix, part := range partOf {
		n, err := s.db.EstimateDiskUsage([]byte{prefix}, []byte{prefix + 1})
		if err != nil {
			return nil, fmt.Errorf("pebble: size of %s: %w", part, err)
		}
		out[part] += int64(n)
	}
	out["total"] = int64(s.db.Metrics().DiskSpaceUsage())
	return out, nil
}
