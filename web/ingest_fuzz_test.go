package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// FuzzIngest posts arbitrary batches (JSON and the sketches inside it) to
// a real web node on a real database, one after the other. The property:
// no input makes the node answer 500; every window it accepts reads back
// in its series; and after every batch every listing (servers in each
// order, the overview, sensors, series, /metrics) and maintenance still
// work.
func FuzzIngest(f *testing.F) {
	e := newEnv(f, testAdminPW)
	now := e.clock.Now()
	start := window.Start(now).Add(-window.Width)
	good := batch("seed-1", "s1", summary("10.0.0.1:80", start, 3, []float64{1, 2, 300}, []float64{4000}))
	f.Add(must(json.Marshal(good)))
	two := batch("seed-2", "s1", summary("10.0.0.1:80", start, 1, []float64{5}, nil), summary("10.0.0.2:443", start.Add(-window.Width), 2, nil, []float64{7, 9}))
	f.Add(must(json.Marshal(two)))
	sk := base64.StdEncoding.EncodeToString([]byte{0x03, 0x01, 0x00, 0x01, 0xb2, 0x05, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0xf6, 0x3f})
	for _, w := range []string{
		`{"server":"10.0.0.3:5432","start":"%s","connections":18446744073709551615,"metrics":{}}`,
		`{"server":"10.0.0.3:5432","start":"%s","bytes_to_server":10000000000000000,"metrics":{}}`,
		`{"server":"10.0.0.3:5432","start":"%s","metrics":{"rtt":{"count":1,"sum_us":5,"min_us":5,"max_us":5,"sketch":"` + sk + `"}}}`,
		`{"server":"10.0.0.3:5432","start":"%s","metrics":{"rtt":{"count":1,"sum_us":5,"min_us":5,"max_us":5,"sketch":"AAAA"}}}`,
	} {
		w = fmt.Sprintf(w, start.Format(time.RFC3339))
		f.Add([]byte(`{"id":"seed-w","sensor":{"name":"s2"},"windows":[` + w + `,` + w + `]}`))
	}
	f.Add([]byte(`{"id":"x","sensor":{"name":"s"},"windows":[]}`))
	f.Add([]byte(`{"id":"x","sensor":{"name":"s"},"windows":[1,"a",null,{}]}`))
	c, _ := e.loggedIn()
	// Every input runs on a fresh copy of this database, served in
	// process: state that grew with earlier inputs (and sockets, pools)
	// would make coverage differ between runs of one input, and the fuzzer
	// then spends up to a minute minimizing every input that looked new.
	cookie := jarCookie(f, c, e.ts.URL)
	template := filepath.Join(f.TempDir(), "template.db")
	if err := e.db.Close(); err != nil {
		f.Fatal(err)
	}
	if err := copyFile(e.path, template); err != nil {
		f.Fatal(err)
	}
	limitMinimizing(f)
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, c := freshNode(t, template, e.clock, cookie)
		r := e.do(c, http.MethodPost, IngestPath, bytes.NewReader(body), auth...)
		if r.status >= 500 {
			t.Fatalf("ingest answered %d: %s", r.status, r.body)
		}
		if r.status == http.StatusOK {
			checkAccepted(t, e, c, body, r.body)
		}
		checkListings(t, e, c)
	})
}

// limitMinimizing bounds the time the fuzzer spends minimizing each new
// input to 3 s, unless -fuzzminimizetime is given. One input here takes
// milliseconds (a database, a web node, every listing), so minimizing a
// JSON batch of a few hundred bytes (quadratic in its length) would take
// the default minute each time, with no new executions meanwhile.
func limitMinimizing(f *testing.F) {
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "3s"); err != nil {
			f.Logf("cannot limit minimizing: %v", err)
		}
	}
}

// jarCookie returns the Cookie header c sends to base.
func jarCookie(tb testing.TB, c *http.Client, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, k := range c.Jar.Cookies(u) {
		parts = append(parts, k.String())
	}
	return strings.Join(parts, "; ")
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// freshNode opens a copy of template behind a web node served in process,
// and a client that reaches it with cookie.
func freshNode(t *testing.T, template string, clk *clock, cookie string) (*env, *http.Client) {
	path := filepath.Join(t.TempDir(), "web.db")
	if err := copyFile(template, path); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv, err := New(Config{DB: db, Token: testToken, MetricsToken: testScrape, Version: "test", Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, path: path, srv: srv, ts: &httptest.Server{URL: "http://pastmon.invalid"}, clock: clk}
	return e, &http.Client{Transport: inProcess{srv, cookie}}
}

// inProcess is a RoundTripper that serves requests with a handler.
type inProcess struct {
	h      http.Handler
	cookie string
}

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Cookie") == "" && p.cookie != "" {
		req.Header.Set("Cookie", p.cookie)
	}
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// checkAccepted reads back every window the answer does not refuse.
func checkAccepted(t *testing.T, e *env, c *http.Client, body []byte, answer string) {
	var ans ingestAnswer
	if err := json.Unmarshal([]byte(answer), &ans); err != nil {
		t.Fatalf("answer %q: %v", answer, err)
	}
	if ans.Duplicate {
		return
	}
	var wb wireBatch
	if err := json.Unmarshal(body, &wb); err != nil {
		t.Fatalf("accepted body does not decode: %v", err)
	}
	refused := map[int]bool{}
	for _, rj := range ans.Rejected {
		refused[rj.Index] = true
	}
	if ans.Accepted+len(refused) != len(wb.Windows) {
		t.Fatalf("%d accepted + %d refused of %d windows", ans.Accepted, len(refused), len(wb.Windows))
	}
	for i, raw := range wb.Windows {
		var s window.Summary
		if refused[i] || json.Unmarshal(raw, &s) != nil {
			continue
		}
		v := url.Values{"server": {s.Server.String()}, "metric": {"rtt"},
			"from": {s.Start.Format(time.RFC3339)}, "to": {s.Start.Add(window.Width).Format(time.RFC3339)}}
		r := e.do(c, http.MethodGet, "/api/v1/series?"+v.Encode(), nil)
		var got seriesJSON
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &got) != nil {
			t.Fatalf("series of accepted window %d: %d %s", i, r.status, r.body)
		}
		if n := s.Metrics[window.RTT].Count; n > 0 && (len(got.Points) != 1 || got.Points[0].Count < n) {
			t.Fatalf("accepted window %d (%d rtt values) reads back as %s", i, n, r.body)
		}
	}
}

// checkListings requires every listing and maintenance to work.
func checkListings(t *testing.T, e *env, c *http.Client) {
	for _, path := range []string{"/api/v1/servers", "/api/v1/servers?sort=connections&limit=1000", "/api/v1/servers?sort=server&q=10.",
		"/api/v1/sensors", "/", "/sensors"} {
		if r := e.do(c, http.MethodGet, path, nil); r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do(c, http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+testScrape); r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	if err := e.db.Maintain(t.Context(), e.clock.Now().Add(2*time.Hour), 0, 0); err != nil {
		t.Fatalf("maintain: %v", err)
	}
}
