package web

import (
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestActionFailureAnswersBrowsers: a store failure in a user action (the
// sessions of the user cannot be ended) answers a browser's form post with
// the HTML error page and a script with JSON, both 500.
func TestActionFailureAnswersBrowsers(t *testing.T) {
	e := newEnv(t, testAdminPW)
	admin, csrf := e.loggedIn()
	form := func(user string) *strings.Reader {
		return strings.NewReader(url.Values{"password": {"reset-password-9"}, "csrf": {csrf}, "name": {user}}.Encode())
	}
	for _, user := range []string{"bob", "carol"} {
		if r := e.do(admin, http.MethodPost, "/users", form(user), "Content-Type", "application/x-www-form-urlencoded"); r.status != http.StatusSeeOther {
			t.Fatalf("add %s: %d %s", user, r.status, r.body)
		}
		if r := e.login(e.browser(), user, "reset-password-9"); r.status != http.StatusSeeOther {
			t.Fatalf("%s logs in: %d", user, r.status)
		}
	}
	// A real SQLite failure: ending anyone's sessions but admin's aborts.
	raw, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER keep_sessions BEFORE DELETE ON sessions WHEN OLD.user <> 'admin'
		BEGIN SELECT RAISE(ABORT, 'sessions are kept'); END`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, accept, contentType, want string
	}{
		{"browser", "bob", "text/html,application/xhtml+xml", "text/html", "<html"},
		{"script", "carol", "*/*", "application/json", `"error":`},
	}
	for _, tc := range tests {
		r := e.do(admin, http.MethodPost, "/users/"+tc.user+"/password", form(tc.user),
			"Content-Type", "application/x-www-form-urlencoded", "Accept", tc.accept)
		if r.status != http.StatusInternalServerError || !strings.HasPrefix(r.header.Get("Content-Type"), tc.contentType) ||
			!strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %q %.200s; want 500 %s with %s", tc.name, r.status, r.header.Get("Content-Type"), r.body, tc.contentType, tc.want)
		}
	}
}
