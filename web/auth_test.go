package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/store"
)

func TestLoginFlow(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c := e.browser()

	if r := e.get(c, "/"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="login-form"`) {
		t.Fatalf("anonymous GET /: %d, want 401 with the login form", r.status)
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
	if r := e.get(c, "/"); r.status != http.StatusUnauthorized {
		t.Fatalf("GET / after logout: %d, want 401", r.status)
	}
	// The old cookie is dead on the server too, not just dropped by the browser.
	if r := e.do(http.DefaultClient, "GET", "/api/v1/servers", nil, "Cookie", sessionCookie+"="+ck.Value); r.status != http.StatusUnauthorized {
		t.Fatalf("old session after logout: %d, want 401", r.status)
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/sensors", "/sensors"},
		{"/servers/10.0.0.1:80?x=1", "/servers/10.0.0.1:80?x=1"},
		{"//evil.example/x", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"/login?next=/x", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
		{"", "/"},
	}
	for _, tc := range tests {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

func TestLoginRedirectsToNext(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c := e.browser()
	page := e.get(c, "/sensors") // refused: the login form remembers where the user wanted to go
	if page.status != http.StatusUnauthorized || !strings.Contains(page.body, `name="next" value="/sensors"`) {
		t.Fatalf("GET /sensors anonymously: %d, want 401 with next=/sensors", page.status)
	}
	r := e.postForm(c, "/login", url.Values{"username": {"admin"}, "password": {testAdminPW}, "csrf": {csrfOf(t, page.body)}, "next": {"/sensors"}})
	if got := r.header.Get("Location"); r.status != http.StatusSeeOther || got != "/sensors" {
		t.Errorf("login with next=/sensors: %d to %q", r.status, got)
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
			if r.status != http.StatusForbidden || strings.Contains(r.body, "10.0.0.1") {
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

func TestLoginRateLimit(t *testing.T) {
	tests := []struct {
		name   string
		limit  LoginLimit
		names  func(i int) string // user name of the i-th failed attempt
		victim string             // then the right password for this user is refused
	}{
		{"per user", LoginLimit{PerClient: 1000, PerUser: 3, Window: time.Minute}, func(int) string { return "admin" }, "admin"},
		{"per client", LoginLimit{PerClient: 3, PerUser: 1000, Window: time.Minute}, func(i int) string { return "guess" + string(rune('a'+i)) }, "admin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testAdminPW, func(c *Config) { c.Login = tc.limit })
			c := e.browser()
			n := min(tc.limit.PerClient, tc.limit.PerUser)
			for i := 0; i < n; i++ {
				if r := e.login(c, tc.names(i), "wrong-password"); r.status != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d, want 401", i, r.status)
				}
			}
			r := e.login(c, tc.victim, testAdminPW)
			if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
				t.Fatalf("after %d failures: %d (Retry-After %q), want 429", n, r.status, r.header.Get("Retry-After"))
			}
			if r := e.do(c, "GET", "/api/v1/servers", nil, "Authorization", basicAuth(tc.victim, testAdminPW)); r.status != http.StatusTooManyRequests {
				t.Fatalf("basic auth while limited: %d, want 429", r.status)
			}
			e.clock.Add(tc.limit.Window + time.Second)
			if r := e.login(c, tc.victim, testAdminPW); r.status != http.StatusSeeOther {
				t.Fatalf("after the window: %d, want a login", r.status)
			}
		})
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
	if r := e.get(bob, "/"); r.status != http.StatusUnauthorized {
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
