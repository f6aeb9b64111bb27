package web

import (
	"flag"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pastmon/pastmon/capture/window"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMetrics(t *testing.T) {
	e := newEnv(t, testAdminPW)
	e.clock.mu.Lock()
	e.clock.t = time.Date(2026, 3, 4, 10, 7, 30, 0, time.UTC)
	e.clock.mu.Unlock()
	latest := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	rttA, rttB, older := seq(400, 4, 25), []float64{900, 1100}, seq(50, 1, 5)
	e.ingest(batch("m-1", "s1",
		summary(serverA, latest, 6, rttA, seq(2000, 50, 8)),
		summary(serverA, latest.Add(-window.Width), 99, older, nil)))
	e.ingest(batch("m-2", "s2", summary(serverB, latest, 2, rttB, nil)))
	if r := e.do(http.DefaultClient, "POST", IngestPath, strings.NewReader("{}"), "Authorization", "Bearer nope"); r.status != 401 {
		t.Fatalf("bad token ingest: %d", r.status)
	}

	auth := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"anonymous", nil, 401},
		{"wrong scrape token", []string{"Authorization", "Bearer " + testScrape + "x"}, 401},
		{"ingest token is not a scrape token", []string{"Authorization", "Bearer " + testToken}, 401},
		{"user", []string{"Authorization", basicAuth("admin", testAdminPW)}, 200},
		{"scrape token", []string{"Authorization", "Bearer " + testScrape}, 200},
	}
	var body string
	for _, a := range auth {
		r := e.do(http.DefaultClient, "GET", "/metrics", nil, a.hdr...)
		if r.status != a.status {
			t.Fatalf("%s: %d, want %d", a.name, r.status, a.status)
		}
		if r.status == 200 {
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("content type %q", ct)
			}
			body = r.body
		}
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, body)
	}
	size := must(e.db.Size(t.Context()))
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"pastmon_ingest_requests_total", map[string]string{"code": "200"}, 2},
		{"pastmon_ingest_requests_total", map[string]string{"code": "401"}, 1},
		{"pastmon_ingest_errors_total", nil, 1},
		{"pastmon_ingest_batches_total", nil, 2},
		{"pastmon_ingest_windows_total", nil, 3},
		{"pastmon_sensors", nil, 2},
		{"pastmon_sensors_online", nil, 2},
		{"pastmon_db_size_bytes", nil, float64(size)},
		{"pastmon_window_start_timestamp_seconds", nil, float64(latest.Unix())},
		{"pastmon_server_connections", map[string]string{"server": serverA, "service": "http"}, 6},
		{"pastmon_server_connections", map[string]string{"server": serverB}, 2},
		{"pastmon_server_rtt_microseconds", map[string]string{"server": serverA, "stat": "avg"}, mean(rttA)},
		{"pastmon_server_rtt_microseconds", map[string]string{"server": serverA, "stat": "min"}, rttA[0]},
		{"pastmon_server_rtt_microseconds", map[string]string{"server": serverA, "stat": "max"}, rttA[len(rttA)-1]},
		{"pastmon_server_rtt_microseconds", map[string]string{"server": serverB, "stat": "avg"}, 1000},
		{"pastmon_server_response_time_microseconds", map[string]string{"server": serverA, "stat": "min"}, 2000},
	}
	for _, w := range want {
		got, ok := sample(fams[w.name], w.labels)
		if !ok || math.Abs(got-w.v) > 1e-6*math.Max(1, w.v) {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.v)
		}
	}
	if _, ok := sample(fams["pastmon_server_response_time_microseconds"], map[string]string{"server": serverB}); ok {
		t.Error("server B has no response times but exports a gauge")
	}
	checkGolden(t, "metrics.golden", regexp.MustCompile(`(?m)^pastmon_db_size_bytes .*$`).ReplaceAllString(body, "pastmon_db_size_bytes SIZE"))
}

// sample finds the value of the sample of fam whose labels include want.
func sample(fam *dto.MetricFamily, want map[string]string) (float64, bool) {
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}

func TestEscapeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, `plain`},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb", `a\nb`},
	}
	for _, tc := range tests {
		if got := escapeLabel(tc.in); got != tc.want {
			t.Errorf("escapeLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
