package otlp

import (
	"math"
		"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/pastmon/pastmon/capture/window"
)

// Scale is the scale of every exported exponential histogram: base
// 2^(2^-5) = 2^(1/32), the base of the sketch's bins.
const Scale = 5

// Scope names the instrumentation scope of every exported metric.
var Scope = instrumentation.Scope{Name: "github.com/pastmon/pastmon/web/otlp"}

// MetricName is the OpenTelemetry name of a timing metric ("pastmon.rtt"),
// in seconds.
func MetricName(m window.Metric) string { return "pastmon." + m.String() }

// counter is one exported per-server counter of window.Counters.
type counter struct {
	name, unit, desc string
	get              func(*window.Counters) uint64
}

var counters = [...]counter{
	{"connections", "{connection}", "connections seen, timed or not", func(c *window.Counters) uint64 { return c.Connections }},
	{"established", "{connection}", "connections whose handshake completed", func(c *window.Counters) uint64 { return c.Established }},
	{"refused", "{connection}", "connections refused (SYN answered by RST)", func(c *window.Counters) uint64 { return c.Refused }},
	{"unanswered", "{connection}", "SYNs never answered", func(c *window.Counters) uint64 { return c.Unanswered }},
	{"resets", "{reset}", "connections reset", func(c *window.Counters) uint64 { return c.Resets }},
	{"syn_retries", "{segment}", "retransmitted SYNs", func(c *window.Counters) uint64 { return c.SynRetries }},
	{"retransmits", "{segment}", "retransmitted data segments", func(c *window.Counters) uint64 { return c.Retransmits }},
	{"transactions", "{transaction}", "request/response turns", func(c *window.Counters) uint64 { return c.Transactions }},
	{"bytes_to_server", "By", "payload bytes sent to the server", func(c *window.Counters) uint64 { return c.BytesToServer }},
	{"bytes_from_server", "By", "payload bytes sent by the server", func(c *window.Counters) uint64 { return c.BytesFromServer }},
}

var metricDesc = [window.NumMetrics]string{
	window.RTT:          "round trip time between client and server through the sensor",
	window.RTTServer:    "sensor to server part of the round trip",
	window.RTTClient:    "sensor to client part of the round trip",
	window.ConnectTime:  "what the client waited for the handshake, SYN retries included",
	window.ResponseTime: "last segment of a request to first segment of its response",
	window.TransferTime: "last segment of a request to last segment of its response",
}

// Sensor is what the resource of exported windows says about the sensor
// that saw them.
type Sensor struct {
	Name    string // the sensor's --name
	Version string // pastmon's version on the sensor
}

// Resource returns the OpenTelemetry resource of a sensor's windows.
func (s Sensor) Resource() *resource.Resource {
	return resource.NewSchemaless(
		attribute.String("service.name", "pastmon"),
		attribute.String("service.namespace", "pastmon"),
		attribute.String("service.instance.id", s.Name),
		attribute.String("service.version", s.Version),
		attribute.String("pastmon.sensor", s.Name),
	)
}

// Convert turns window summaries into OpenTelemetry metrics: per timing
// metric a delta exponential histogram of scale 5 in seconds, and per
// counter a delta sum, one data point per summary, each covering its
// window. Metrics without a point are left out.
func Convert(res *resource.Resource, sums []window.Summary) *metricdata.ResourceMetrics {
	sm := metricdata.ScopeMetrics{Scope: Scope}
	attrs := make([]attribute.Set, len(sums))
	for i := range sums {
		attrs[i] = pointAttributes(&sums[i])
	}
	for m := range window.NumMetrics {
		var pts []metricdata.ExponentialHistogramDataPoint[float64]
		for i := range sums {
			d := &sums[i].Metrics[m]
			if d.Count == 0 {
				continue
			}
			pts = append(pts, histogramPoint(d, attrs[i], sums[i].Start))
		}
		if len(pts) == 0 {
			continue
		}
		sm.Metrics = append(sm.Metrics, metricdata.Metrics{
			Name: MetricName(m), Description: metricDesc[m], Unit: "s",
			Data: metricdata.ExponentialHistogram[float64]{DataPoints: pts, Temporality: metricdata.DeltaTemporality},
		})
	}
	for _, c := range counters {
		pts := make([]metricdata.DataPoint[int64], 0, len(sums))
		for i := range sums {
			v := c.get(&sums[i].Counters)
			pts = append(pts, metricdata.DataPoint[int64]{Attributes: attrs[i],
				StartTime: sums[i].Start, Time: sums[i].Start.Add(window.Width), Value: int64(min(v, math.MaxInt64))})
		}
		if len(pts) == 0 {
			continue
		}
		sm.Metrics = append(sm.Metrics, metricdata.Metrics{
			Name: "pastmon." + c.name, Description: c.desc, Unit: c.unit,
			Data: metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.DeltaTemporality, IsMonotonic: true},
		})
	}
	return &metricdata.ResourceMetrics{Resource: res, ScopeMetrics: []metricdata.ScopeMetrics{sm}}
}

// pointAttributes identifies a summary's server.
func pointAttributes(s *window.Summary) attribute.Set {
	return attribute.NewSet(
		attribute.String("pastmon.server", s.Server.String()),
		attribute.String("server.address", s.Server.Addr().String()),
		attribute.Int("server.port", int(s.Server.Port())),
		attribute.String("network.transport", "tcp"),
	)
}

// histogramPoint converts one distribution (µs) into seconds.
func histogramPoint(d *window.Dist, attrs attribute.Set, start time.Time) metricdata.ExponentialHistogramDataPoint[float64] {
	bins, zero := d.Bins(nil)
	offset, counts := buckets(bins)
	return metricdata.ExponentialHistogramDataPoint[float64]{
		Attributes:     attrs,
		StartTime:      start,
		Time:           start.Add(window.Width),
		Count:          d.Count,
		Sum:            d.Sum / 1e6,
		Min:            metricdata.NewExtrema(d.Min / 1e6),
		Max:            metricdata.NewExtrema(d.Max / 1e6),
		Scale:          Scale,
		ZeroCount:      zero,
		ZeroThreshold:  window.ZeroThreshold / 1e6,
		PositiveBucket: metricdata.ExponentialBucket{Offset: offset, Counts: counts},
	}
}

// buckets lays sketch bins (µs, increasing) out as the positive buckets of
// a scale-5 exponential histogram in seconds, whose bucket i holds the
// values in (2^(i/32), 2^((i+1)/32)]. A bin whose bounds are those of a
// bucket (the sketch's bins are) goes to that bucket; any other bin goes to
// the bucket holding its geometric middle.
func buckets(bins []window.Bin) (offset int32, counts []uint64) {
	if len(bins) == 0 {
		return 0, nil
	}
	lo, hi := bucketIndex(bins[0]), bucketIndex(bins[len(bins)-1])
	counts = make([]uint64, hi-lo+1)
	for _, b := range bins {
		counts[bucketIndex(b)-lo] += b.Count
	}
	return int32(lo), counts
}

// bucketIndex is the index of the scale-5 bucket (seconds) that bin b
// (µs) counts in.
func bucketIndex(b window.Bin) int {
	up := math.Log2(b.Upper/1e6) * (1 << Scale)
	if r := math.Round(up); math.Abs(up-r) < 1e-6 {
		low := math.Log2(b.Lower/1e6) * (1 << Scale)
		if math.Abs(low-(r-1)) < 1e-6 {
			return int(r) - 1 // the bin is the bucket (2^((r-1)/32), 2^(r/32)]
		}
	}
	mid := (math.Log2(b.Lower/1e6) + math.Log2(b.Upper/1e6)) / 2 * (1 << Scale)
	return int(math.Ceil(mid)) - 1
}
