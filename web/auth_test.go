package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/store"
)

func TestLoginFlow(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c := e.browser()

	if r := e.get(c, "/"); !toLogin(r, "/") {
		t.Fatalf("anonymous GET /: %d to %q, want a redirect to the login form", r.status, r.header.Get("Location"))
	}
	if r := e.login(c, "admin", "wrong-password"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong user name or password") {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if r := e.login(c, "nobody", testAdminPW); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", r.status)
	}
	r := e.login(c, "admin", testAdminPW)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	ck := sessionCookieOf(t, r.header)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v, want true, Lax, false without TLS", ck.HttpOnly, ck.SameSite, ck.Secure)
	}
	if len(ck.Value) < 43 { // 256 bits in base64 or hex
		t.Errorf("session id %q is shorter than 256 bits", ck.Value)
	}
	home := e.get(c, "/")
	if home.status != http.StatusOK || !strings.Contains(home.body, "Servers") {
		t.Fatalf("GET / after login: %d", home.status)
	}
	if r := e.get(c, "/login"); r.status != http.StatusSeeOther {
		t.Errorf("GET /login while logged in: %d, want a redirect home", r.status)
	}
	out := e.postForm(c, "/logout", url.Values{"csrf": {csrfOf(t, home.body)}})
	if out.status != http.StatusSeeOther || out.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", out.status, out.header.Get("Location"))
	}
	if r := e.get(c, "/"); !toLogin(r, "/") {
		t.Fatalf("GET / after logout: %d, want a redirect to the login form", r.status)
	}
	// The old cookie is dead on the server too, not just dropped by the browser.
	if r := e.do(http.DefaultClient, "GET", "/api/v1/servers", nil, "Cookie", sessionCookie+"="+ck.Value); r.status != http.StatusUnauthorized {
		t.Fatalf("old session after logout: %d, want 401", r.status)
	}
}

var nextFieldRe = regexp.MustCompile(`<input type="hidden" name="next" value="[^"]*">`)

// toLogin tells whether r redirects a browser to the login form with next.
func toLogin(r reply, next string) bool {
	return r.status == http.StatusSeeOther && r.header.Get("Location") == "/login?next="+url.QueryEscape(next)
}

// TestSafeNext covers the class of open redirects, not one input: every
// way a browser turns a path into another host (//, /\, tabs and newlines
// it drops, schemes, percent-encoded and double-encoded forms of these).
func TestSafeNext(t *testing.T) {
	kept := []string{
		"/sensors", "/servers/10.0.0.1:80?x=1", "/servers/%5B2001:db8::1%5D:443?range=6h#ops",
		"/?range=24h&q=10.0", "/servers/10.0.0.1:80?from=2026-12-02T10:00:00Z", "/caf%C3%A9",
	}
	for _, next := range kept {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
	hosts := []string{"evil.example", "evil.example/x", "evil.example:443", "user@evil.example"}
	prefixes := []string{"//", "/\\", "\\\\", "\\/", "/\t/", "/\n/", "/\r/", "\t//", " //", "/ /",
		"/%2F", "/%2f", "%2F%2F", "/%5C", "/%5c", "/%09/", "/%0a/", "/%0D/", "/%252F", "/%255C", "/%2509/",
		"///", "/\x00/", "/\x7f/", "/\u00a0/", "/\u2028/", "https://", "http:", "javascript:", "data:", "HTTPS://", ":", ""}
	for _, p := range prefixes {
		for _, h := range hosts {
			next := p + h
			if got := safeNext(next); got != "/" {
				t.Errorf("safeNext(%q) = %q, want /", next, got)
			}
		}
	}
	for _, next := range []string{"", "/login", "/login?next=/x", "/x\r\nSet-Cookie: a=b", "/" + strings.Repeat("a", 3000), "/\xff\xfe"} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%.40q) = %q, want /", next, got)
		}
	}
}

// TestLoginNextNeverLeaves logs in through the real form with hostile
// next values and checks where the browser is sent.
func TestLoginNextNeverLeaves(t *testing.T) {
	e := newEnv(t, testAdminPW)
	for _, next := range []string{"/\t/evil.example/x", "//evil.example", "/\\evil.example", "/%09/evil.example/x", "https://evil.example/", "/%2F%2Fevil.example"} {
		c := e.browser()
		page := e.get(c, "/login?next="+url.QueryEscape(next))
		r := e.postForm(c, "/login", url.Values{"username": {"admin"}, "password": {testAdminPW}, "csrf": {csrfOf(t, page.body)}, "next": {next}})
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/" {
			t.Errorf("login with next=%q: %d to %q, want /", next, r.status, loc)
		}
	}
}

func TestLoginRedirectsToNext(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c := e.browser()
	const deep = "/servers/10.0.0.1:80?range=6h&op=GET+%2Fx"
	r := e.get(c, deep) // refused: the browser goes to the login form, which remembers where it wanted to go
	if !toLogin(r, deep) {
		t.Fatalf("GET %s anonymously: %d to %q, want the login form with next", deep, r.status, r.header.Get("Location"))
	}
	page := e.get(c, r.header.Get("Location"))
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="next" value="/servers/10.0.0.1:80?range=6h&amp;op=GET&#43;%2Fx"`) {
		t.Fatalf("login form: %d, no next field for %s:\n%s", page.status, deep, page.body)
	}
	r = e.postForm(c, "/login", url.Values{"username": {"admin"}, "password": {testAdminPW}, "csrf": {csrfOf(t, page.body)}, "next": {deep}})
	if got := r.header.Get("Location"); r.status != http.StatusSeeOther || got != deep {
		t.Errorf("login with next=%s: %d to %q", deep, r.status, got)
	}
}

// TestDeepLinkSurvivesPasswordChange: the first login with admin/admin
// goes through the forced password change and still ends at the link.
func TestDeepLinkSurvivesPasswordChange(t *testing.T) {
	e := newEnv(t, "")
	c := e.browser()
	const deep = "/sensors?x=1"
	page := e.get(c, "/login?next="+url.QueryEscape(deep))
	r := e.postForm(c, "/login", url.Values{"username": {"admin"}, "password": {"admin"}, "csrf": {csrfOf(t, page.body)}, "next": {deep}})
	if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/password?next="+url.QueryEscape(deep) {
		t.Fatalf("first login: %d to %q", r.status, loc)
	}
	pw := e.get(c, r.header.Get("Location"))
	if !strings.Contains(pw.body, `name="next" value="/sensors?x=1"`) {
		t.Fatalf("password page keeps no next:\n%s", pw.body)
	}
	r = e.postForm(c, "/password", url.Values{"csrf": {csrfOf(t, pw.body)}, "current": {"admin"}, "new": {testNewAdmin}, "confirm": {testNewAdmin}, "next": {deep}})
	if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != deep {
		t.Fatalf("password change: %d to %q, want %s", r.status, loc, deep)
	}
}

// TestErrorPages: browsers get HTML error pages that say what was wrong,
// scripts keep JSON.
func TestErrorPages(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c, _ := e.loggedIn()
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/no/such/page", 404, "No such page: /no/such/page"},
		{"/servers/not-an-address", 400, "is not a server address"},
	} {
		html := e.get(c, tc.path)
		if html.status != tc.status || !strings.Contains(html.header.Get("Content-Type"), "text/html") || !strings.Contains(html.body, tc.want) || !strings.Contains(html.body, `id="error-page"`) {
			t.Errorf("browser %s: %d %s, want an HTML %d saying %q:\n%.400s", tc.path, html.status, html.header.Get("Content-Type"), tc.status, tc.want, html.body)
		}
		js := e.do(c, http.MethodGet, tc.path, nil, "Accept", "application/json")
		if js.status != tc.status || !strings.Contains(js.header.Get("Content-Type"), "application/json") || !strings.Contains(js.body, `"error"`) {
			t.Errorf("script %s: %d %s %s, want JSON %d", tc.path, js.status, js.header.Get("Content-Type"), js.body, tc.status)
		}
	}
	if r := e.do(http.DefaultClient, http.MethodGet, "/favicon.ico", nil); r.status != 200 || r.header.Get("Content-Type") != "image/x-icon" || len(r.body) < 22 {
		t.Errorf("favicon: %d %s %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	e := newEnv(t, testAdminPW, func(c *Config) { c.TLS = true })
	c := e.browser()
	r := e.login(c, "admin", testAdminPW)
	if ck := sessionCookieOf(t, r.header); !ck.Secure {
		t.Fatal("session cookie not Secure with TLS")
	}
}

func sessionCookieOf(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %v", h["Set-Cookie"])
	return nil
}

func TestForcedPasswordChange(t *testing.T) {
	e := newEnv(t, "") // first start: admin/admin
	c := e.browser()
	r := e.login(c, "admin", "admin")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/password" {
		t.Fatalf("login admin/admin: %d to %q, want /password", r.status, r.header.Get("Location"))
	}
	pw := e.get(c, "/password")
	if pw.status != http.StatusOK || !strings.Contains(pw.body, `id="must-change"`) {
		t.Fatalf("GET /password: %d", pw.status)
	}
	csrf := csrfOf(t, pw.body)
	e.ingest(batch("b1", "s1", summary("10.0.0.1:80", e.clock.Now().Add(-10*time.Minute).Truncate(5*time.Minute), 3, []float64{100}, nil)))
	blocked := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/sensors"}, {"GET", "/users"}, {"GET", "/servers/10.0.0.1:80"},
		{"GET", "/api/v1/servers"}, {"GET", "/api/v1/sensors"},
		{"GET", "/api/v1/series?server=10.0.0.1:80&metric=rtt"}, {"GET", "/metrics"},
		{"POST", "/users"},
	}
	basic := e.browser()
	for i, b := range blocked {
		who := []struct {
			c   *http.Client
			hdr []string
		}{{c, []string{"Accept", "text/html", csrfHeader, csrf}}}
		if i%3 == 0 { // HTTP Basic too, on some routes: each check costs a bcrypt
			who = append(who, struct {
				c   *http.Client
				hdr []string
			}{basic, []string{"Authorization", "Basic YWRtaW46YWRtaW4="}}) // admin:admin
		}
		for _, w := range who {
			r := e.do(w.c, b.method, b.path, strings.NewReader("name=x&password=yyyyyyyy"), w.hdr...)
			// The password form may carry the requested path (next), no data.
			body := nextFieldRe.ReplaceAllString(r.body, "")
			if r.status != http.StatusForbidden || strings.Contains(body, "10.0.0.1") {
				t.Errorf("%s %s before the change: %d, want 403 with no data", b.method, b.path, r.status)
			}
		}
	}
	if _, err := e.db.User(t.Context(), "x"); err == nil {
		t.Error("a user was created before the password change")
	}

	bad := []struct {
		name             string
		current, nw, cfm string
		status           int
		msg              string
	}{
		{"wrong current", "nope", testNewAdmin, testNewAdmin, http.StatusForbidden, "current password is wrong"},
		{"mismatch", "admin", testNewAdmin, testNewAdmin + "x", http.StatusBadRequest, "differ"},
		{"too short", "admin", "short", "short", http.StatusBadRequest, "at least 8"},
		{"unchanged", "admin", "admin", "admin", http.StatusBadRequest, "at least 8"},
	}
	for _, tc := range bad {
		r := e.postForm(c, "/password", url.Values{"csrf": {csrf}, "current": {tc.current}, "new": {tc.nw}, "confirm": {tc.cfm}})
		if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
			t.Errorf("%s: %d, want %d with %q", tc.name, r.status, tc.status, tc.msg)
		}
	}
	r = e.postForm(c, "/password", url.Values{"csrf": {csrf}, "current": {"admin"}, "new": {testNewAdmin}, "confirm": {testNewAdmin}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	if r := e.get(c, "/"); r.status != http.StatusOK || !strings.Contains(r.body, "10.0.0.1:80") {
		t.Fatalf("GET / after the change: %d", r.status)
	}
	if r := e.do(basic, "GET", "/api/v1/servers", nil, "Authorization", "Basic YWRtaW46YWRtaW4="); r.status != http.StatusUnauthorized {
		t.Errorf("admin:admin after the change: %d, want 401", r.status)
	}
	u, err := e.db.CheckPassword(t.Context(), "admin", testNewAdmin)
	if err != nil || u.MustChange {
		t.Errorf("new password in store: %v, must change %v", err, u.MustChange)
	}
}

func TestCSRFRejected(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c, csrf := e.loggedIn()
	add := url.Values{"name": {"bob"}, "password": {"bob-password-1"}}
	tests := []struct {
		name string
		path string
		form url.Values
		hdr  []string
	}{
		{"add user, no token", "/users", add, nil},
		{"add user, wrong token", "/users", with(add, "csrf", strings.Repeat("0", len(csrf))), nil},
		{"add user, token of another session", "/users", with(add, "csrf", otherSessionCSRF(t, e)), nil},
		{"logout, no token", "/logout", url.Values{}, nil},
		{"password, no token", "/password", url.Values{"current": {testAdminPW}, "new": {testNewAdmin}, "confirm": {testNewAdmin}}, nil},
		{"cross-site with a good token", "/users", with(add, "csrf", csrf), []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}},
	}
	for _, tc := range tests {
		hdr := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, tc.hdr...)
		r := e.do(c, http.MethodPost, tc.path, strings.NewReader(tc.form.Encode()), hdr...)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, r.status)
		}
	}
	if _, err := e.db.User(t.Context(), "bob"); err == nil {
		t.Fatal("bob was created by a request without a valid CSRF token")
	}
	if _, err := e.db.CheckPassword(t.Context(), "admin", testAdminPW); err != nil {
		t.Fatal("admin password changed without a valid CSRF token")
	}
	if r := e.get(c, "/"); r.status != http.StatusOK {
		t.Fatalf("still logged in after refused logout: %d", r.status)
	}
	// The same request with the token in the header or the form works.
	if r := e.do(c, http.MethodPost, "/users", strings.NewReader(add.Encode()), "Content-Type", "application/x-www-form-urlencoded", csrfHeader, csrf); r.status != http.StatusSeeOther {
		t.Fatalf("add user with the header token: %d %s", r.status, r.body)
	}

	// The login form has its own double-submit token.
	anon := e.browser()
	r := e.postForm(anon, "/login", url.Values{"username": {"admin"}, "password": {testAdminPW}})
	if r.status != http.StatusForbidden {
		t.Fatalf("login without the form's token: %d, want 403", r.status)
	}
	form := e.get(anon, "/login")
	r = e.postForm(anon, "/login", url.Values{"username": {"admin"}, "password": {testAdminPW}, "csrf": {csrfOf(t, form.body) + "x"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("login with a wrong token: %d, want 403", r.status)
	}
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = vv
	}
	out.Set(k, val)
	return out
}

func otherSessionCSRF(t *testing.T, e *env) string {
	_, csrf := e.loggedIn()
	return csrf
}

// TestLoginLimiter: failures of one user from one address slow that pair
// down with growing delays, never the same user elsewhere (no lockout of
// admin by a stranger); a flood of names from one address slows that
// address; X-Forwarded-For counts only from a trusted proxy; huge names
// cost nothing; wrong ingest tokens are slowed down too.
func TestLoginLimiter(t *testing.T) {
	lim := LoginLimit{Free: 3, PerClientFree: 8, Base: 10 * time.Second, Max: time.Hour, MaxKeys: 50}
	e := newEnv(t, testAdminPW, func(c *Config) {
		c.Login = lim
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	from := func(addr string) []string { return []string{"Accept", "text/html", "X-Forwarded-For", addr} }
	tryLogin := func(addr, user, pw string) int {
		c := e.browser()
		form := e.do(c, "GET", "/login", nil, from(addr)...)
		body := url.Values{"username": {user}, "password": {pw}, "csrf": {csrfOf(t, form.body)}}.Encode()
		return e.do(c, "POST", "/login", strings.NewReader(body), append(from(addr), "Content-Type", "application/x-www-form-urlencoded")...).status
	}
	for i := range lim.Free {
		if st := tryLogin("192.0.2.1", "admin", "wrong"); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, st)
		}
	}
	if st := tryLogin("192.0.2.1", "admin", testAdminPW); st != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", lim.Free, st)
	}
	if st := tryLogin("192.0.2.2", "admin", testAdminPW); st != http.StatusSeeOther {
		t.Fatalf("admin from another address while the attacker waits: %d, want a login", st)
	}
	e.clock.Add(lim.Base + time.Second)
	if st := tryLogin("192.0.2.1", "admin", "wrong"); st != http.StatusUnauthorized {
		t.Fatalf("after the first delay: %d, want another try", st)
	}
	e.clock.Add(lim.Base + time.Second) // the delay doubled: not yet
	if st := tryLogin("192.0.2.1", "admin", testAdminPW); st != http.StatusTooManyRequests {
		t.Fatalf("the delay did not grow: %d", st)
	}
	// Spraying names from one address slows the address.
	for i := range lim.PerClientFree {
		tryLogin("198.51.100.9", fmt.Sprintf("user%d", i), "wrong")
	}
	if st := tryLogin("198.51.100.9", "someone", "wrong"); st != http.StatusTooManyRequests {
		t.Errorf("after %d names from one address: %d, want 429", lim.PerClientFree, st)
	}
	// Huge names fail fast and are kept short.
	for i := range 2 * lim.MaxKeys {
		tryLogin(fmt.Sprintf("203.0.113.%d", i%250), strings.Repeat("x", 100000)+fmt.Sprint(i), "wrong")
	}
	e.srv.limiter.mu.Lock()
	keys := len(e.srv.limiter.hits)
	for k := range e.srv.limiter.hits {
		if len(k) > 200 {
			t.Errorf("limiter key of %d bytes", len(k))
			break
		}
	}
	e.srv.limiter.mu.Unlock()
	if keys > lim.MaxKeys {
		t.Errorf("limiter holds %d keys, bound %d", keys, lim.MaxKeys)
	}
	// Wrong ingest tokens from one address are slowed down too.
	hdr := []string{"Authorization", "Bearer wrong-token-0123456789", "Content-Type", "application/json"}
	body := `{"id":"t","sensor":{"name":"s"},"windows":[]}`
	var last int
	for range 12 {
		last = e.do(http.DefaultClient, "POST", IngestPath, strings.NewReader(body), hdr...).status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after 12 wrong tokens: %d, want 429", last)
	}
}

// TestClientAddr takes X-Forwarded-For from trusted proxies only.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "198.51.100.1", "192.0.2.1"},            // not a proxy: header ignored
		{"10.0.0.5:5000", "198.51.100.1", "198.51.100.1"},          // a proxy
		{"10.0.0.5:5000", "6.6.6.6, 198.51.100.1", "198.51.100.1"}, // the client's own header is not believed
		{"10.0.0.5:5000", "198.51.100.1, 10.0.0.9", "198.51.100.1"},
		{"10.0.0.5:5000", "", "10.0.0.5"},
		{"10.0.0.5:5000", "junk", "10.0.0.5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, trusted); got != tc.want {
			t.Errorf("%s with %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func basicAuth(user, pw string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestBasicAuth(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c := &http.Client{}
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"right", basicAuth("admin", testAdminPW), http.StatusOK},
		{"wrong password", basicAuth("admin", "nope"), http.StatusUnauthorized},
		{"unknown user", basicAuth("ghost", testAdminPW), http.StatusUnauthorized},
		{"not base64", "Basic !!!", http.StatusUnauthorized},
		{"ingest token is not a user", "Bearer " + testToken, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		r := e.do(c, "GET", "/api/v1/servers", nil, "Authorization", tc.auth)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, r.status, tc.status)
		}
		if tc.status == http.StatusOK && !strings.Contains(r.body, `"servers"`) {
			t.Errorf("%s: body %s", tc.name, r.body)
		}
		if r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: WWW-Authenticate sent; browsers would cache Basic credentials and bypass CSRF checks", tc.name)
		}
	}
}

func TestUserAdministration(t *testing.T) {
	e := newEnv(t, testAdminPW)
	admin, csrf := e.loggedIn()
	post := func(c *http.Client, path string, form url.Values) reply {
		return e.do(c, http.MethodPost, path, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded", csrfHeader, csrf)
	}
	if r := post(admin, "/users", url.Values{"name": {"bob"}, "password": {"bob-initial-1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("add bob: %d %s", r.status, r.body)
	}
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{"duplicate", "/users", url.Values{"name": {"bob"}, "password": {"bob-initial-1"}}, http.StatusConflict},
		{"bad name", "/users", url.Values{"name": {"b o b"}, "password": {"bob-initial-1"}}, http.StatusBadRequest},
		{"short password", "/users", url.Values{"name": {"carol"}, "password": {"short"}}, http.StatusBadRequest},
		{"remove self", "/users/admin/delete", url.Values{}, http.StatusBadRequest},
		{"remove unknown", "/users/ghost/delete", url.Values{}, http.StatusNotFound},
	}
	for _, tc := range tests {
		if r := post(admin, tc.path, tc.form); r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, r.status, tc.status)
		}
	}
	// bob must change the password the admin chose, and is no admin.
	bob := e.browser()
	if r := e.login(bob, "bob", "bob-initial-1"); r.header.Get("Location") != "/password" {
		t.Fatalf("bob's first login goes to %q, want /password", r.header.Get("Location"))
	}
	bobCSRF := csrfOf(t, e.get(bob, "/password").body)
	if r := e.postForm(bob, "/password", url.Values{"csrf": {bobCSRF}, "current": {"bob-initial-1"}, "new": {"bob-own-pw-2"}, "confirm": {"bob-own-pw-2"}}); r.status != http.StatusSeeOther {
		t.Fatalf("bob changes password: %d", r.status)
	}
	page := e.get(bob, "/users")
	if page.status != http.StatusOK || strings.Contains(page.body, `id="users"`) {
		t.Fatalf("bob's /users: %d, must show no user list", page.status)
	}
	bobCSRF = csrfOf(t, page.body)
	if r := e.do(bob, http.MethodPost, "/users", strings.NewReader("name=eve&password=eve-password-1"), "Content-Type", "application/x-www-form-urlencoded", csrfHeader, bobCSRF); r.status != http.StatusForbidden {
		t.Fatalf("non-admin adds a user: %d, want 403", r.status)
	}
	// Reset: bob is logged out and must change again.
	if r := post(admin, "/users/bob/password", url.Values{"password": {"bob-reset-pw-3"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset bob: %d", r.status)
	}
	if r := e.get(bob, "/"); !toLogin(r, "/") {
		t.Fatalf("bob after reset: %d, want logged out", r.status)
	}
	if u, err := e.db.CheckPassword(t.Context(), "bob", "bob-reset-pw-3"); err != nil || !u.MustChange {
		t.Fatalf("bob after reset: %v must change %v", err, u.MustChange)
	}
	if r := post(admin, "/users/bob/delete", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("remove bob: %d", r.status)
	}
	if _, err := e.db.User(t.Context(), "bob"); err != store.ErrNotFound && !strings.Contains(err.Error(), "not found") {
		t.Fatalf("bob after removal: %v", err)
	}
}

// TestHSTSAndCookiePaths: HSTS under TLS only; the login form's cookie is
// cleared on the path it was set on (else the browser keeps it).
func TestHSTSAndCookiePaths(t *testing.T) {
	plain := newEnv(t, testAdminPW)
	if h := plain.get(plain.browser(), "/login").header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("HSTS without TLS: %q", h)
	}
	e := newEnv(t, testAdminPW, func(c *Config) { c.TLS = true })
	c := e.browser()
	form := e.get(c, "/login")
	if h := form.header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("HSTS under TLS: %q", h)
	}
	var setPath string
	for _, ck := range (&http.Response{Header: form.header}).Cookies() {
		if ck.Name == loginCookie {
			setPath = ck.Path
		}
	}
	rec := httptest.NewRecorder()
	e.srv.clearCookie(rec, loginCookie, loginCookiePath) // what a successful login sends
	var cleared string
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == loginCookie && ck.MaxAge < 0 {
			cleared = ck.Path
		}
	}
	if setPath == "" || cleared != setPath {
		t.Errorf("login cookie set on %q, cleared on %q", setPath, cleared)
	}
}
