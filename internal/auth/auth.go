// Package auth maps write keys to sources and access tokens to workspaces.
// Write keys are not secrets (browsers carry them) and only allow writing;
// access tokens allow reading and are known only by their hash.
package auth

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	"roster/internal/store"
)

// Registry answers who a credential belongs to. It is built at start and
// read-only afterwards, so it needs no lock.
type Registry struct {
	sources map[string]store.Source
	tokens  map[[sha256.Size]byte]store.AccessToken
}

// NewRegistry builds a registry from sources and hashed tokens.
func NewRegistry(sources []store.Source, tokens []store.AccessToken) *Registry {
	r := &Registry{
		sources: make(map[string]store.Source, len(sources)),
		tokens:  make(map[[sha256.Size]byte]store.AccessToken, len(tokens)),
	}
	for _, s := range sources {
		r.sources[s.WriteKey] = s
	}
	for _, t := range tokens {
		var h [sha256.Size]byte
		copy(h[:], t.Hash)
		r.tokens[h] = t
	}
	return r
}

// Source returns the source a write key belongs to.
func (r *Registry) Source(writeKey string) (store.Source, bool) {
	s, ok := r.sources[writeKey]
	return s, ok
}

// SourcesOf returns the sources of a workspace, ordered by name.
func (r *Registry) SourcesOf(workspace string) []store.Source {
	var out []store.Source
	for _, s := range r.sources {
		if s.Workspace == workspace {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.Source) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.WriteKey, b.WriteKey))
	})
	return out
}

// Token returns the access token a presented token matches.
func (r *Registry) Token(token string) (store.AccessToken, bool) {
	t, ok := r.tokens[sha256.Sum256([]byte(token))]
	return t, ok
}

// HashToken is how an access token is kept.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewSecret returns prefix followed by 32 random base64url characters.
func NewSecret(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Credential returns what the request authenticates with: the username of
// Basic auth (Segment's libraries send "writeKey:" with an empty password,
// some clients omit the colon) or a Bearer token.
func Credential(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(rest); err != nil {
				return "", false
			}
		}
		user, _, _ := strings.Cut(string(raw), ":")
		return user, user != ""
	case "bearer":
		return rest, rest != ""
	}
	return "", false
}
