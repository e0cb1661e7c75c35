package store

import "crypto/sha256"

// DedupKey identifies a message for dedup in every backend: the first 16
// bytes of a SHA-256 over workspace, source and messageId. At 128 bits a
// collision (which would drop a message) is as unlikely as a UUID clash,
// and SHA-256 keeps anyone from crafting one; against the text columns a
// key is small and compares as bytes whatever the collation.
type DedupKey [16]byte

// KeyOf returns the dedup key of e.
func KeyOf(e *Event) DedupKey {
	h := sha256.New()
	h.Write([]byte(e.Workspace))
	h.Write([]byte{0})
	h.Write([]byte(e.Source))
	h.Write([]byte{0})
	h.Write([]byte(e.MessageID))
	var sum [sha256.Size]byte
	var k DedupKey
	copy(k[:], h.Sum(sum[:0]))
	return k
}
