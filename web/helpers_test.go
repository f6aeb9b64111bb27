package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web/ship"
)

const (
	testToken    = "ingest-token-0123456789"
	testScrape   = "scrape-token-0123456789"
	testAdminPW  = "admin-password-1"
	testNewAdmin = "new-admin-password-2"
)

// clock is a settable time source shared by the server and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	db    *store.DB
	path  string // the SQLite file
	srv   *Server
	ts    *httptest.Server
	clock *clock
}

type envOpt func(*Config)

// newEnv starts a real server on a real SQLite file. adminPW "" gives the
// first-start admin/admin that must be changed.
func newEnv(t testing.TB, adminPW string, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "web.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.EnsureAdmin(ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, db, path, opts...)
}

// newEnvOn starts a real server on db, the database at path.
func newEnvOn(t testing.TB, db *store.DB, path string, opts ...envOpt) *env {
	t.Helper()
	clk := &clock{t: time.Now().UTC()}
	cfg := Config{DB: db, Token: testToken, MetricsToken: testScrape, Version: "test", Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, db: db, path: path, srv: srv, ts: ts, clock: clk}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see every status.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(c *http.Client, method, path string, body io.Reader, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(c *http.Client, path string) reply {
	return e.do(c, http.MethodGet, path, nil, "Accept", "text/html")
}

func (e *env) postForm(c *http.Client, path string, form url.Values) reply {
	return e.do(c, http.MethodPost, path, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf extracts the CSRF token a page embeds in its forms.
func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// login fills in the login form like a browser would.
func (e *env) login(c *http.Client, user, pw string) reply {
	e.t.Helper()
	form := e.get(c, "/login")
	if form.status != http.StatusOK {
		e.t.Fatalf("GET /login: %d", form.status)
	}
	return e.postForm(c, "/login", url.Values{"username": {user}, "password": {pw}, "csrf": {csrfOf(e.t, form.body)}})
}

// loggedIn returns a browser logged in as admin with testAdminPW, and the
// session's CSRF token.
func (e *env) loggedIn() (*http.Client, string) {
	e.t.Helper()
	c := e.browser()
	if r := e.login(c, "admin", testAdminPW); r.status != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", r.status, r.body)
	}
	page := e.get(c, "/users")
	if page.status != http.StatusOK {
		e.t.Fatalf("GET /users: %d", page.status)
	}
	return c, csrfOf(e.t, page.body)
}

// summary builds one window of server seen by a sensor: conns connections
// and the given rtt and response times (µs).
func summary(server string, start time.Time, conns uint64, rtts, responses []float64) window.Summary {
	s := window.Summary{Server: netip.MustParseAddrPort(server), Start: start}
	s.Connections, s.Established, s.Transactions = conns, conns, uint64(len(responses))
	for _, v := range rtts {
		s.Metrics[window.RTT].Add(v)
	}
	for _, v := range responses {
		s.Metrics[window.ResponseTime].Add(v)
		s.Metrics[window.TransferTime].Add(2 * v)
	}
	return s
}

func batch(id, sensor string, sums ...window.Summary) *window.Batch {
	return &window.Batch{ID: id, Sensor: window.SensorInfo{Name: sensor, Version: "test", Packets: 1000, Flows: 10}, Summaries: sums}
}

// ingest posts b through the real ingest API and fails the test unless it
// is acknowledged.
func (e *env) ingest(b *window.Batch) {
	e.t.Helper()
	if _, err := ship.NewHTTP(e.ts.URL, testToken).Send(context.Background(), b); err != nil {
		e.t.Fatalf("ingest %s: %v", b.ID, err)
	}
}

func seq(from, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = from + step*float64(i)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("must: %v", err))
	}
	return v
}
