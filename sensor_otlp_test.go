package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web/otlp"
	"github.com/pastmon/pastmon/web/otlp/collectortest"
)

// TestSensorReadExportsOTLP replays a capture with sensor --read and
// --otlp-endpoint into a real OpenTelemetry Collector, and checks every
// bucket count the collector received against the windows' own bins.
func TestSensorReadExportsOTLP(t *testing.T) {
	file := realCapture(t)
	want := captureWindows(t, file)
	col := collectortest.Start(t, collectortest.Options{})
	dir := t.TempDir()
	web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"))
	defer web.stop(t)
	for _, tc := range []struct{ name, protocol, endpoint string }{
		{"otlp-grpc", "grpc", col.GRPC},
		{"otlp-http", "http", col.HTTP},
	} {
		args := []string{"--read", file, "--web", web.url, "--token", testToken, "--spool", filepath.Join(dir, tc.name+".db"),
			"--name", tc.name, "--shutdown-wait", "60s", "--otlp-endpoint", tc.endpoint, "--otlp-protocol", tc.protocol,
			"--otlp-insecure", "--otlp-header", "x-tenant=pastmon"}
		if code, stderr := runSensorCmd(t, args...); code != 0 {
			t.Fatalf("%s: sensor exited %d: %s", tc.name, code, stderr)
		}
	}
	for _, sensor := range []string{"otlp-grpc", "otlp-http"} {
		rms := col.Wait(t, 30*time.Second, func(rms []*metricspb.ResourceMetrics) bool {
			return len(histograms(rms, sensor)) >= countDists(want)
		})
		got := histograms(rms, sensor)
		if len(got) != countDists(want) {
			t.Errorf("%s: %d histogram points, want %d", sensor, len(got), countDists(want))
		}
		for i := range want {
			s := &want[i]
			for m := range window.NumMetrics {
				d := &s.Metrics[m]
				if d.Count == 0 {
					continue
				}
				p := got[histKey{otlp.MetricName(m), s.Server.String(), uint64(s.Start.UnixNano())}]
				if p == nil {
					t.Errorf("%s: no %s point of %s@%s", sensor, m, s.Server, s.Start)
					continue
				}
				bins, zero := d.Bins(nil)
				if p.Count != d.Count || p.ZeroCount != zero || p.Scale != 5 {
					t.Errorf("%s %s %s: count %d zero %d scale %d, want %d %d 5", sensor, m, s.Server, p.Count, p.ZeroCount, p.Scale, d.Count, zero)
				}
				gotBuckets := map[int]uint64{}
				for j, c := range p.GetPositive().GetBucketCounts() {
					if c != 0 {
						gotBuckets[int(p.GetPositive().GetOffset())+j] = c
					}
				}
				// Bin k holds (2^((k-1)/32), 2^(k/32)] s: OpenTelemetry's bucket k-1.
				for _, b := range bins {
					if gotBuckets[b.Key-1] != b.Count {
						t.Errorf("%s %s %s@%s: bucket %d holds %d, the window's bin %d holds %d", sensor, m, s.Server, s.Start, b.Key-1, gotBuckets[b.Key-1], b.Key, b.Count)
					}
					delete(gotBuckets, b.Key-1)
				}
				if len(gotBuckets) != 0 {
					t.Errorf("%s %s %s: buckets %v that the window has no bin for", sensor, m, s.Server, gotBuckets)
				}
			}
		}
	}
}

// captureWindows replays file in process and returns its windows.
func captureWindows(t *testing.T, file string) []window.Summary {
	t.Helper()
	src, err := capture.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var sums []window.Summary
	if _, err := capture.Run(context.Background(), src, capture.Config{OnWindow: func(s window.Summary) { sums = append(sums, s) }}); err != nil {
		t.Fatal(err)
	}
	if countDists(sums) == 0 {
		t.Fatal("no timings in the capture")
	}
	return sums
}

func countDists(sums []window.Summary) int {
	n := 0
	for i := range sums {
		for m := range sums[i].Metrics {
			if sums[i].Metrics[m].Count > 0 {
				n++
			}
		}
	}
	return n
}

type histKey struct {
	metric, server string
	start          uint64
}

// histograms indexes one sensor's exponential histogram points.
func histograms(rms []*metricspb.ResourceMetrics, sensor string) map[histKey]*metricspb.ExponentialHistogramDataPoint {
	out := map[histKey]*metricspb.ExponentialHistogramDataPoint{}
	for _, rm := range rms {
		if attrValue(rm.GetResource().GetAttributes(), "service.instance.id") != sensor {
			continue
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if strings.HasPrefix(m.Name, "pastmon.operation.") {
					continue // the per-operation breakdown
				}
				for _, p := range m.GetExponentialHistogram().GetDataPoints() {
					out[histKey{m.Name, attrValue(p.Attributes, "pastmon.server"), p.StartTimeUnixNano}] = p
				}
			}
		}
	}
	return out
}

func attrValue(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}
