package web

import (
	"flag"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	respA := seq(2000, 50, 8)
	e.ingest(batch("m-1", "s1",
		summary(serverA, latest, 6, rttA, respA),
		summary(serverA, latest.Add(-window.Width), 99, older, nil)))
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
	for _, a := range auth {
		r := e.do(http.DefaultClient, "GET", "/metrics", nil, a.hdr...)
		if r.status != a.status {
			t.Fatalf("%s: %d, want %d", a.name, r.status, a.status)
		}
	}
	// Server A has been scraped (at zero): from now on it shows its
	// windows. Server B comes after, so its first scrape shows zero.
	e.ingest(batch("m-2", "s2", summary(serverB, latest, 2, rttB, nil)))
	e.ingest(batch("m-1", "s1", summary(serverA, latest, 6, rttA, respA))) // a duplicate counts nothing
	body := scrapeText(t, e)
	fams := parseText(t, body)
	size := must(e.db.Size(t.Context()))
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"pastmon_ingest_requests_total", map[string]string{"code": "200"}, 3},
		{"pastmon_ingest_requests_total", map[string]string{"code": "401"}, 1},
		{"pastmon_ingest_errors_total", nil, 1},
		{"pastmon_ingest_batches_total", nil, 2},
		{"pastmon_ingest_windows_total", nil, 3},
		{"pastmon_ingest_duplicate_batches_total", nil, 1},
		{"pastmon_sensors", nil, 2},
		{"pastmon_sensors_online", nil, 2},
		{"pastmon_sensor_packets", map[string]string{"sensor": "s1"}, 1000},
		{"pastmon_db_size_bytes", nil, float64(size)},
		{"pastmon_connections_total", map[string]string{"server": serverA, "transport": "tcp"}, 6 + 99},
		{"pastmon_transactions_total", map[string]string{"server": serverA}, float64(len(respA))},
		{"pastmon_connections_total", map[string]string{"server": serverB}, 0},
		{"pastmon_server_info", map[string]string{"server": serverA, "protocol": ""}, 1},
		{"pastmon_metrics_servers", nil, 2},
	}
	for _, w := range want {
		got, ok := sample(fams[w.name], w.labels)
		if !ok || math.Abs(got-w.v) > 1e-6*math.Max(1, w.v) {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.v)
		}
	}
	checkClassic(t, fams["pastmon_rtt_seconds"], serverA, append(slices.Clone(rttA), older...))
	checkClassic(t, fams["pastmon_response_time_seconds"], serverA, respA)
	checkClassic(t, fams["pastmon_rtt_seconds"], serverB, nil)
	checkGolden(t, "metrics.golden", regexp.MustCompile(`(?m)^pastmon_db_size_bytes .*$`).ReplaceAllString(body, "pastmon_db_size_bytes SIZE"))

	// Scraped in protobuf, the histograms are native, bin for bin the
	// distribution of the same values; server B now shows its window.
	fams = scrapeProto(t, e)
	checkNative(t, fams["pastmon_rtt_seconds"], serverA, append(slices.Clone(rttA), older...))
	checkNative(t, fams["pastmon_rtt_seconds"], serverB, rttB)
	checkNative(t, fams["pastmon_transfer_time_seconds"], serverA, seqTimes(respA, 2))
	if got, _ := sample(fams["pastmon_connections_total"], map[string]string{"server": serverB}); got != 2 {
		t.Errorf("server B connections %v after its first scrape, want 2", got)
	}
}

func seqTimes(vals []float64, k float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = k * v
	}
	return out
}

func scrapeText(t *testing.T, e *env) string {
	t.Helper()
	r := e.do(http.DefaultClient, "GET", "/metrics", nil, "Authorization", "Bearer "+testScrape)
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	return r.body
}

func parseText(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, body)
	}
	return fams
}

// scrapeProto scrapes as Prometheus does with native histograms enabled.
func scrapeProto(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	accept := "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	r := e.do(http.DefaultClient, "GET", "/metrics", nil, "Authorization", "Bearer "+testScrape, "Accept", accept)
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	dec := expfmt.NewDecoder(strings.NewReader(r.body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	fams := map[string]*dto.MetricFamily{}
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode protobuf exposition: %v", err)
		}
		fams[f.GetName()] = &f
	}
	return fams
}

func histogramOf(t *testing.T, fam *dto.MetricFamily, server string) *dto.Histogram {
	t.Helper()
	if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("family %v is not a histogram", fam.GetName())
	}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "server" && l.GetValue() == server {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("%s has no series for server %s", fam.GetName(), server)
	return nil
}

// checkClassic compares the classic buckets with the values (µs): the
// count of values at most each bound, exactly (the bounds are powers of
// two seconds, bin bounds).
func checkClassic(t *testing.T, fam *dto.MetricFamily, server string, vals []float64) {
	t.Helper()
	h := histogramOf(t, fam, server)
	if h.GetSampleCount() != uint64(len(vals)) {
		t.Errorf("%s{%s}: count %d, want %d", fam.GetName(), server, h.GetSampleCount(), len(vals))
	}
	var sum float64
	for _, v := range vals {
		sum += v / 1e6
	}
	if math.Abs(h.GetSampleSum()-sum) > 1e-9*math.Max(sum, 1) {
		t.Errorf("%s{%s}: sum %v s, want %v", fam.GetName(), server, h.GetSampleSum(), sum)
	}
	if len(h.GetBucket()) < 20 {
		t.Fatalf("%s{%s}: %d classic buckets", fam.GetName(), server, len(h.GetBucket()))
	}
	for _, b := range h.GetBucket() {
		n := 0
		for _, v := range vals {
			if v/1e6 <= b.GetUpperBound() {
				n++
			}
		}
		if b.GetCumulativeCount() != uint64(n) {
			t.Errorf("%s{%s}: bucket le=%v holds %d, want %d", fam.GetName(), server, b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}
}

// checkNative compares the native buckets with the bins client_golang's
// own native histogram (schema 5) makes of the same values in seconds.
func checkNative(t *testing.T, fam *dto.MetricFamily, server string, vals []float64) {
	t.Helper()
	got := histogramOf(t, fam, server)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", NativeHistogramBucketFactor: 1.03,
		NativeHistogramZeroThreshold: window.ZeroThreshold, NativeHistogramMaxZeroThreshold: window.ZeroThreshold})
	for _, v := range vals {
		ref.Observe(v / 1e6)
	}
	var m dto.Metric
	if err := ref.Write(&m); err != nil {
		t.Fatal(err)
	}
	want := m.GetHistogram()
	if got.GetSchema() != 5 || got.GetZeroThreshold() != want.GetZeroThreshold() || got.GetSampleCount() != want.GetSampleCount() || got.GetZeroCount() != want.GetZeroCount() {
		t.Fatalf("%s{%s}: schema %d zero threshold %v count %d zero %d, want 5 %v %d %d", fam.GetName(), server,
			got.GetSchema(), got.GetZeroThreshold(), got.GetSampleCount(), got.GetZeroCount(),
			want.GetZeroThreshold(), want.GetSampleCount(), want.GetZeroCount())
	}
	if g, w := nativeBuckets(got), nativeBuckets(want); !maps.Equal(g, w) {
		t.Errorf("%s{%s}: native buckets %v, want %v", fam.GetName(), server, g, w)
	}
}

func nativeBuckets(h *dto.Histogram) map[int]int64 {
	out := map[int]int64{}
	k, n, deltas := 0, int64(0), h.GetPositiveDelta()
	for _, sp := range h.GetPositiveSpan() {
		k += int(sp.GetOffset())
		for range sp.GetLength() {
			n += deltas[0]
			deltas = deltas[1:]
			if n != 0 {
				out[k] = n
			}
			k++
		}
	}
	return out
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
