package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Sessions are kept in this process's memory: signing out forgets one at
// once, and a restart signs everyone out. Behind a load balancer over
// several nodes, the console needs sticky sessions.

const (
	cookieName = "roster_console"
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the memory sign-ins can take.
	maxSessions = 10000
)

type session struct {
	id        string
	workspace string
	// tokenName is the access token's name from the config, never the
	// token.
	tokenName string
	// csrf is the value every POST of this session must carry.
	csrf    string
	expires time.Time
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(workspace, tokenName string) *session {
	now := s.now()
	ses := &session{id: randomString(), workspace: workspace, tokenName: tokenName, csrf: randomString(), expires: now.Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		for id, old := range s.m {
			if !now.Before(old.expires) {
				delete(s.m, id)
			}
		}
		if len(s.m) >= maxSessions {
			// Full of live sessions: the oldest sign-in gives way.
			var oldest *session
			for _, o := range s.m {
				if oldest == nil || o.expires.Before(oldest.expires) {
					oldest = o
				}
			}
			delete(s.m, oldest.id)
		}
	}
	s.m[ses.id] = ses
	return ses
}

func (s *sessions) get(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, ok := s.m[c.Value]
	if !ok {
		return nil, false
	}
	if !s.now().Before(ses.expires) {
		delete(s.m, c.Value)
		return nil, false
	}
	return ses, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     "/console",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// validPost checks a POST against cross-site request forgery: the form's
// csrf field (or the X-CSRF-Token header) must be the session's, and a
// browser's Origin, when sent, must be this host.
func validPost(r *http.Request, ses *session) bool {
	if !sameOrigin(r) {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ses.csrf)) == 1
}

// sameOrigin refuses a request a browser sent from another site's page:
// by Sec-Fetch-Site when the browser sends it, else by Origin.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "":
	default: // cross-site, same-site (another port or subdomain), none
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}
