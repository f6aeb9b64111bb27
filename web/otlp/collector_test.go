package otlp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web/otlp"
	"github.com/pastmon/pastmon/web/otlp/collectortest"
)

// corpusWindows replays the real corpus capture and returns its windows.
func corpusWindows(t *testing.T) []window.Summary {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "corpus", "real", "http-dev-server.pcap.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var sums []window.Summary
	if _, err := capture.Run(context.Background(), src, capture.Config{OnWindow: func(s window.Summary) { sums = append(sums, s) }}); err != nil {
		t.Fatal(err)
	}
	if len(sums) == 0 {
		t.Fatal("no windows in the corpus capture")
	}
	return sums
}

// TestCollectorReceivesWindows exports a capture's windows to a real
// OpenTelemetry Collector over each protocol, plain and TLS, and checks
// every data point the collector wrote against the windows themselves.
func TestCollectorReceivesWindows(t *testing.T) {
	sums := corpusWindows(t)
	cert, key := selfSigned(t)
	plain := collectortest.Start(t, collectortest.Options{})
	secure := collectortest.Start(t, collectortest.Options{CertFile: cert, KeyFile: key})
	cases := []struct {
		sensor string
		cfg    otlp.Config
		col    *collectortest.Collector
	}{
		{"grpc-plain", otlp.Config{Endpoint: plain.GRPC, Insecure: true}, plain},
		{"http-plain", otlp.Config{Endpoint: "http://" + plain.HTTP, Protocol: "http"}, plain},
		{"grpc-tls", otlp.Config{Endpoint: secure.GRPC, CAFile: cert, Headers: map[string]string{"x-tenant": "a"}}, secure},
		{"http-tls", otlp.Config{Endpoint: "https://" + secure.HTTP + "/v1/metrics", Protocol: "http", CAFile: cert}, secure},
	}
	for _, tc := range cases {
		t.Run(tc.sensor, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			exp, err := otlp.New(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { exp.Run(ctx); close(done) }()
			exp.Add(otlp.Sensor{Name: tc.sensor, Version: "test"}, sums)
			if err := exp.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
			_ = exp.Shutdown(context.Background())
			if st := exp.Stats(); st.Exported != uint64(len(sums)) {
				t.Fatalf("stats %+v, want %d exported", st, len(sums))
			}
			rms := tc.col.Wait(t, 30*time.Second, func(rms []*metricspb.ResourceMetrics) bool {
				return countPoints(rms, tc.sensor, "pastmon.connections") >= len(sums)
			})
			checkWindows(t, sensorMetrics(rms, tc.sensor), sums)
		})
	}
}

// sensorMetrics collects the metrics of one sensor's resource, by name.
func sensorMetrics(rms []*metricspb.ResourceMetrics, sensor string) map[string][]*metricspb.Metric {
	out := map[string][]*metricspb.Metric{}
	for _, rm := range rms {
		if attr(rm.GetResource().GetAttributes(), "service.instance.id") != sensor {
			continue
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				out[m.Name] = append(out[m.Name], m)
			}
		}
	}
	return out
}

func countPoints(rms []*metricspb.ResourceMetrics, sensor, name string) int {
	n := 0
	for _, m := range sensorMetrics(rms, sensor)[name] {
		n += len(m.GetSum().GetDataPoints())
	}
	return n
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

type pointKey struct {
	server string
	start  uint64
}

// checkWindows checks that every window's distributions and counters are
// in the collector's output once, bucket for bucket.
func checkWindows(t *testing.T, got map[string][]*metricspb.Metric, sums []window.Summary) {
	t.Helper()
	for m := range window.NumMetrics {
		points := map[pointKey]*metricspb.ExponentialHistogramDataPoint{}
		for _, metric := range got[otlp.MetricName(m)] {
			if metric.Unit != "s" {
				t.Errorf("%s: unit %q, want s", metric.Name, metric.Unit)
			}
			eh := metric.GetExponentialHistogram()
			if eh == nil || eh.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
				t.Fatalf("%s: not a delta exponential histogram: %v", metric.Name, metric)
			}
			for _, p := range eh.DataPoints {
				k := pointKey{attr(p.Attributes, "pastmon.server"), p.StartTimeUnixNano}
				if points[k] != nil {
					t.Errorf("%s %v: two points", metric.Name, k)
				}
				points[k] = p
			}
		}
		want := 0
		for i := range sums {
			s := &sums[i]
			d := &s.Metrics[m]
			if d.Count == 0 {
				continue
			}
			want++
			p := points[pointKey{s.Server.String(), uint64(s.Start.UnixNano())}]
			if p == nil {
				t.Errorf("%s %s@%s: no point", m, s.Server, s.Start)
				continue
			}
			checkPoint(t, fmt.Sprintf("%s %s@%s", m, s.Server, s.Start.Format(time.RFC3339)), p, s, d)
		}
		if len(points) != want {
			t.Errorf("%s: %d points, want %d", m, len(points), want)
		}
	}
	for _, c := range []struct {
		name string
		get  func(*window.Counters) uint64
	}{
		{"pastmon.connections", func(c *window.Counters) uint64 { return c.Connections }},
		{"pastmon.transactions", func(c *window.Counters) uint64 { return c.Transactions }},
		{"pastmon.bytes_from_server", func(c *window.Counters) uint64 { return c.BytesFromServer }},
	} {
		values := map[pointKey]int64{}
		for _, metric := range got[c.name] {
			sum := metric.GetSum()
			if sum == nil || !sum.IsMonotonic || sum.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
				t.Fatalf("%s: not a monotonic delta sum", c.name)
			}
			for _, p := range sum.DataPoints {
				values[pointKey{attr(p.Attributes, "pastmon.server"), p.StartTimeUnixNano}] += p.GetAsInt()
			}
		}
		for i := range sums {
			s := &sums[i]
			if v := values[pointKey{s.Server.String(), uint64(s.Start.UnixNano())}]; v != int64(c.get(&s.Counters)) {
				t.Errorf("%s %s@%s: %d, want %d", c.name, s.Server, s.Start, v, c.get(&s.Counters))
			}
		}
	}
}

func checkPoint(t *testing.T, what string, p *metricspb.ExponentialHistogramDataPoint, s *window.Summary, d *window.Dist) {
	t.Helper()
	if p.TimeUnixNano != uint64(s.Start.Add(window.Width).UnixNano()) {
		t.Errorf("%s: time %d, want the window's end", what, p.TimeUnixNano)
	}
	if p.Count != d.Count || p.Scale != 5 {
		t.Errorf("%s: count %d scale %d, want %d and 5", what, p.Count, p.Scale, d.Count)
	}
	if math.Abs(p.GetSum()-d.Sum/1e6) > 1e-9*d.Sum || math.Abs(p.GetMin()-d.Min/1e6) > 1e-12 || math.Abs(p.GetMax()-d.Max/1e6) > 1e-12 {
		t.Errorf("%s: sum/min/max %g/%g/%g s, want %g/%g/%g µs", what, p.GetSum(), p.GetMin(), p.GetMax(), d.Sum, d.Min, d.Max)
	}
	bins, zero := d.Bins(nil)
	if p.ZeroCount != zero {
		t.Errorf("%s: zero count %d, want %d", what, p.ZeroCount, zero)
	}
	wantBuckets := map[int]uint64{}
	for _, b := range bins {
		wantBuckets[bucketOf(t, b)] += b.Count
	}
	gotBuckets := map[int]uint64{}
	var total uint64
	for j, c := range p.GetPositive().GetBucketCounts() {
		if c != 0 {
			gotBuckets[int(p.GetPositive().GetOffset())+j] = c
		}
		total += c
	}
	if total+p.ZeroCount != d.Count {
		t.Errorf("%s: buckets hold %d values, want %d", what, total+p.ZeroCount, d.Count)
	}
	if len(p.GetNegative().GetBucketCounts()) != 0 {
		t.Errorf("%s: negative buckets", what)
	}
	for i, c := range wantBuckets {
		if gotBuckets[i] != c {
			t.Errorf("%s: bucket %d holds %d, the window's bins %d", what, i, gotBuckets[i], c)
		}
	}
	for i, c := range gotBuckets {
		if _, ok := wantBuckets[i]; !ok {
			t.Errorf("%s: bucket %d holds %d, the window's bins none", what, i, c)
		}
	}
}

// bucketOf is the scale-5 bucket (2^(i/32), 2^((i+1)/32)] seconds whose
// bounds are those of the bin (µs); it fails the test if there is none.
func bucketOf(t *testing.T, b window.Bin) int {
	lo, hi := b.Lower/1e6, b.Upper/1e6
	i := int(math.Round(math.Log2(lo) * 32))
	if math.Abs(math.Pow(2, float64(i)/32)-lo) > 1e-12*lo || math.Abs(math.Pow(2, float64(i+1)/32)-hi) > 1e-12*hi {
		t.Fatalf("bin (%g, %g] s is no scale-5 bucket", lo, hi)
	}
	return i
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
