package otlp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web/otlp"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  otlp.Config
		want string // "" = valid
	}{
		{"host port", otlp.Config{Endpoint: "collector:4317"}, ""},
		{"http url", otlp.Config{Endpoint: "http://collector:4318", Protocol: "http"}, ""},
		{"https url with path", otlp.Config{Endpoint: "https://collector:4318/otlp/v1/metrics", Protocol: "http", CAFile: "ca.pem"}, ""},
		{"no port", otlp.Config{Endpoint: "collector"}, "want host:port"},
		{"url without port", otlp.Config{Endpoint: "https://collector"}, "want a port"},
		{"bad scheme", otlp.Config{Endpoint: "ftp://collector:21"}, "want host:port, http"},
		{"bad protocol", otlp.Config{Endpoint: "collector:4317", Protocol: "thrift"}, "want grpc or http"},
		{"insecure and ca", otlp.Config{Endpoint: "collector:4317", Insecure: true, CAFile: "ca.pem"}, "exclude each other"},
		{"ca over http", otlp.Config{Endpoint: "http://collector:4318", CAFile: "ca.pem"}, "needs https"},
		{"bad header", otlp.Config{Endpoint: "collector:4317", Headers: map[string]string{"a b": "c"}}, "want name=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// TestHTTPRequest checks what the HTTP/protobuf exporter sends: the path,
// the headers, one request for the windows queued together, and data
// points that carry the windows.
func TestHTTPRequest(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []*colmetricspb.ExportMetricsServiceRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/custom/v1/metrics" || r.Header.Get("X-Tenant") != "team-a" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("request %s %s, tenant %q, type %q", r.Method, r.URL.Path, r.Header.Get("X-Tenant"), r.Header.Get("Content-Type"))
		}
		var req colmetricspb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, &req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
		w.Write(out)
	}))
	defer srv.Close()

	start := time.Date(2026, 12, 2, 15, 40, 0, 0, time.UTC)
	var sums []window.Summary
	for i, port := range []uint16{80, 5432} {
		s := window.Summary{Server: netip.MustParseAddrPort("10.0.0.5:80"), Start: start}
		s.Server = netip.AddrPortFrom(s.Server.Addr(), port)
		s.Connections, s.Transactions = uint64(3+i), uint64(10*i)
		for _, us := range []float64{0, 120, 1500, 1510, 250000} {
			s.Metrics[window.ResponseTime].Add(us * float64(i+1))
		}
		sums = append(sums, s)
	}
	op := window.Operation{Name: "GET /users/:id", Count: 3, OK: 2, ServerError: 1}
	op.ResponseTime.Add(1500)
	op.ResponseTime.Add(2000)
	op.ResponseTime.Add(90000)
	sums[1].Protocol, sums[1].Operations = "http", []window.Operation{op}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlp.New(ctx, otlp.Config{Endpoint: srv.URL + "/custom/v1/metrics", Protocol: "http", Headers: map[string]string{"X-Tenant": "team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	exp.Add(otlp.Sensor{Name: "s1", Version: "v9"}, sums[:1])
	exp.Add(otlp.Sensor{Name: "s1", Version: "v9"}, sums[1:])
	go exp.Run(ctx)
	if err := exp.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 1 || len(reqs[0].ResourceMetrics) != 1 {
		t.Fatalf("%d requests, want 1 with one resource", len(reqs))
	}
	rm := reqs[0].ResourceMetrics[0]
	if got := attr(rm.Resource.Attributes, "service.version"); got != "v9" {
		t.Errorf("service.version %q", got)
	}
	byName := map[string]int{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if eh := m.GetExponentialHistogram(); eh != nil {
			byName[m.Name] = len(eh.DataPoints)
		}
		if s := m.GetSum(); s != nil {
			byName[m.Name] = len(s.DataPoints)
		}
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "pastmon.operation.transactions":
			results := map[string]int64{}
			for _, p := range m.GetSum().GetDataPoints() {
				if attr(p.Attributes, "pastmon.operation") != op.Name || attr(p.Attributes, "pastmon.protocol") != "http" {
					t.Errorf("operation point attributes %v", p.Attributes)
				}
				results[attr(p.Attributes, "pastmon.result")] += p.GetAsInt()
			}
			if results["ok"] != 2 || results["client_error"] != 0 || results["server_error"] != 1 {
				t.Errorf("operation results %v, want 2 ok and 1 server_error", results)
			}
		case "pastmon.operation.response_time":
			pts := m.GetExponentialHistogram().GetDataPoints()
			if len(pts) != 1 || pts[0].Count != 3 {
				t.Errorf("operation response time points %v, want one of 3 values", pts)
			}
		}
	}
	if byName["pastmon.operation.transactions"] != 3 || byName["pastmon.operation.response_time"] != 1 {
		t.Errorf("operation points %v", byName)
	}
	if byName["pastmon.response_time"] != 2 || byName["pastmon.connections"] != 2 || byName["pastmon.rtt"] != 0 {
		t.Errorf("data points per metric %v: want 2 response_time, 2 connections, no rtt", byName)
	}
	checkWindows(t, sensorMetrics(reqs[0].ResourceMetrics, "s1"), sums)
}

// TestAddWhileSending hands windows over one by one while the exporter
// sends (spare wake-ups included) and flushes between rounds.
func TestAddWhileSending(t *testing.T) {
	var n sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlp.Start(ctx, otlp.Config{Endpoint: srv.URL, Protocol: "http"})
	if err != nil {
		t.Fatal(err)
	}
	s := window.Summary{Server: netip.MustParseAddrPort("10.0.0.5:80"), Start: time.Date(2026, 12, 2, 15, 40, 0, 0, time.UTC)}
	s.Metrics[window.RTT].Add(100)
	total := 0
	for round := range 20 {
		for g := range 4 {
			n.Add(1)
			go func() {
				defer n.Done()
				for range round + g {
					exp.Add(otlp.Sensor{Name: "s"}, []window.Summary{s})
				}
			}()
			total += round + g
		}
		n.Wait()
		if err := exp.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := exp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := exp.Stats(); st.Exported != uint64(total) {
		t.Fatalf("stats %+v, want %d exported", st, total)
	}
}
