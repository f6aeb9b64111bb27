package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// fixture ingests known values so that every figure the API returns can
// be computed here from the inputs.
type fixture struct {
	base             time.Time
	rttA0, rttA1     []float64 // server A, sensor s1, windows 0 and 1
	rttA0s2          []float64 // server A, sensor s2, window 0
	respA0           []float64
	connsS1, connsS2 uint64
}

const (
	serverA = "10.1.1.1:80"
	serverB = "[2001:db8::1]:5432"
	serverC = "10.3.3.3:6379"
)

func ingestFixture(t *testing.T, e *env) fixture {
	f := fixture{
		base:    window.Start(e.clock.Now()).Add(-30 * time.Minute),
		rttA0:   seq(1000, 10, 50),
		rttA1:   seq(1100, 10, 50),
		rttA0s2: seq(2000, 20, 30),
		respA0:  seq(5000, 100, 20),
		connsS1: 7, connsS2: 4,
	}
	e.ingest(batch("f-1", "s1",
		summary(serverA, f.base, f.connsS1, f.rttA0, f.respA0),
		summary(serverA, f.base.Add(window.Width), f.connsS1, f.rttA1, nil)))
	e.ingest(batch("f-2", "s2",
		summary(serverA, f.base, f.connsS2, f.rttA0s2, nil),
		summary(serverB, f.base, 1, []float64{300}, nil)))
	return f
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// checkDigest compares a JSON digest with the exact figures of values;
// quantiles may differ by the sketch's relative accuracy around the rank.
func checkDigest(t *testing.T, what string, got window.Stats, values []float64) {
	t.Helper()
	v := slices.Sorted(slices.Values(values))
	if got.Count != uint64(len(v)) || got.Min == nil || *got.Min != v[0] || *got.Max != v[len(v)-1] ||
		math.Abs(*got.Avg-mean(v)) > 1e-3 {
		t.Errorf("%s: count %d min %v max %v avg %v, want %d %v %v %v", what, got.Count, ptr(got.Min), ptr(got.Max), ptr(got.Avg), len(v), v[0], v[len(v)-1], mean(v))
		return
	}
	for _, q := range []struct {
		q   float64
		got *float64
	}{{0.5, got.P50}, {0.95, got.P95}, {0.99, got.P99}} {
		rank := q.q * float64(len(v)-1)
		lo := v[max(0, int(math.Floor(rank))-1)] * (1 - window.RelativeAccuracy)
		hi := v[min(len(v)-1, int(math.Ceil(rank))+1)] * (1 + window.RelativeAccuracy)
		if q.got == nil || *q.got < lo || *q.got > hi {
			t.Errorf("%s: p%v = %v, want within [%v, %v]", what, q.q*100, ptr(q.got), lo, hi)
		}
	}
}

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestAPIServers(t *testing.T) {
	e := newEnv(t, testAdminPW)
	f := ingestFixture(t, e)
	c, _ := e.loggedIn()
	r := e.do(c, "GET", "/api/v1/servers", nil)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got struct {
		Servers []struct {
			Server   string                  `json:"server"`
			Service  string                  `json:"service"`
			Sensors  []string                `json:"sensors"`
			Conns    uint64                  `json:"connections"`
			Metrics  map[string]window.Stats `json:"metrics"`
			LastSeen time.Time               `json:"last_seen"`
			Spark    []struct {
				T      time.Time `json:"t"`
				RTTAvg *float64  `json:"rtt_avg_us"`
				Conns  uint64    `json:"connections"`
			} `json:"spark"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Servers) != 2 {
		t.Fatalf("%d servers, want 2: %s", len(got.Servers), r.body)
	}
	byAddr := map[string]int{}
	for i, s := range got.Servers {
		byAddr[s.Server] = i
	}
	a, b := got.Servers[byAddr[serverA]], got.Servers[byAddr[serverB]]
	if a.Service != "http" || b.Service != "postgresql" {
		t.Errorf("services %q %q, want http postgresql", a.Service, b.Service)
	}
	if !slices.Equal(a.Sensors, []string{"s1", "s2"}) || !slices.Equal(b.Sensors, []string{"s2"}) {
		t.Errorf("sensors %v %v", a.Sensors, b.Sensors)
	}
	if a.Conns != 2*f.connsS1+f.connsS2 {
		t.Errorf("connections %d, want %d", a.Conns, 2*f.connsS1+f.connsS2)
	}
	checkDigest(t, "A rtt", a.Metrics["rtt"], slices.Concat(f.rttA0, f.rttA1, f.rttA0s2))
	checkDigest(t, "A response_time", a.Metrics["response_time"], f.respA0)
	if m := a.Metrics["connect_time"]; m.Count != 0 || m.Avg != nil {
		t.Errorf("connect_time without samples: %+v, want count 0 and nulls", m)
	}
	if !a.LastSeen.Equal(f.base.Add(window.Width)) {
		t.Errorf("last seen %v, want %v", a.LastSeen, f.base.Add(window.Width))
	}
	if len(a.Spark) != 2 || !a.Spark[0].T.Equal(f.base) || a.Spark[0].Conns != f.connsS1+f.connsS2 ||
		math.Abs(*a.Spark[1].RTTAvg-mean(f.rttA1)) > 1e-3 {
		t.Errorf("spark %+v", a.Spark)
	}
}

func TestAPISeries(t *testing.T) {
	e := newEnv(t, testAdminPW)
	f := ingestFixture(t, e)
	type point struct {
		T time.Time `json:"t"`
		window.Stats
		window.Counters
	}
	type series struct {
		Server, Metric string
		Step           int64 `json:"step_s"`
		Points         []point
	}
	c, _ := e.loggedIn()
	get := func(q url.Values) (series, reply) {
		r := e.do(c, "GET", "/api/v1/series?"+q.Encode(), nil)
		var s series
		if r.status == http.StatusOK {
			if err := json.Unmarshal([]byte(r.body), &s); err != nil {
				t.Fatal(err)
			}
		}
		return s, r
	}
	rng := func(server, metric, sensor string) url.Values {
		q := url.Values{"server": {server}, "metric": {metric},
			"from": {f.base.Add(-window.Width).Format(time.RFC3339)}, "to": {f.base.Add(3 * window.Width).Format(time.RFC3339)}}
		if sensor != "" {
			q.Set("sensor", sensor)
		}
		return q
	}

	s, r := get(rng(serverA, "rtt", ""))
	if r.status != 200 || s.Step != 300 || s.Server != serverA || s.Metric != "rtt" || len(s.Points) != 2 {
		t.Fatalf("rtt series: %d %s", r.status, r.body)
	}
	if !s.Points[0].T.Equal(f.base) || !s.Points[1].T.Equal(f.base.Add(window.Width)) {
		t.Errorf("point times %v %v", s.Points[0].T, s.Points[1].T)
	}
	checkDigest(t, "window 0, all sensors", s.Points[0].Stats, slices.Concat(f.rttA0, f.rttA0s2))
	checkDigest(t, "window 1", s.Points[1].Stats, f.rttA1)
	if s.Points[0].Connections != f.connsS1+f.connsS2 || s.Points[1].Connections != f.connsS1 {
		t.Errorf("connections %d %d", s.Points[0].Connections, s.Points[1].Connections)
	}
	if !strings.Contains(r.body, `"avg_us"`) || !strings.Contains(r.body, `"p99_us"`) {
		t.Errorf("field names differ from DESIGN.md: %s", r.body)
	}

	s, _ = get(rng(serverA, "rtt", "s2"))
	if len(s.Points) != 1 {
		t.Fatalf("sensor s2: %d points, want 1", len(s.Points))
	}
	checkDigest(t, "sensor s2", s.Points[0].Stats, f.rttA0s2)

	s, r = get(rng(serverA, "response_time", ""))
	checkDigest(t, "response_time", s.Points[0].Stats, f.respA0)
	if s.Points[1].Count != 0 || s.Points[1].Avg != nil || !strings.Contains(r.body, `"avg_us":null`) {
		t.Errorf("window without responses: %+v, want count 0 and null digest", s.Points[1])
	}

	if s, r = get(rng("10.9.9.9:1", "rtt", "")); r.status != 200 || len(s.Points) != 0 {
		t.Errorf("unknown server: %d %s, want 200 with no points", r.status, r.body)
	}

	bad := []struct {
		name string
		q    url.Values
		msg  string
	}{
		{"no server", url.Values{"metric": {"rtt"}}, "server"},
		{"server without port", url.Values{"server": {"10.1.1.1"}}, "ip:port"},
		{"unknown metric", url.Values{"server": {serverA}, "metric": {"latency"}}, "metric"},
		{"bad from", url.Values{"server": {serverA}, "from": {"yesterday"}}, "from"},
		{"bad to", url.Values{"server": {serverA}, "to": {"1700000000"}}, "to"},
		{"from after to", url.Values{"server": {serverA}, "from": {"2026-01-02T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}}, "before"},
		{"too long", url.Values{"server": {serverA}, "from": {"2000-01-01T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}}, "longer"},
	}
	for _, tc := range bad {
		if _, r := get(tc.q); r.status != http.StatusBadRequest || !strings.Contains(r.body, tc.msg) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, r.status, r.body, tc.msg)
		}
	}
}

// TestAPISeriesHourly checks that long ranges read the hourly rollups.
func TestAPISeriesHourly(t *testing.T) {
	e := newEnv(t, testAdminPW)
	hour := e.clock.Now().Truncate(time.Hour).Add(-5 * time.Hour)
	var all []float64
	var sums []window.Summary
	for i := 0; i < 12; i++ { // one whole hour of windows
		v := seq(100*float64(i+1), 1, 10)
		all = append(all, v...)
		sums = append(sums, summary(serverC, hour.Add(time.Duration(i)*window.Width), 2, v, nil))
	}
	e.ingest(batch("h-1", "s1", sums...))
	if err := e.db.Maintain(context.Background(), e.clock.Now(), 1000*time.Hour, 10000*time.Hour); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"server": {serverC}, "metric": {"rtt"},
		"from": {e.clock.Now().Add(-7 * 24 * time.Hour).Format(time.RFC3339)}, "to": {e.clock.Now().Format(time.RFC3339)}}
	c, _ := e.loggedIn()
	r := e.do(c, "GET", "/api/v1/series?"+q.Encode(), nil)
	var s struct {
		Step   int64 `json:"step_s"`
		Points []struct {
			T time.Time `json:"t"`
			window.Stats
			window.Counters
		}
	}
	if err := json.Unmarshal([]byte(r.body), &s); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if s.Step != 3600 || len(s.Points) != 1 || !s.Points[0].T.Equal(hour) || s.Points[0].Connections != 24 {
		t.Fatalf("hourly series: %s", r.body)
	}
	checkDigest(t, "hour", s.Points[0].Stats, all)
}

func TestPagesShowData(t *testing.T) {
	e := newEnv(t, testAdminPW)
	ingestFixture(t, e)
	c, _ := e.loggedIn()
	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{`href="/servers/10.1.1.1:80?range=1h"`, "http", "s1, s2", `<polyline points="`, "[2001:db8::1]:5432", "postgresql"}},
		{"/servers/" + url.PathEscape(serverA), []string{`data-server="10.1.1.1:80"`, `<option value="s1">`, `<option value="s2">`, "uPlot.iife.min.js"}},
		{"/servers/" + url.PathEscape(serverB), []string{`data-server="[2001:db8::1]:5432"`}},
		{"/sensors", []string{"s1", "s2", "online"}},
		{"/users", []string{"admin", `id="add-user"`}},
	}
	for _, tc := range tests {
		r := e.get(c, tc.path)
		if r.status != http.StatusOK {
			t.Errorf("%s: %d", tc.path, r.status)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s does not contain %q", tc.path, w)
			}
		}
	}
	// A server last seen 3 hours ago is in the 6-hour overview only.
	e.ingest(batch("old-1", "s1", summary("10.4.4.4:22", window.Start(e.clock.Now()).Add(-3*time.Hour), 1, []float64{10}, nil)))
	for _, tc := range []struct {
		path string
		want bool
	}{{"/", false}, {"/?range=1h", false}, {"/?range=6h", true}, {"/?range=24h", true}, {"/?range=bogus", false}} {
		r := e.get(c, tc.path)
		if got := strings.Contains(r.body, "10.4.4.4:22"); r.status != http.StatusOK || got != tc.want {
			t.Errorf("%s: %d, shows the 3-hour-old server: %v, want %v", tc.path, r.status, got, tc.want)
		}
	}
	if r := e.get(c, "/servers/not-an-address"); r.status != http.StatusBadRequest {
		t.Errorf("bad server address: %d, want 400", r.status)
	}
	// A sensor silent for longer than two windows shows offline.
	e.clock.Add(3 * window.Width)
	if r := e.get(c, "/sensors"); strings.Contains(r.body, ">online<") || !strings.Contains(r.body, ">offline<") {
		t.Errorf("sensors after 15 silent minutes still online")
	}
}

func TestSensorClockSkew(t *testing.T) {
	e := newEnv(t, testAdminPW)
	now := e.clock.Now()
	const skew = 90 * time.Minute
	// A sensor whose clock runs 90 minutes ahead sends a window of its
	// "current" time: it is stored, and its skew shows.
	ahead := batch("skew-1", "fast", summary(serverA, window.Start(now.Add(skew)), 3, []float64{100}, nil))
	ahead.Sensor.Clock = now.Add(skew)
	ahead.Sensor.WindowsRejected, ahead.Sensor.SpoolCorrupt = 3, 2
	e.ingest(ahead)
	e.ingest(batch("skew-2", "noclock"))
	c, _ := e.loggedIn()
	r := e.do(c, "GET", "/api/v1/sensors", nil)
	var got struct {
		Sensors []struct {
			Name     string   `json:"name"`
			Skew     *float64 `json:"clock_skew_s"`
			Rejected uint64   `json:"windows_rejected"`
			Corrupt  uint64   `json:"spool_corrupt"`
		} `json:"sensors"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got.Sensors) != 2 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	fast, noclock := got.Sensors[0], got.Sensors[1]
	if fast.Skew == nil || math.Abs(*fast.Skew-skew.Seconds()) > 5 || fast.Rejected != 3 || fast.Corrupt != 2 {
		t.Errorf("fast sensor: %s", r.body)
	}
	if noclock.Skew != nil {
		t.Errorf("sensor without a clock has skew %v", *noclock.Skew)
	}
	if page := e.get(c, "/sensors"); !strings.Contains(page.body, `warn" title="sensor clock minus this web node's clock">&#43;1h30m0s<`) {
		t.Errorf("sensors page does not show the skew:\n%s", page.body)
	}
	from := url.QueryEscape(window.Start(now.Add(skew)).Format(time.RFC3339))
	to := url.QueryEscape(now.Add(skew + time.Hour).Format(time.RFC3339))
	if r := e.do(c, "GET", "/api/v1/servers?from="+from+"&to="+to, nil); !strings.Contains(r.body, serverA) {
		t.Errorf("window 90 minutes ahead not stored: %s", r.body)
	}
}

// TestAPIServersBounded checks limit, sort, q and matched, and that the
// overview pages.
func TestAPIServersBounded(t *testing.T) {
	e := newEnv(t, testAdminPW)
	start := window.Start(e.clock.Now()).Add(-window.Width)
	const n = 230
	conns := map[string]uint64{}
	resp := map[string]float64{}
	var sums []window.Summary
	for i := range n {
		addr := fmt.Sprintf("10.9.%d.%d:80", i/100, i%100)
		conns[addr] = uint64((i*37)%n + 1)
		resp[addr] = float64((i*53)%n+1) * 100
		sums = append(sums, summary(addr, start, conns[addr], nil, []float64{resp[addr]}))
	}
	e.ingest(batch("many", "s1", sums...))
	c, _ := e.loggedIn()
	get := func(q string) (int, int, []string) {
		r := e.do(c, "GET", "/api/v1/servers?"+q, nil)
		var got struct {
			Matched int `json:"matched"`
			Servers []struct {
				Server string `json:"server"`
			} `json:"servers"`
		}
		if r.status == http.StatusOK {
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		for _, s := range got.Servers {
			names = append(names, s.Server)
		}
		return r.status, got.Matched, names
	}
	byKey := func(key func(a string) float64) []string {
		var all []string
		for a := range conns {
			all = append(all, a)
		}
		slices.SortFunc(all, func(a, b string) int { return cmp.Compare(key(b), key(a)) })
		return all
	}
	if st, m, names := get(""); st != 200 || m != n || len(names) != 100 {
		t.Errorf("default: %d matched %d, %d servers; want %d matched, 100 listed", st, m, len(names), n)
	}
	if _, _, names := get("sort=connections&limit=7"); !slices.Equal(names, byKey(func(a string) float64 { return float64(conns[a]) })[:7]) {
		t.Errorf("sort=connections: %v", names)
	}
	if _, _, names := get("sort=worst&limit=5"); !slices.Equal(names, byKey(func(a string) float64 { return resp[a] })[:5]) {
		t.Errorf("sort=worst: %v", names)
	}
	if _, m, names := get("q=10.9.1.&limit=1000&sort=server"); m != 100 || len(names) != 100 || names[0] != "10.9.1.0:80" || names[1] != "10.9.1.1:80" {
		t.Errorf("q: matched %d, %v", m, names)
	}
	for _, bad := range []string{"limit=1001", "limit=0", "limit=x", "sort=best", "offset=-1"} {
		if st, _, _ := get(bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, st)
		}
	}
	page := e.get(c, "/")
	if got := overviewServers(page.body); len(got) != overviewPage || !strings.Contains(page.body, `id="next"`) || !strings.Contains(page.body, fmt.Sprintf("of %d", n)) {
		t.Errorf("overview: %d servers listed, want %d and a next page", len(got), overviewPage)
	}
	lastPage := (n + overviewPage - 1) / overviewPage
	last := e.get(c, fmt.Sprintf("/?range=1h&page=%d", lastPage))
	if got := overviewServers(last.body); len(got) != n-(lastPage-1)*overviewPage || strings.Contains(last.body, `id="next"`) || !strings.Contains(last.body, `id="prev"`) {
		t.Errorf("overview page %d: %d servers listed, want %d and no next page", lastPage, len(got), n-(lastPage-1)*overviewPage)
	}
}
