package web

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
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

// TestBrowser drives the real pages in headless Chromium: forced password
// change, the overview listing a server ingested through the ingest API,
// non-empty charts on the server page, and logout.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	e := newEnv(t, "") // first start: admin/admin
	const server = "10.20.30.40:8080"
	now := e.clock.Now()
	var sums []window.Summary
	for i := 1; i <= 24; i++ {
		start := window.Start(now).Add(-time.Duration(i) * window.Width)
		base := 800 + 300*math.Sin(float64(i)/3)
		s := summary(server, start, uint64(20+i), seq(base, 15, 40), seq(4*base, 40, 30))
		s.Refused, s.Retransmits = uint64(i%4), uint64(i%7)
		sums = append(sums, s)
	}
	e.ingest(batch("browser-1", "browser-sensor", sums...))

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	problems := watchConsole(ctx)

	dir := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "web-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage:\n%.3000s", what, err, html)
		}
	}
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			if i := strings.Index(html, `<div class="charts">`); i > 0 {
				html = html[:i] // the charts' markup says nothing useful
			}
			t.Fatalf("waiting for %s: %v\npage:\n%.3000s", what, err, html)
		}
	}

	step("open the overview anonymously", chromedp.Navigate(e.ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-form")))
	shot("login")
	step("log in as admin/admin",
		chromedp.SendKeys(chromedp.ID("username"), "admin"), chromedp.SendKeys(chromedp.ID("password"), "admin"),
		chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("must-change")))
	shot("password")
	step("the overview is still refused", chromedp.Navigate(e.ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("must-change")))
	if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body"))); strings.Contains(html, server) {
		t.Fatal("the overview showed data before the password was changed")
	}
	step("change the password",
		chromedp.SendKeys(chromedp.ID("current"), "admin"), chromedp.SendKeys(chromedp.ID("new"), testNewAdmin),
		chromedp.SendKeys(chromedp.ID("confirm"), testNewAdmin), chromedp.Click(chromedp.ID("change")),
		chromedp.WaitVisible(chromedp.ID("servers")))
	waitFor("the server in the overview", `document.querySelector('#servers a[href="/servers/`+server+`"]') !== null`)
	waitFor("its sparkline", `document.querySelector('#servers svg.spark polyline') !== null`)
	shot("overview")
	step("filter the overview", chromedp.SendKeys(chromedp.ID("filter"), "no-such-server"))
	waitFor("the row to hide", `document.querySelector('#servers tbody tr').hidden`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById('filter'); f.value = ''; return true })()`)); err != nil {
		t.Fatal(err)
	}
	step("filter by sensor name", chromedp.SendKeys(chromedp.ID("filter"), "browser-sen"))
	waitFor("the row to show", `!document.querySelector('#servers tbody tr').hidden`)

	step("open the server", chromedp.Click(chromedp.CSS(`#servers a[href="/servers/`+server+`"]`)), chromedp.WaitVisible(chromedp.ID("chart-rtt")))
	waitFor("the charts", `document.querySelector('#server').getAttribute('data-points') > 0 && !document.querySelector('#server').hasAttribute('data-loading')`)
	for _, c := range []struct{ id, color string }{
		{"chart-rtt", "37,99,235"}, {"chart-response", "22,163,74"}, {"chart-transfer", "147,51,234"}, {"chart-counters", "37,99,235"},
	} {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](seriesPixelsJS(c.id, c.color)))
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		// The two ingested hours span about 40 px of the 24-hour chart.
		if n < 40 {
			t.Errorf("%s: %d pixels of its series colour, want a drawn line", c.id, n)
		}
	}
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#server').getAttribute('data-points')`)); got != "24" {
		t.Errorf("server page drew %s windows, want the 24 ingested", got)
	}
	shot("server")

	// Drag across the right part of the RTT chart: the range narrows to the
	// selection and the charts reload.
	rect, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector('#chart-rtt .u-over').getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`))
	if err != nil || len(rect) != 4 {
		t.Fatalf("chart position: %v %v", rect, err)
	}
	y, x0, x1 := rect[1]+rect[3]/2, rect[0]+0.8*rect[2], rect[0]+0.98*rect[2]
	pressed := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	drag := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MouseMoved, x0, y), chromedp.MouseEvent(chromedp.MousePressed, x0, y, pressed)}
	for i := 1; i <= 10; i++ {
		drag = append(drag, chromedp.MouseEvent(chromedp.MouseMoved, x0+(x1-x0)*float64(i)/10, y, pressed))
	}
	step("drag to zoom", append(drag, chromedp.MouseEvent(chromedp.MouseReleased, x1, y, pressed))...)
	waitFor("the zoomed range", `!document.querySelector('#presets button.on') && !document.querySelector('#server').hasAttribute('data-loading')`)
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.ID("server")))
	if err != nil {
		t.Fatal(err)
	}
	from, to := unixAttr(t, attrs["data-from"]), unixAttr(t, attrs["data-to"])
	// From 80% to 98% of the last 24 hours, give or take a few pixels
	// (one is 2.6 minutes).
	wantFrom, wantTo := now.Add(-24*time.Hour+time.Duration(0.8*24*float64(time.Hour))), now.Add(-24*time.Hour+time.Duration(0.98*24*float64(time.Hour)))
	if (from.Sub(wantFrom)).Abs() > 15*time.Minute || (to.Sub(wantTo)).Abs() > 15*time.Minute {
		t.Errorf("zoomed to %s – %s, want about %s – %s", from, to, wantFrom, wantTo)
	}
	shot("server-zoomed")

	step("preset 1h", chromedp.Click(chromedp.CSS(`#presets button[data-range="1h"]`)))
	waitFor("the 1h range", `document.querySelector('#presets button.on').getAttribute('data-range') === '1h' && !document.querySelector('#server').hasAttribute('data-loading')`)
	attrs, err = chromedp.Run(ctx, chromedp.Attributes(chromedp.ID("server")))
	if err != nil {
		t.Fatal(err)
	}
	from, to = unixAttr(t, attrs["data-from"]), unixAttr(t, attrs["data-to"])
	if to.Sub(from) != time.Hour {
		t.Errorf("1h preset shows %s to %s", from, to)
	}
	want := 0
	for _, s := range sums {
		if !s.Start.Before(from) && s.Start.Before(to) {
			want++
		}
	}
	if got := attrs["data-points"]; got != strconv.Itoa(want) {
		t.Errorf("1h preset drew %s windows, want the %d that start in [%s, %s)", got, want, from, to)
	}

	step("sensors page", chromedp.Navigate(e.ts.URL+"/sensors"), chromedp.WaitVisible(chromedp.ID("sensors")))
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("sensors"))); !strings.Contains(txt, "browser-sensor") || !strings.Contains(txt, "online") {
		t.Errorf("sensors page: %q", txt)
	}
	shot("sensors")
	step("users page", chromedp.Navigate(e.ts.URL+"/users"), chromedp.WaitVisible(chromedp.ID("users")))
	shot("users")

	step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	for _, p := range []string{"/", "/sensors", "/servers/" + server} {
		step("after logout "+p, chromedp.Navigate(e.ts.URL+p), chromedp.WaitVisible(chromedp.ID("login-form")))
		if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, "browser-sensor") || strings.Contains(html, "chart-rtt") {
			t.Errorf("%s after logout shows data", p)
		}
	}
	for _, p := range problems() {
		t.Errorf("browser console: %s", p)
	}
	t.Logf("screenshots in %s", dir)
}

func unixAttr(t *testing.T, v string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("time attribute %q: %v", v, err)
	}
	return time.Unix(n, 0)
}

// seriesPixelsJS counts the pixels of one chart's canvas that have the
// given series colour (r,g,b), allowing for anti-aliasing.
func seriesPixelsJS(id, rgb string) string {
	return `(() => {
  const c = document.querySelector('#` + id + ` canvas');
  if (!c) return -1;
  const want = [` + rgb + `];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i+3] > 200 && Math.abs(d[i]-want[0]) < 25 && Math.abs(d[i+1]-want[1]) < 25 && Math.abs(d[i+2]-want[2]) < 25) n++;
  }
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
		return append([]string(nil), out...)
	}
}
