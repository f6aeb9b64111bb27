package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// public are the only routes anonymous requests may use.
var public = map[string]bool{"/login": true, "/healthz": true, "/static/*": true, "/favicon.ico": true}

// TestRoutesRefuseAnonymous walks every route the router has and proves
// that all but the public ones refuse a request without credentials, as a
// script and as a browser.
func TestRoutesRefuseAnonymous(t *testing.T) {
	e := newEnv(t, testAdminPW)
	ingestFixture(t, e)
	fill := strings.NewReplacer("{server}", serverA, "{name}", "admin", "*", "app.css")
	seen := map[string]bool{}
	err := chi.Walk(e.srv.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		seen[method+" "+route] = true
		path := fill.Replace(route)
		for _, accept := range []string{"application/json", "text/html"} {
			r := e.do(e.browser(), method, path, strings.NewReader("name=x&password=xxxxxxxx"),
				"Accept", accept, "Content-Type", "application/x-www-form-urlencoded")
			if public[route] {
				if r.status >= 500 {
					t.Errorf("%s %s (public): %d", method, route, r.status)
				}
				continue
			}
			if method == http.MethodGet && accept == "text/html" && r.status == http.StatusSeeOther {
				if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
					t.Errorf("%s %s anonymous (browser): redirect to %q, want the login form", method, route, loc)
				}
			} else if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
				t.Errorf("%s %s anonymous (%s): %d, want 401 or 403", method, route, accept, r.status)
			}
			if strings.Contains(r.body, "2001:db8") || strings.Contains(r.body, "s1, s2") || strings.Contains(r.body, `"servers"`) {
				t.Errorf("%s %s anonymous leaks data: %.200s", method, route, r.body)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must have covered the routes this test exists for.
	for _, want := range []string{"GET /", "GET /api/v1/servers", "GET /api/v1/series", "POST /api/v1/ingest",
		"GET /metrics", "POST /users", "POST /logout", "GET /servers/{server}", "GET /login", "GET /static/*"} {
		if !seen[want] {
			t.Errorf("route %s not found by chi.Walk", want)
		}
	}
	if len(seen) < 15 {
		t.Errorf("walked %d routes, expected more: %v", len(seen), seen)
	}
	if _, err := e.db.User(t.Context(), "x"); err == nil {
		t.Error("an anonymous request created a user")
	}
}

func TestPublicRoutes(t *testing.T) {
	e := newEnv(t, testAdminPW)
	tests := []struct {
		path   string
		status int
		ctype  string
		want   string
	}{
		{"/healthz", 200, "application/json", `"ok":true`},
		{"/login", 200, "text/html", `id="login-form"`},
		{"/static/app.css", 200, "text/css", "body"},
		{"/static/vendor/uplot/uPlot.iife.min.js", 200, "javascript", "uPlot"},
		{"/static/vendor/uplot/LICENSE", 200, "text/plain", "MIT"},
		{"/static/", 404, "", ""},
		{"/static/vendor/", 404, "", ""},
		{"/static/../web.db", 404, "", ""},
		{"/static/missing.js", 404, "", ""},
	}
	for _, tc := range tests {
		r := e.do(http.DefaultClient, "GET", tc.path, nil)
		if r.status != tc.status || !strings.Contains(r.header.Get("Content-Type"), tc.ctype) || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %q, want %d %q containing %q", tc.path, r.status, r.header.Get("Content-Type"), tc.status, tc.ctype, tc.want)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
}
