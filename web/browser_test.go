package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/pastmon/pastmon/capture/window"
)

// chromiumPath finds Debian's chromium, or skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no chromium in PATH (scripts/test-deps.sh installs it)")
	return ""
}

// artifactsDir is where the screenshots go: $PASTMON_ARTIFACTS or a
// temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("PASTMON_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// requestLog records the paths and queries the browser asked for.
type requestLog struct {
	mu   sync.Mutex
	reqs []*url.URL
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.URL)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// since returns the requests to path made after the first n.
func (l *requestLog) since(n int, path string) []*url.URL {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*url.URL
	for _, u := range l.reqs[n:] {
		if u.Path == path {
			out = append(out, u)
		}
	}
	return out
}

func (l *requestLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.reqs) }

// browser drives one headless Chromium window against a test server.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	dir   string
	width int
	log   *requestLog
}

func newBrowser(t *testing.T, e *env, width, height int) *browser {
	exe := chromiumPath(t)
	log := &requestLog{}
	ts := httptest.NewServer(log.wrap(e.srv))
	t.Cleanup(ts.Close)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
		// A zone off UTC by a fraction of an hour, so the zone switch shows.
		chromedp.Env("TZ=Asia/Kolkata"))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &browser{t: t, ctx: ctx, base: ts.URL, dir: artifactsDir(t), width: width, log: log}
	b.step("start chromium", chromedp.Navigate("about:blank"),
		chromedp.EmulateViewport(int64(width), int64(height)))
	return b
}

func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage:\n%.3000s", what, err, html)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.step("open "+path, chromedp.Navigate(b.base+path))
}

func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	var err error
	for range 5 { // a navigation ends a poll: poll the new page
		if _, err = chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err == nil || !(strings.Contains(err.Error(), "navigated") || strings.Contains(err.Error(), "context with specified id")) {
			break
		}
	}
	if err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("waiting for %s: %v\npage:\n%.4000s", what, err, html)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.dir, fmt.Sprintf("web-%d-%s.png", b.width, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// noOverflow fails unless the page fits the window's width.
func (b *browser) noOverflow(page string) {
	b.t.Helper()
	w := eval[[]float64](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]`)
	if w[0] > w[1] || w[2] > w[1] {
		wide := eval[string](b, `(() => { const vw = document.documentElement.clientWidth; const out = [];
  document.querySelectorAll('body *').forEach(el => { const r = el.getBoundingClientRect(); if (r.right > vw + 1 && out.length < 5) out.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + Math.round(r.right)); });
  return out.join('; ') })()`)
		b.t.Errorf("%s at %d px: page is %v px wide, window %v: scrolls horizontally (%s)", page, b.width, w[0], w[1], wide)
	}
}

// loginThrough opens a deep link anonymously and logs in as admin/admin,
// changing the password on the way, and checks that it lands on the link.
func (b *browser) loginThrough(deep string) {
	b.t.Helper()
	b.open(deep)
	b.step("the login form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if u := eval[string](b, `location.pathname + location.search`); u != "/login?next="+url.QueryEscape(deep) {
		b.t.Errorf("anonymous %s went to %s", deep, u)
	}
	b.noOverflow("login")
	b.shot("login")
	b.step("log in as admin/admin",
		chromedp.SendKeys(chromedp.ID("username"), "admin"), chromedp.SendKeys(chromedp.ID("password"), "admin"),
		chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("must-change")))
	b.noOverflow("password")
	b.shot("password")
	b.step("change the password",
		chromedp.SendKeys(chromedp.ID("current"), "admin"), chromedp.SendKeys(chromedp.ID("new"), testNewAdmin),
		chromedp.SendKeys(chromedp.ID("confirm"), testNewAdmin), chromedp.Click(chromedp.ID("change")))
	b.waitFor("the deep link after login", `location.pathname + location.search === `+strconv.Quote(deep))
}

// browserFixture is a day of an HTTP server with known figures, a quiet
// server and a closed-port bucket.
type browserFixture struct {
	server, slow string
	sums         []window.Summary
}

func ingestBrowserFixture(t *testing.T, e *env) browserFixture {
	f := browserFixture{server: "10.20.30.40:8080", slow: "10.20.30.41:5432"}
	now := e.clock.Now()
	for i := 1; i <= 24; i++ {
		start := window.Start(now).Add(-time.Duration(i) * window.Width)
		base := 800 + 300*math.Sin(float64(i)/3)
		s := summary(f.server, start, uint64(20+i), seq(base, 15, 40), seq(4*base, 40, 30))
		s.Metrics[window.TransferTime] = window.Dist{}
		for _, v := range seq(4.4*base, 44, 30) {
			s.Metrics[window.TransferTime].Add(v)
		}
		for _, v := range seq(base/3, 5, 40) {
			s.Metrics[window.RTTClient].Add(v)
		}
		for _, v := range seq(2*base/3, 5, 40) {
			s.Metrics[window.RTTServer].Add(v)
		}
		s.Refused, s.Retransmits = uint64(i%4), uint64(i%7)
		s.Protocol = "http"
		// The 30 responses: 20 GET /users/:id (2 of them 404), 10 POST /login (1 a 500).
		get := window.Operation{Name: "GET /users/:id", Count: 20, OK: 18, ClientError: 2}
		post := window.Operation{Name: "POST /login", Count: 10, OK: 9, ServerError: 1}
		for k, v := range seq(4*base, 40, 30) {
			if k%3 == 2 {
				post.ResponseTime.Add(v)
			} else {
				get.ResponseTime.Add(v)
			}
		}
		s.Operations = []window.Operation{get, post}
		s.Statuses = map[string]uint64{"200": 27, "404": 2, "500": 1}
		f.sums = append(f.sums, s)
		if i%3 == 0 {
			f.sums = append(f.sums, summary(f.slow, start, 3, seq(300, 10, 5), seq(90000, 1000, 10)))
		}
	}
	// A scanned host: its closed ports fold into one bucket line.
	scan := window.Summary{Server: netip.MustParseAddrPort("10.20.30.99:0"), Start: window.Start(now).Add(-window.Width)}
	scan.Connections, scan.Refused, scan.Unanswered = 900, 600, 300
	f.sums = append(f.sums, scan)
	e.ingest(batch("browser-1", "browser-sensor", f.sums...))
	return f
}

// TestBrowserDesktop drives the pages at 1400 px: a deep link through the
// login and the forced password change, the overview worst first, the
// server page's charts drawn, zoom kept in the URL across a reload, the
// operation filter, and an expired session shown on the charts.
func TestBrowserDesktop(t *testing.T) {
	e := newEnv(t, "")
	f := ingestBrowserFixture(t, e)
	b := newBrowser(t, e, 1400, 1000)
	problems := watchConsole(b.ctx)

	deep := "/servers/" + f.server + "?range=6h"
	b.loginThrough(deep)
	b.waitFor("the charts", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	b.checkServerCharts(f)
	b.shot("server")

	// Zoom: drag across the right part of the breakdown chart.
	b.dragChart("#chart-breakdown", 0.5, 0.95)
	b.waitFor("the zoomed range", `!document.querySelector('#presets button.on') && !document.querySelector('#server').hasAttribute('data-loading')`)
	zoomed := eval[string](b, `location.search`)
	q, _ := url.ParseQuery(strings.TrimPrefix(zoomed, "?"))
	from, err1 := time.Parse(time.RFC3339, q.Get("from"))
	to, err2 := time.Parse(time.RFC3339, q.Get("to"))
	if err1 != nil || err2 != nil || !to.After(from) || to.Sub(from) > 4*time.Hour || q.Get("range") != "" {
		t.Fatalf("zoom left the URL %q, want from and to of about 3 hours", zoomed)
	}
	b.shot("server-zoomed")
	b.step("reload", chromedp.Reload())
	b.waitFor("the reloaded charts", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	attrs := eval[[]string](b, `[document.querySelector('#server').dataset.from, document.querySelector('#server').dataset.to, location.search]`)
	if unixAttr(t, attrs[0]).Unix() != from.Unix() || unixAttr(t, attrs[1]).Unix() != to.Unix() || attrs[2] != zoomed {
		t.Errorf("after reload: range %s – %s, URL %s; want %s – %s, %s", attrs[0], attrs[1], attrs[2], from, to, zoomed)
	}
	b.checkZoneSwitch()
	b.step("preset 24h", chromedp.Click(chromedp.CSS(`#presets button[data-range="24h"]`)))
	b.waitFor("the 24h range", `location.search.includes('range=24h') && !document.querySelector('#server').hasAttribute('data-loading')`)
	b.checkOperationFilter()

	// The overview: worst (highest p95 response) first.
	b.open("/")
	b.waitFor("the overview", `document.querySelector('#servers tbody tr') !== null`)
	order := eval[[]string](b, `[...document.querySelectorAll('#servers tbody tr td:first-child')].map(td => td.dataset.v)`)
	if len(order) != 2 || order[0] != f.slow {
		t.Errorf("overview order %v, want the slow %s first", order, f.slow)
	}
	b.checkOverviewMatchesAPI()
	b.shot("overview")
	// A custom range typed on the overview (UTC) travels as RFC 3339.
	from, to = e.clock.Now().Add(-3*time.Hour).UTC().Truncate(time.Minute), e.clock.Now().UTC().Truncate(time.Minute)
	b.step("type a custom range",
		chromedp.SetValue(chromedp.CSS(`#custom-range [name=from_text]`), from.Format("2006-01-02 15:04")),
		chromedp.SetValue(chromedp.CSS(`#custom-range [name=to_text]`), to.Format("2006-01-02 15:04")),
		chromedp.Click(chromedp.CSS(`#custom-range button`)))
	b.waitFor("the custom range", `location.search.includes('from=') && document.querySelector('#servers tbody tr') !== null`)
	q, _ = url.ParseQuery(strings.TrimPrefix(eval[string](b, `location.search`), "?"))
	if q.Get("from") != from.Format(time.RFC3339) || q.Get("to") != to.Format(time.RFC3339) {
		t.Errorf("custom range in the URL: %v, want %s – %s", q, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	for _, p := range []string{"/sensors", "/users"} {
		b.open(p)
		b.step("open "+p, chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.shot(strings.Trim(p, "/"))
	}

	// A range before the server was first seen: the charts say so, with a
	// link to where its data is.
	old := url.Values{"from": {e.clock.Now().Add(-30 * 24 * time.Hour).Format(time.RFC3339)}, "to": {e.clock.Now().Add(-29 * 24 * time.Hour).Format(time.RFC3339)}}
	b.open("/servers/" + f.server + "?" + old.Encode())
	b.waitFor("the empty charts", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	empty := eval[string](b, `document.querySelector('#chart-breakdown').parentNode.querySelector('.chart-msg').textContent`)
	if !strings.Contains(empty, "Never seen in this range") || !strings.Contains(empty, "show the day before") {
		t.Errorf("a range without data: chart says %q", empty)
	}
	b.shot("server-not-in-range")

	// An expired session: the next chart load says so on the charts.
	b.open(deep)
	b.waitFor("the charts", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	if err := e.db.DeleteUserSessions(t.Context(), "admin"); err != nil {
		t.Fatal(err)
	}
	b.step("preset 1h", chromedp.Click(chromedp.CSS(`#presets button[data-range="1h"]`)))
	b.waitFor("the session message", `[...document.querySelectorAll('.chart-msg.error')].length >= 5`)
	msg := eval[string](b, `document.querySelector('#chart-breakdown').parentNode.querySelector('.chart-msg').textContent`)
	if !strings.Contains(msg, "log in again") {
		t.Errorf("expired session: chart says %q, want log in again", msg)
	}
	if n := eval[int](b, `document.querySelectorAll('#chart-breakdown canvas').length`); n != 0 {
		t.Errorf("expired session: the old chart stays drawn under the new range (%d canvases)", n)
	}
	if v := eval[string](b, `document.getElementById('verdict').textContent`); v != "" {
		t.Errorf("expired session: the old verdict %q stays under the new range", v)
	}
	b.shot("server-expired")
	for _, p := range problems() {
		if !strings.Contains(p, "404") { // the operations API, until it lands
			t.Errorf("browser console: %s", p)
		}
	}
	t.Logf("screenshots in %s", b.dir)
}

// checkServerCharts checks that every chart is drawn with pixels of its
// series' colours and that the page says where the time goes.
func (b *browser) checkServerCharts(f browserFixture) {
	b.t.Helper()
	for _, c := range []struct{ sel, color string }{
		{"#chart-breakdown", "245,158,11"}, {"#chart-breakdown", "14,165,233"}, {"#chart-results", "22,163,74"},
		{"#heat-response", "220,38,38"}, {"#heat-rtt", "220,38,38"}, {"#chart-rtt", "37,99,235"}, {"#chart-response", "22,163,74"},
	} {
		if n := eval[int](b, colourPixelsJS(c.sel, c.color)); n < 100 {
			b.t.Errorf("%s: %d pixels of rgb(%s), want it drawn", c.sel, n, c.color)
		}
	}
	verdict := eval[string](b, `document.getElementById('verdict').textContent`)
	if !strings.Contains(verdict, "% of the time is the server") {
		b.t.Errorf("verdict %q, want the server named", verdict)
	}
	// The server's share from the ingested values: its own time (response
	// − rtt_server) over the whole (rtt_client + transfer), means over the
	// range, which holds every window of the fixture.
	mean := func(m window.Metric) float64 {
		var d window.Dist
		for i := range f.sums {
			if f.sums[i].Server.String() == f.server {
				d.Merge(&f.sums[i].Metrics[m])
			}
		}
		return d.Avg()
	}
	want := 100 * (mean(window.ResponseTime) - mean(window.RTTServer)) / (mean(window.RTTClient) + mean(window.TransferTime))
	if got, err := strconv.ParseFloat(eval[string](b, `document.getElementById('verdict').dataset.share`), 64); err != nil || math.Abs(got-want) > 0.06 {
		b.t.Errorf("verdict share %v%% (%v), want %.2f%% from the ingested values", got, err, want)
	}
	if n := eval[int](b, `document.querySelectorAll('.chart-msg:not([hidden])').length`); n != 0 {
		b.t.Errorf("%d charts show a message over a drawn chart: %s", n, eval[string](b, `[...document.querySelectorAll('.chart-msg:not([hidden])')].map(m => m.textContent).join(' | ')`))
	}
}

// checkZoneSwitch: times are UTC until the switch, then the browser's
// zone (UTC+05:30 here), in the same 24-hour format, and UTC again.
func (b *browser) checkZoneSwitch() {
	b.t.Helper()
	label := func() string { return eval[string](b, `document.getElementById('range-label').textContent`) }
	from := unixAttr(b.t, eval[string](b, `document.querySelector('#server').dataset.from`)).UTC()
	utc := label()
	if !strings.HasPrefix(utc, from.Format("2006-01-02 15:04")) || !strings.Contains(utc, " UTC.") {
		b.t.Errorf("range label %q, want it to start at %s in UTC", utc, from.Format("2006-01-02 15:04"))
	}
	b.step("switch to the browser's zone", chromedp.Click(chromedp.ID("tz")))
	b.waitFor("local times", `document.getElementById('range-label').textContent.includes('UTC+05:30') && !document.querySelector('#server').hasAttribute('data-loading')`)
	ist := from.In(time.FixedZone("IST", 5*3600+1800)).Format("2006-01-02 15:04")
	if got := label(); !strings.HasPrefix(got, ist) {
		b.t.Errorf("local range label %q, want it to start at %s", got, ist)
	}
	b.shot("server-local-time")
	b.step("back to UTC", chromedp.Click(chromedp.ID("tz")))
	b.waitFor("UTC times", `document.getElementById('range-label').textContent.endsWith(' UTC.') && !document.querySelector('#server').hasAttribute('data-loading')`)
}

// checkOperationFilter chooses the first operation of the table and checks
// that every series request then carries it.
func (b *browser) checkOperationFilter() {
	b.t.Helper()
	if n := eval[int](b, `document.querySelectorAll('#operations tbody tr').length`); n == 0 {
		if strings.Contains(eval[string](b, `document.getElementById('ops-msg').textContent`), "No such page") {
			b.t.Log("no operations: this web node has no /api/v1/operations yet")
			return
		}
		b.t.Fatalf("no operations listed: %s", eval[string](b, `document.getElementById('ops-msg').textContent`))
	}
	b.checkOperationsMatchAPI()
	// Sorting the table by name goes into the URL and survives a reload.
	b.step("sort the operations by name", chromedp.Click(chromedp.CSS(`#operations th[data-key="op"]`)))
	order := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll('#operations tbody tr')].map(tr => tr.dataset.op)`)
	}
	sorted := order()
	if !slices.IsSorted(sorted) || !strings.Contains(eval[string](b, `location.search`), "opsort=op%3Aasc") {
		b.t.Errorf("sorted by name: %v, URL %s", sorted, eval[string](b, `location.search`))
	}
	b.step("reload", chromedp.Reload())
	b.waitFor("the reloaded table", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	if got := order(); !slices.Equal(got, sorted) {
		b.t.Errorf("after reload the operations are %v, want %v", got, sorted)
	}
	op := eval[string](b, `document.querySelector('#operations tbody tr').dataset.op`)
	n := b.log.len()
	b.step("choose "+op, chromedp.Click(chromedp.CSS(`#operations tbody tr button.op-pick`)))
	b.waitFor("the filtered charts", `document.querySelector('#server').dataset.op === `+strconv.Quote(op)+` && !document.querySelector('#server').hasAttribute('data-loading')`)
	reqs := b.log.since(n, "/api/v1/series")
	if len(reqs) < 5 {
		b.t.Fatalf("choosing %s made %d series requests", op, len(reqs))
	}
	for _, u := range reqs {
		if u.Query().Get("operation") != op {
			b.t.Errorf("series request %s does not carry operation=%s", u, op)
		}
	}
	if !strings.Contains(eval[string](b, `location.search`), "op=") {
		b.t.Error("the operation is not in the URL")
	}
	b.shot("server-operation")
}

// checkOverviewMatchesAPI compares the overview's figures with what
// /api/v1/servers answers for the same range, fetched by the page itself.
func (b *browser) checkOverviewMatchesAPI() {
	b.t.Helper()
	type row struct {
		Server                   string
		Conns, P95Resp, ErrorPct float64
	}
	page := eval[[]row](b, `[...document.querySelectorAll('#servers tbody tr[data-server]')].map(tr => ({
  Server: tr.dataset.server, Conns: +tr.querySelector('[data-k=connections]').dataset.v,
  P95Resp: +tr.querySelector('[data-k=response_p95]').dataset.v, ErrorPct: +tr.querySelector('[data-k=errors]').dataset.v }))`)
	apiURL := eval[string](b, `document.getElementById('servers').dataset.api`)
	var api struct {
		Servers []apiServer `json:"servers"`
	}
	body, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (await fetch(`+strconv.Quote(apiURL)+`)).json()))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("fetch %s: %v", apiURL, err)
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		b.t.Fatalf("%s: %v\n%s", apiURL, err, body)
	}
	// The page folds the closed-port buckets (ip:0) into one line.
	var refused, unanswered float64
	api.Servers = slices.DeleteFunc(api.Servers, func(s apiServer) bool {
		if strings.HasSuffix(s.Server, ":0") {
			refused, unanswered = refused+s.Refused, unanswered+s.Unanswered
			return true
		}
		return false
	})
	if got := eval[[]float64](b, `(() => { const d = document.getElementById('buckets'); return d ? [+d.dataset.refused, +d.dataset.unanswered] : [0, 0] })()`); got[0] != refused || got[1] != unanswered {
		b.t.Errorf("closed-port buckets on the page: %v refused and unanswered, API %v and %v", got, refused, unanswered)
	}
	if len(page) == 0 || len(page) != len(api.Servers) {
		b.t.Fatalf("overview shows %d servers, API %d", len(page), len(api.Servers))
	}
	for i, p := range page {
		j := slices.IndexFunc(api.Servers, func(s apiServer) bool { return s.Server == p.Server })
		if j < 0 {
			b.t.Errorf("overview shows %s, the API does not", p.Server)
			continue
		}
		a := api.Servers[j]
		wantP95 := -1.0
		if s := a.Metrics["response_time"]; s.P95 != nil {
			wantP95 = *s.P95
		}
		wantErr := 0.0
		if a.Transactions > 0 {
			wantErr = 100 * (a.ClientErrors + a.ServerErrors) / a.Transactions
		}
		if p.Server != a.Server || p.Conns != a.Connections || math.Abs(p.P95Resp-wantP95) > 1e-6 || math.Abs(p.ErrorPct-wantErr) > 1e-6 {
			b.t.Errorf("overview row %d %+v, API says %s %v conns p95 %v errors %v%%", i, p, a.Server, a.Connections, wantP95, wantErr)
		}
	}
}

// checkOperationsMatchAPI compares the operations table with what
// /api/v1/operations answers for the page's range.
func (b *browser) checkOperationsMatchAPI() {
	b.t.Helper()
	type row struct {
		Op            string
		Count, Err    float64
		P50, P95, P99 float64
	}
	page := eval[[]row](b, `[...document.querySelectorAll('#operations tbody tr')].map(tr => ({ Op: tr.dataset.op,
  Count: +tr.cells[1].dataset.v, Err: +tr.cells[3].dataset.v, P50: +tr.cells[4].dataset.v, P95: +tr.cells[5].dataset.v, P99: +tr.cells[6].dataset.v }))`)
	apiURL := eval[string](b, `document.getElementById('operations').dataset.api`)
	body, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (await fetch(`+strconv.Quote(apiURL)+`)).json()))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("fetch %s: %v", apiURL, err)
	}
	var api struct {
		Operations []struct {
			Operation    string       `json:"operation"`
			Count        float64      `json:"count"`
			ClientError  float64      `json:"client_error"`
			ServerError  float64      `json:"server_error"`
			ResponseTime window.Stats `json:"response_time"`
		} `json:"operations"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		b.t.Fatalf("%s: %v\n%s", apiURL, err, body)
	}
	if len(page) != len(api.Operations) {
		b.t.Fatalf("operations table has %d rows, the API %d", len(page), len(api.Operations))
	}
	num := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	for _, a := range api.Operations {
		i := slices.IndexFunc(page, func(r row) bool { return r.Op == a.Operation })
		if i < 0 {
			b.t.Errorf("operation %s of the API is not in the table", a.Operation)
			continue
		}
		p, wantErr := page[i], 0.0
		if a.Count > 0 {
			wantErr = 100 * (a.ClientError + a.ServerError) / a.Count
		}
		rt := a.ResponseTime
		if p.Count != a.Count || math.Abs(p.Err-wantErr) > 1e-9 || p.P50 != num(rt.P50) || p.P95 != num(rt.P95) || p.P99 != num(rt.P99) {
			b.t.Errorf("table row %+v, API %+v", p, a)
		}
	}
}

type apiServer struct {
	Server       string                  `json:"server"`
	Connections  float64                 `json:"connections"`
	Refused      float64                 `json:"refused"`
	Unanswered   float64                 `json:"unanswered"`
	Transactions float64                 `json:"transactions"`
	ClientErrors float64                 `json:"client_errors"`
	ServerErrors float64                 `json:"server_errors"`
	Metrics      map[string]window.Stats `json:"metrics"`
}

// dragChart drags the mouse across a chart from fraction x0 to x1 of its
// plotting area.
func (b *browser) dragChart(sel string, x0, x1 float64) {
	b.t.Helper()
	rect := eval[[]float64](b, `(() => { const r = document.querySelector('`+sel+` .u-over').getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`)
	y, a, z := rect[1]+rect[3]/2, rect[0]+x0*rect[2], rect[0]+x1*rect[2]
	pressed := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	drag := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MouseMoved, a, y), chromedp.MouseEvent(chromedp.MousePressed, a, y, pressed)}
	for i := 1; i <= 10; i++ {
		drag = append(drag, chromedp.MouseEvent(chromedp.MouseMoved, a+(z-a)*float64(i)/10, y, pressed))
	}
	b.step("drag across "+sel, append(drag, chromedp.MouseEvent(chromedp.MouseReleased, z, y, pressed))...)
}

// TestBrowserPhone checks every page at 390 px: nothing scrolls
// sideways, and the overview's first screen shows latency and errors.
func TestBrowserPhone(t *testing.T) {
	e := newEnv(t, "")
	f := ingestBrowserFixture(t, e)
	b := newBrowser(t, e, 390, 844)
	problems := watchConsole(b.ctx)
	b.loginThrough("/")
	b.waitFor("the overview", `document.querySelector('#servers tbody tr') !== null`)
	b.noOverflow("overview")
	for _, k := range []string{"response_p95", "errors"} {
		r := eval[[]float64](b, `(() => { const r = document.querySelector('#servers tbody tr [data-k=`+k+`]').getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom, r.width] })()`)
		if r[4] == 0 || r[1] > 390 || r[3] > 844 {
			t.Errorf("overview at 390×844: column %s at %v, want it on the first screen", k, r)
		}
	}
	b.shot("overview")
	b.open("/servers/" + f.server)
	b.waitFor("the charts", `document.querySelector('#server') && !document.querySelector('#server').hasAttribute('data-loading')`)
	b.checkServerCharts(f)
	b.noOverflow("server")
	b.shot("server")
	for _, p := range []string{"/sensors", "/users", "/servers/10.9.9.9:1", "/no/such/page", "/servers/bad"} {
		b.open(p)
		b.step("open "+p, chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.noOverflow(p)
		b.shot(strings.NewReplacer("/", "-", ":", "_").Replace(strings.Trim(p, "/")))
	}
	b.open("/servers/10.9.9.9:1")
	if txt := eval[string](b, `document.querySelector('main').textContent`); !strings.Contains(txt, "never seen") {
		t.Errorf("unknown server page says %q, want never seen", txt)
	}
	for _, p := range problems() {
		if !strings.Contains(p, "404") && !strings.Contains(p, "400") {
			t.Errorf("browser console: %s", p)
		}
	}
}

func unixAttr(t *testing.T, v string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("time attribute %q: %v", v, err)
	}
	return time.Unix(n, 0)
}

// colourPixelsJS counts the pixels of the canvases under sel that have the
// given colour (r,g,b), allowing for anti-aliasing and translucency.
func colourPixelsJS(sel, rgb string) string {
	return `(() => {
  const want = [` + rgb + `];
  let n = 0;
  document.querySelectorAll('` + sel + ` canvas').forEach(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i+3] > 100 && Math.abs(d[i]-want[0]) < 30 && Math.abs(d[i+1]-want[1]) < 30 && Math.abs(d[i+2]-want[2]) < 30) n++;
    }
  });
  return n;
})()`
}

// watchConsole collects script exceptions, console errors and security
// (CSP) messages; failed loads of refused pages (401/403) are expected.
func watchConsole(ctx context.Context) func() []string {
	var mu sync.Mutex
	var out []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() && m.Source != "security" {
				continue
			}
			if m.Source == "network" && (strings.Contains(m.Text, "401") || strings.Contains(m.Text, "403")) {
				continue
			}
			mu.Lock()
			out = append(out, m.String())
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}
