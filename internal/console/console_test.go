package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignInSessionAndSignOut(t *testing.T) {
	e := start(t, "")
	if r := e.get("/console/accounts"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/signin" {
		t.Fatalf("a page without a session = %d %q, want a redirect to the sign-in form", r.status, r.header.Get("Location"))
	}
	page := e.get("/console/signin")
	if !strings.Contains(page.body, `name="token"`) || !strings.Contains(page.body, `method="post"`) {
		t.Fatalf("the sign-in form has no token input posted by POST:\n%s", page.body)
	}
	if r := e.post("/console/signin", url.Values{"token": {"tok_wrong"}}); r.status != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("a wrong token = %d, cookie %q; want 401 and no session", r.status, r.header.Get("Set-Cookie"))
	}
	if r := e.post("/console/signin", url.Values{"token": {writeKey}}); r.status != http.StatusUnauthorized {
		t.Fatalf("a write key signed in (%d): it is not an access token", r.status)
	}
	r := e.post("/console/signin", url.Values{"token": {token}})
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"roster_console=", "HttpOnly", "SameSite=Strict", "Path=/console"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, token) || strings.Contains(r.header.Get("Location"), token) {
		t.Errorf("the token is in the cookie or the redirect: %q %q", cookie, r.header.Get("Location"))
	}
	if got := e.get("/console/accounts"); got.status != http.StatusOK || !strings.Contains(got.body, "workspace <b>default</b>") {
		t.Fatalf("accounts after sign-in = %d", got.status)
	}
	old := e.c.Jar.Cookies(mustURL(e.base + "/console/"))
	if r := e.post("/console/signout", url.Values{"csrf": {e.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out = %d", r.status)
	}
	if r := e.get("/console/accounts"); r.status != http.StatusSeeOther {
		t.Fatalf("a page after sign-out = %d, want the sign-in redirect", r.status)
	}
	// The old cookie, replayed, no longer opens a session.
	other := newClient()
	other.Jar.SetCookies(mustURL(e.base+"/console/"), old)
	res, err := other.Get(e.base + "/console/accounts")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("the signed-out session's cookie still opens pages (%d)", res.StatusCode)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Errorf("the access token is in the logs:\n%s", e.logs.String())
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Every console route and action needs the session.
func TestEveryRouteNeedsTheSession(t *testing.T) {
	e := start(t, "")
	e.send("/v1/group", `{"userId":"u1","groupId":"acme"}`)
	for _, p := range []string{"/console/", "/console/accounts", "/console/accounts/acme", "/console/users/u1",
		"/console/debugger", "/console/playground", "/console/destinations", "/console/quarantine"} {
		if r := e.get(p); r.status != http.StatusSeeOther || strings.Contains(r.body, "acme") && p != "/console/accounts/acme" {
			t.Errorf("GET %s without a session = %d", p, r.status)
		}
	}
	if r := e.get("/console/debugger/stream"); r.status == http.StatusOK {
		t.Errorf("the debugger stream answered without a session")
	}
	for _, p := range []string{"/console/playground", "/console/quarantine/1/replay", "/console/destinations/x/redrive", "/console/signout"} {
		if r := e.post(p, url.Values{"payload": {`{}`}}); r.status != http.StatusUnauthorized {
			t.Errorf("POST %s without a session = %d, want 401", p, r.status)
		}
	}
}

func TestEveryPostNeedsTheCSRFToken(t *testing.T) {
	e := start(t, "")
	e.signIn()
	csrf := e.csrf()
	payload := `{"type":"group","userId":"u1","groupId":"acme","traits":{"plan":"pro"}}`
	for _, p := range []string{"/console/playground", "/console/quarantine/1/replay", "/console/destinations/x/redrive", "/console/signout"} {
		if r := e.post(p, url.Values{"payload": {payload}, "source": {"default"}}); r.status != http.StatusForbidden {
			t.Errorf("POST %s without the csrf field = %d, want 403", p, r.status)
		}
		if r := e.post(p, url.Values{"payload": {payload}, "source": {"default"}, "csrf": {"forged"}}); r.status != http.StatusForbidden {
			t.Errorf("POST %s with a wrong csrf = %d, want 403", p, r.status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/console/playground",
		strings.NewReader(url.Values{"payload": {payload}, "source": {"default"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := e.do(req); r.status != http.StatusForbidden {
		t.Errorf("a POST from another origin with the right csrf = %d, want 403", r.status)
	}
	for _, h := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "null"}} {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/console/playground",
			strings.NewReader(url.Values{"payload": {payload}, "source": {"default"}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h[0], h[1])
		if r := e.do(req); r.status != http.StatusForbidden {
			t.Errorf("a POST with %s: %s and the right csrf = %d, want 403", h[0], h[1], r.status)
		}
	}
	if r := e.post("/console/playground", url.Values{"payload": {payload}, "source": {"default"}, "csrf": {csrf}}); r.status != http.StatusOK {
		t.Errorf("a POST with the csrf field = %d, want 200", r.status)
	}
}

func TestHeadersForbidInlineScript(t *testing.T) {
	e := start(t, "")
	e.signIn()
	for _, p := range []string{"/console/signin", "/console/accounts", "/console/static/console.css"} {
		csp := e.get(p).header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q must allow only this server's scripts", p, csp)
		}
	}
	for _, p := range []string{"/console/", "/console/accounts", "/console/debugger", "/console/playground", "/console/quarantine", "/console/destinations"} {
		body := e.get(p).body
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, "style=") {
			t.Errorf("%s has inline script or style", p)
		}
	}
}

// Every value is hostile input: trait names and values, ids and event names.
func TestHostileValuesAreEscaped(t *testing.T) {
	e := start(t, "")
	e.signIn()
	const img = `<img src=x onerror=alert(1)>`
	group := `<script>alert("g")</script>`
	e.send("/v1/group", fmt.Sprintf(`{"userId":"u\"><b>1","groupId":%q,"traits":{"name":%q,%q:%q,
		"avatar":"javascript:alert(1)","website":"https://acme.example/?a=1&b=2"}}`, group, img, img, img))
	e.send("/v1/track", fmt.Sprintf(`{"userId":"u\"><b>1","event":%q,"context":{"groupId":%q}}`, img, group))
	e.getUntil("/console/accounts", "onerror")
	pages := []string{"/console/accounts", "/console/accounts/" + url.PathEscape(group), "/console/users/" + url.PathEscape(`u"><b>1`)}
	for _, p := range pages {
		r := e.get(p)
		if r.status != http.StatusOK {
			t.Fatalf("%s = %d", p, r.status)
		}
		for _, raw := range []string{"<img", "<script>alert", `"><b>`, "javascript:"} {
			if raw == "javascript:" {
				if strings.Contains(r.body, `href="javascript:`) {
					t.Errorf("%s links a javascript: URL", p)
				}
				continue
			}
			if strings.Contains(r.body, raw) {
				t.Errorf("%s shows %q unescaped", p, raw)
			}
		}
	}
	account := e.get("/console/accounts/" + url.PathEscape(group)).body
	if !strings.Contains(account, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the account page does not show the trait as text")
	}
	if !strings.Contains(account, `href="https://acme.example/?a=1&amp;b=2"`) {
		t.Errorf("an http(s) website is not a link")
	}
	if strings.Count(account, `rel="noopener noreferrer nofollow"`) != 1 {
		t.Errorf("want exactly one trait link (the website; avatar is not http)")
	}
}

func TestAccountsSearchFilterSortAndPages(t *testing.T) {
	e := start(t, "")
	e.signIn()
	var batch []string
	for i := range 30 {
		plan := "free"
		if i%3 == 0 {
			plan = "enterprise"
		}
		batch = append(batch, fmt.Sprintf(`{"type":"group","userId":"u%d","groupId":"g%02d","traits":{"name":"Company %02d","plan":%q},"timestamp":"2024-01-01T00:%02d:00Z"}`, i, i, i, plan, i))
	}
	e.send("/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`)

	e.getUntil("/console/accounts?sort=-name", "Company 29")
	first := e.get("/console/accounts?sort=name")
	if n := strings.Count(first.body, `<a href="/console/accounts/g`); n != 25 {
		t.Fatalf("first page has %d accounts, want 25", n)
	}
	if strings.Index(first.body, "Company 00") > strings.Index(first.body, "Company 01") {
		t.Errorf("sort by name is not ascending")
	}
	if !strings.Contains(first.body, "<td>1</td>") {
		t.Errorf("member counts are missing")
	}
	next := nextLink(t, first.body)
	second := e.get(next)
	if n := strings.Count(second.body, `<a href="/console/accounts/g`); n != 5 {
		t.Errorf("second page has %d accounts, want 5", n)
	}
	desc := e.get("/console/accounts?sort=-last_seen")
	if strings.Index(desc.body, "Company 29") > strings.Index(desc.body, "Company 28") {
		t.Errorf("sort by last seen, newest first, is not")
	}
	filtered := e.get("/console/accounts?trait=" + url.QueryEscape("plan = enterprise"))
	if n := strings.Count(filtered.body, `<a href="/console/accounts/g`); n != 10 {
		t.Errorf("plan = enterprise finds %d accounts, want 10", n)
	}
	search := e.get("/console/accounts?q=company+07")
	if n := strings.Count(search.body, `<a href="/console/accounts/g`); n != 1 || !strings.Contains(search.body, "g07") {
		t.Errorf("searching a name finds %d accounts", n)
	}
	if r := e.get("/console/accounts?trait=plan"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "plan = enterprise") {
		t.Errorf("a trait filter without a value = %d", r.status)
	}
}

var nextHref = strings.NewReplacer("&amp;", "&")

func nextLink(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `class="next" href="`)
	if i < 0 {
		t.Fatal("no next link")
	}
	rest := body[i+len(`class="next" href="`):]
	return nextHref.Replace(rest[:strings.Index(rest, `"`)])
}

func TestAccountPageShowsTraitsMembersHistoryAndCurl(t *testing.T) {
	e := start(t, "")
	e.signIn()
	e.send("/v1/group", `{"userId":"ann","groupId":"acme","traits":{"name":"Acme","plan":"trial","tier":3},"timestamp":"2024-01-01T00:00:00Z"}`)
	e.send("/v1/group", `{"anonymousId":"anon-1","groupId":"acme","traits":{"plan":"enterprise"},"timestamp":"2024-02-01T00:00:00Z"}`)
	body := e.getUntil("/console/accounts/acme", "anon-1").body
	for _, want := range []string{
		`plan <span class="badge" title="reserved by the Segment spec">reserved</span>`,
		`<td class="trait-name">tier</td>`,
		`&#34;enterprise&#34;`, "2024-02-01 00:00:00.000 UTC",
		`<a href="/console/users/ann">ann</a>`,
		`<a href="/console/users/anon-1?type=anonymous_id">anon-1</a>`,
		`<b>plan</b>: <code class="old">&#34;trial&#34;</code> → <code class="new">&#34;enterprise&#34;</code>`,
		`/v1/spaces/default/collections/accounts/profiles/group_id:acme/traits?limit=200`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %s", want)
		}
	}
	user := e.get("/console/users/ann")
	if user.status != http.StatusOK || !strings.Contains(user.body, `<a href="/console/accounts/acme">acme</a>`) {
		t.Errorf("the user page = %d and does not link its account", user.status)
	}
	if r := e.get("/console/accounts/nope"); r.status != http.StatusNotFound {
		t.Errorf("an unknown account = %d, want 404", r.status)
	}
}

func TestAccountMembersArePaged(t *testing.T) {
	e := start(t, "")
	e.signIn()
	var batch []string
	for i := range 120 {
		batch = append(batch, fmt.Sprintf(`{"type":"group","userId":"m%03d","groupId":"big"}`, i))
	}
	if r := e.send("/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`); r.status != http.StatusOK {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	seen := map[string]bool{}
	page := "/console/accounts/big"
	e.getUntil(page, "More members")
	for pages := 0; ; pages++ {
		got := e.get(page)
		if got.status != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", page, got.status, got.body)
		}
		body := got.body
		n := 0
		for _, part := range strings.Split(body, `<a href="/console/users/`)[1:] {
			seen[part[:strings.Index(part, `"`)]] = true
			n++
		}
		if n > 50 {
			t.Fatalf("a page shows %d members, more than 50", n)
		}
		if !strings.Contains(body, "More members") {
			break
		}
		if pages > 5 {
			t.Fatal("member pages do not end")
		}
		i := strings.Index(body, `<a class="next" href="`)
		rest := body[i+len(`<a class="next" href="`):]
		page = nextHref.Replace(rest[:strings.Index(rest, `"`)])
	}
	if len(seen) != 120 {
		t.Errorf("the member pages show %d members, want 120", len(seen))
	}
}

func TestConsoleCanBeSwitchedOff(t *testing.T) {
	e := start(t, "console: {enabled: false}\n")
	if r := e.get("/console/signin"); r.status != http.StatusNotFound {
		t.Errorf("/console/signin with the console off = %d, want 404", r.status)
	}
	if r := e.post("/console/signin", url.Values{"token": {token}}); r.status == http.StatusSeeOther {
		t.Errorf("sign-in works with the console off")
	}
}
