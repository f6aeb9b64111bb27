package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web/ship"
)

// TestGrafanaDashboard checks contrib/grafana/pastmon.json against a real
// web node: every query names only metrics its /metrics exports (fed a
// window with every metric and an operation), and the dashboard has the
// time breakdown (every timing metric), the operations and a heatmap.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("contrib", "grafana", "pastmon.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	exported := webNodeMetricNames(t)
	queries, types := dashboardQueries(dash)
	if len(queries) < 10 {
		t.Fatalf("%d queries in the dashboard", len(queries))
	}
	name := regexp.MustCompile(`\bpastmon_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, q := range queries {
		names := name.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("query names no pastmon metric: %s", q)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("query names %s, which the web node does not export: %s", n, q)
			}
		}
	}
	for m := range window.NumMetrics {
		if m == window.RTT {
			continue // the sum of the halves, not a part of the breakdown
		}
		if n := "pastmon_" + m.String() + "_seconds"; !used[n] {
			t.Errorf("the time breakdown lacks %s", n)
		}
	}
	if !used["pastmon_operation_transactions_total"] || !used["pastmon_operation_response_time_seconds"] {
		t.Error("no panel shows the operations")
	}
	if !types["heatmap"] {
		t.Error("no heatmap panel")
	}
}

// dashboardQueries returns every PromQL expression of the dashboard (panel
// targets, variable queries) and the panel types.
func dashboardQueries(v any) (queries []string, types map[string]bool) {
	types = map[string]bool{}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			if typ, ok := x["type"].(string); ok && x["gridPos"] != nil {
				types[typ] = true
			}
			for k, e := range x {
				walk(e, k)
			}
		case []any:
			for _, e := range x {
				walk(e, key)
			}
		case string:
			if key == "expr" || key == "query" && strings.Contains(x, "pastmon_") {
				queries = append(queries, x)
			}
		}
	}
	walk(v, "")
	return queries, types
}

// webNodeMetricNames starts a web node, feeds it a window with every
// metric and an operation, and returns the family and sample names of its
// /metrics (scraped twice: a new series shows zero first).
func webNodeMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	const scrapeToken = "grafana-scrape-token"
	w := startWeb(t, freeAddr(t), filepath.Join(t.TempDir(), "web.db"), "--metrics-token", scrapeToken)
	s := window.Summary{Server: netip.MustParseAddrPort("10.0.0.1:80"), Start: window.Start(time.Now()).Add(-window.Width), Protocol: "http"}
	for m := range s.Metrics {
		s.Metrics[m].Add(1000 * float64(m+1))
	}
	for c := range window.NumCounters {
		*s.Counters.Field(c) = 1
	}
	var rt window.Dist
	rt.Add(4000)
	s.Operations = []window.Operation{{Name: "GET /", Count: 1, OK: 1, ResponseTime: rt}}
	b := &window.Batch{ID: "grafana-1", Sensor: window.SensorInfo{Name: "s1", Version: "test"}, Summaries: []window.Summary{s}}
	if _, err := ship.NewHTTP(w.url, testToken).Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for range 2 {
		req, _ := http.NewRequest("GET", w.url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+scrapeToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
				names[strings.Fields(f)[0]] = true
			} else if line != "" && !strings.HasPrefix(line, "#") {
				names[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
			}
		}
		resp.Body.Close()
	}
	return names
}
