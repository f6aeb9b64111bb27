package otlp

import (
	"math"
	"strings"
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

// counterUnit is the unit of a counter of window.Counters.
func counterUnit(k window.Counter) string {
	if strings.HasPrefix(k.String(), "bytes_") {
		return "By"
	}
	return "1"
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
	for k := range window.NumCounters {
		pts := make([]metricdata.DataPoint[int64], 0, len(sums))
		for i := range sums {
			v := *sums[i].Counters.Field(k)
			pts = append(pts, metricdata.DataPoint[int64]{Attributes: attrs[i],
				StartTime: sums[i].Start, Time: sums[i].Start.Add(window.Width), Value: int64(min(v, math.MaxInt64))})
		}
		sm.Metrics = append(sm.Metrics, metricdata.Metrics{
			Name: "pastmon." + k.String(), Description: "per-server sum over the window (DESIGN.md)", Unit: counterUnit(k),
			Data: metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.DeltaTemporality, IsMonotonic: true},
		})
	}
	sm.Metrics = append(sm.Metrics, operationMetrics(sums, attrs)...)
	return &metricdata.ResourceMetrics{Resource: res, ScopeMetrics: []metricdata.ScopeMetrics{sm}}
}

// pointAttributes identifies a summary's server.
func pointAttributes(s *window.Summary) attribute.Set {
	return attribute.NewSet(
		attribute.String("pastmon.server", s.Server.String()),
		attribute.String("server.address", s.Server.Addr().String()),
		attribute.Int("server.port", int(s.Server.Port())),
		attribute.String("network.transport", transport(s)),
		attribute.String("pastmon.protocol", protocol(s)),
	)
}

func transport(s *window.Summary) string {
	if s.UDP() {
		return "udp"
	}
	return "tcp"
}

func protocol(s *window.Summary) string {
	if s.Protocol == "" {
		return "tcp"
	}
	return s.Protocol
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
		ZeroThreshold:  window.ZeroThreshold,
		PositiveBucket: metricdata.ExponentialBucket{Offset: offset, Counts: counts},
	}
}

// buckets lays sketch bins (increasing) out as the positive buckets of a
// scale-5 exponential histogram in seconds. Bin k holds (2^((k-1)/32),
// 2^(k/32)] seconds and OpenTelemetry's bucket i holds (2^(i/32),
// 2^((i+1)/32)]: bin k is bucket k-1, exactly.
func buckets(bins []window.Bin) (offset int32, counts []uint64) {
	if len(bins) == 0 {
		return 0, nil
	}
	lo, hi := bins[0].Key-1, bins[len(bins)-1].Key-1
	counts = make([]uint64, hi-lo+1)
	for _, b := range bins {
		counts[b.Key-1-lo] += b.Count
	}
	return int32(lo), counts
}

// operationMetrics breaks recognised protocols' transactions down by
// operation: a response time histogram per operation and a transaction
// sum per operation and result. Nothing when no summary has operations.
func operationMetrics(sums []window.Summary, attrs []attribute.Set) []metricdata.Metrics {
	var hist []metricdata.ExponentialHistogramDataPoint[float64]
	var txn []metricdata.DataPoint[int64]
	for i := range sums {
		s := &sums[i]
		for j := range s.Operations {
			op := &s.Operations[j]
			kvs := append(attrs[i].ToSlice(), attribute.String("pastmon.operation", op.Name))
			set := attribute.NewSet(kvs...)
			if op.ResponseTime.Count > 0 {
				hist = append(hist, histogramPoint(&op.ResponseTime, set, s.Start))
			}
			for _, r := range [...]struct {
				name string
				n    uint64
			}{{"ok", op.OK}, {"client_error", op.ClientError}, {"server_error", op.ServerError}} {
				rs := attribute.NewSet(append(kvs, attribute.String("pastmon.result", r.name))...)
				txn = append(txn, metricdata.DataPoint[int64]{Attributes: rs, StartTime: s.Start,
					Time: s.Start.Add(window.Width), Value: int64(min(r.n, math.MaxInt64))})
			}
		}
	}
	if len(txn) == 0 {
		return nil
	}
	out := []metricdata.Metrics{{
		Name: "pastmon.operation.transactions", Description: "transactions per operation and result", Unit: "1",
		Data: metricdata.Sum[int64]{DataPoints: txn, Temporality: metricdata.DeltaTemporality, IsMonotonic: true},
	}}
	if len(hist) > 0 {
		out = append(out, metricdata.Metrics{
			Name: "pastmon.operation.response_time", Description: "response time per operation", Unit: "s",
			Data: metricdata.ExponentialHistogram[float64]{DataPoints: hist, Temporality: metricdata.DeltaTemporality},
		})
	}
	return out
}
