package pebble

import (
	"encoding/binary"
	"errors"
)

// One Pebble database holds everything; the first byte of a key says what
// the key is. Strings inside keys are escaped (appendString) so that keys
// with several strings sort by the first string, then the next, as a
// tuple would, whatever bytes the strings hold. Numbers are big-endian, so
// that they sort as numbers.
const (
	prefixMeta        = 'a' // a + name → format version and other settings
	prefixEvent       = 'e' // e + seq → event
	prefixWorkspaceEv = 'w' // w + workspace + seq → nil: a workspace's events, for RecentEvents
	prefixDedup       = 'd' // d + Unix seconds it was seen + dedup key → nil
	prefixQuarantine  = 'q' // q + workspace + id → quarantined message
	prefixReplayed    = 'r' // r + workspace + id → when quarantined message id was replayed
	prefixCredential  = 'k' // k + kind + write key or token hash → source or access token
	prefixOutbox      = 'o' // o + kind + destination + … → destinations' cursors, retries and dead letters (outbox.go)
	prefixCursor      = 'c' // c + name → a processor's position in the log
	prefixProfile     = 'p' // p + workspace + kind + id → profile.Record
	prefixIdentity    = 'i' // i + workspace + id type + id → user key
	prefixMember      = 'm' // m + workspace + group id + user key → first and last seen
	prefixProfileEv   = 'v' // v + workspace + collection + profile key + time + seq → nil (profile_events.go)
	prefixHistory     = 'h' // h + workspace + group id + seq + trait key → trait change
	prefixGroupOrder  = 's' // s + workspace + order + value (none for id) + group id → nil: ListGroups' orders
)

// appendString appends s so that the key sorts by s and then by what
// follows: 0x00 in s is written 0x00 0xff, and s ends with 0x00 0x01.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b = append(b, s[i])
		if s[i] == 0 {
			b = append(b, 0xff)
		}
	}
	return append(b, 0, 1)
}

// errKey is returned for a key that appendString did not write.
var errKey = errors.New("pebble: malformed key")

// readString reads a string appendString wrote at the start of b and
// returns it and the rest of b.
func readString(b []byte) (string, []byte, error) {
	var s []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, errKey
		}
		switch b[i+1] {
		case 1:
			if s == nil {
				return string(b[:i]), b[i+2:], nil
			}
			return string(append(s, b[:i]...)), b[i+2:], nil
		case 0xff:
			s = append(s, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, errKey
		}
	}
	return "", nil, errKey
}

// appendUint64 appends n big-endian, so that keys sort by it.
func appendUint64(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

// appendInt64 appends n so that negative numbers sort before positive ones.
func appendInt64(b []byte, n int64) []byte { return appendUint64(b, uint64(n)^(1<<63)) }

func readInt64(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errKey
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), b[8:], nil
}

// prefixEnd returns the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}
