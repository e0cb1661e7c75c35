package console

import (
	"net/http"
)

type signInData struct {
	Error string
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.sessions.get(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	h.render(w, r, nil, http.StatusOK, "signin", "Sign in", signInData{})
}

// signIn takes an access token from the form's token field (a POST body,
// so the token is never in a URL or a log) and starts a session of its
// workspace.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !sameOrigin(r) {
		http.Error(w, "sign-in form posted from another site", http.StatusForbidden)
		return
	}
	tok, ok := h.opts.Credentials.Token(r.PostFormValue("token"))
	if !ok {
		h.render(w, r, nil, http.StatusUnauthorized, "signin", "Sign in",
			signInData{Error: "That is not an access token of any workspace."})
		return
	}
	ses := h.sessions.create(tok.Workspace, tok.Name)
	setSessionCookie(w, r, ses.id, int(sessionTTL.Seconds()))
	h.opts.Logger.Info("console: signed in", "workspace", tok.Workspace, "token_name", tok.Name)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, ses *session) {
	h.sessions.remove(ses.id)
	setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}
