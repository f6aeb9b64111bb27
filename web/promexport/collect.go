package promexport

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pastmon/pastmon/capture/window"
)

// Names of the families, for dashboards and tests: every timing metric m
// is the histogram "pastmon_"+m+"_seconds", every counter c the counter
// "pastmon_"+c+"_total", both labelled server and transport.
const (
	Namespace          = "pastmon"
	OperationRequests  = "pastmon_operation_transactions_total"
	OperationResponse  = "pastmon_operation_response_time_seconds"
	ServerInfo         = "pastmon_server_info"
	OmittedWindows     = "pastmon_metrics_omitted_windows_total"
	EvictedServers     = "pastmon_metrics_evicted_servers_total"
	ExportedServers    = "pastmon_metrics_servers"
	serverLabel        = "server"
	transportLabel     = "transport"
	protocolLabel      = "protocol"
	operationLabel     = "operation"
	resultLabel        = "result"
	classicLowExponent = -16 // classic buckets: 2^-16 s (15 µs) …
	classicTopExponent = 7   // … 2^7 s (128 s), a bucket per octave
)

// HistogramName is the family of timing metric m.
func HistogramName(m window.Metric) string { return Namespace + "_" + m.String() + "_seconds" }

// CounterName is the family of counter c.
func CounterName(c window.Counter) string { return Namespace + "_" + c.String() + "_total" }

// Names lists every family a Totals exports.
func Names() []string {
	var names []string
	for m := range window.NumMetrics {
		names = append(names, HistogramName(m))
	}
	for c := range window.NumCounters {
		names = append(names, CounterName(c))
	}
	return append(names, OperationRequests, OperationResponse, ServerInfo, OmittedWindows, EvictedServers, ExportedServers)
}

type descs struct {
	hist                                              [window.NumMetrics]*prometheus.Desc
	counters                                          [window.NumCounters]*prometheus.Desc
	opCount, opTime, info, omitted, evicted, exported *prometheus.Desc
}

func newDescs(constLabels prometheus.Labels) *descs {
	d := &descs{}
	sl := []string{serverLabel, transportLabel}
	for m := range window.NumMetrics {
		d.hist[m] = prometheus.NewDesc(HistogramName(m), "Per server, "+m.String()+" (seconds), all sensors merged, since this process started counting.", sl, constLabels)
	}
	for c := range window.NumCounters {
		d.counters[c] = prometheus.NewDesc(CounterName(c), "Per server, "+strings.ReplaceAll(c.String(), "_", " ")+", all sensors merged.", sl, constLabels)
	}
	ol := []string{serverLabel, transportLabel, protocolLabel, operationLabel}
	d.opCount = prometheus.NewDesc(OperationRequests, "Per server and operation, transactions by result (ok, client_error, server_error).", append(ol, resultLabel), constLabels)
	d.opTime = prometheus.NewDesc(OperationResponse, "Per server and operation, response_time (seconds).", ol, constLabels)
	d.info = prometheus.NewDesc(ServerInfo, "Each exported server's protocol (empty for plain tcp).", []string{serverLabel, transportLabel, protocolLabel}, constLabels)
	d.omitted = prometheus.NewDesc(OmittedWindows, "Windows of servers beyond --metrics-max-servers, counted under server=\"other\".", nil, constLabels)
	d.evicted = prometheus.NewDesc(EvictedServers, "Exported servers that gave way to busier ones, or to others after an hour without windows.", nil, constLabels)
	d.exported = prometheus.NewDesc(ExportedServers, "Servers exported by name.", nil, constLabels)
	return d
}

// Collector returns a prometheus.Collector of t, its series labelled with
// constLabels too (a sensor's name on a sensor).
func (t *Totals) Collector(constLabels prometheus.Labels) prometheus.Collector {
	return &collector{t: t, d: newDescs(constLabels)}
}

type collector struct {
	t *Totals
	d *descs
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.hist {
		ch <- d
	}
	for _, d := range c.d.counters {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.d.opCount, c.d.opTime, c.d.info, c.d.omitted, c.d.evicted, c.d.exported} {
		ch <- d
	}
}

// Collect exports a snapshot taken under the lock; series collected for
// the first time are released (see series).
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	t := c.t
	var out []prometheus.Metric
	t.mu.Lock()
	all := make([]*server, 0, len(t.servers)+2)
	for _, sv := range t.servers {
		all = append(all, sv)
	}
	for _, o := range t.other {
		if o != nil {
			all = append(all, o)
		}
	}
	for _, sv := range all {
		out = c.server(out, sv)
		sv.s.release()
		for _, op := range sv.ops {
			op.release()
		}
	}
	out = append(out,
		prometheus.MustNewConstMetric(c.d.omitted, prometheus.CounterValue, float64(t.omitted)),
		prometheus.MustNewConstMetric(c.d.evicted, prometheus.CounterValue, float64(t.evicted)),
		prometheus.MustNewConstMetric(c.d.exported, prometheus.GaugeValue, float64(len(t.servers))))
	t.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
}

func (c *collector) server(out []prometheus.Metric, sv *server) []prometheus.Metric {
	transport := "tcp"
	if sv.key.udp {
		transport = "udp"
	}
	d := &sv.s.cur
	for m := range d.metrics {
		out = append(out, newHistogram(c.d.hist[m], &d.metrics[m], sv.s.created, sv.name, transport))
	}
	for k := range window.NumCounters {
		out = append(out, counter(c.d.counters[k], *d.counters.Field(k), sv.s.created, sv.name, transport))
	}
	if sv.name != Other {
		out = append(out, prometheus.MustNewConstMetric(c.d.info, prometheus.GaugeValue, 1, sv.name, transport, sv.protocol))
	}
	keys := make([]opKey, 0, len(sv.ops))
	for k := range sv.ops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b opKey) int { return strings.Compare(a.protocol+"\x00"+a.name, b.protocol+"\x00"+b.name) })
	for _, k := range keys {
		op := sv.ops[k]
		o := &op.cur
		labels := []string{sv.name, transport, k.protocol, k.name}
		for _, r := range []struct {
			name string
			n    uint64
		}{{"ok", o.ok}, {"client_error", o.clientError}, {"server_error", o.serverError}} {
			out = append(out, counter(c.d.opCount, r.n, op.created, append(labels, r.name)...))
		}
		out = append(out, newHistogram(c.d.opTime, &o.responseTime, op.created, labels...))
	}
	return out
}

func counter(d *prometheus.Desc, v uint64, created time.Time, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetricWithCreatedTimestamp(d, prometheus.CounterValue, float64(v), created, labels...)
}

// histogram is a Prometheus histogram made from a Dist's bins: native
// (schema 5, the bins themselves) and classic (cumulative counts at
// powers of two seconds, which are bin bounds, so exact too).
type histogram struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *dto.Histogram
}

func (h *histogram) Desc() *prometheus.Desc { return h.desc }

func (h *histogram) Write(m *dto.Metric) error {
	m.Label = h.labels
	m.Histogram = h.h
	return nil
}

func newHistogram(desc *prometheus.Desc, d *window.Dist, created time.Time, labels ...string) prometheus.Metric {
	bins, zero := d.Bins(nil)
	h := &dto.Histogram{
		SampleCount:      proto64(d.Count),
		SampleSum:        protoF(d.Sum / 1e6),
		Schema:           proto32(window.Schema),
		ZeroThreshold:    protoF(window.ZeroThreshold),
		ZeroCount:        proto64(zero),
		CreatedTimestamp: timestamppb.New(created),
	}
	// Native buckets: spans of consecutive keys, gaps of up to two empty
	// buckets filled in (as client_golang does).
	prev, last := 0, int64(0)
	for i, b := range bins {
		gap := b.Key - prev - 1
		switch {
		case i == 0:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto32(int32(b.Key)), Length: proto32u(0)})
		case gap > 2:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto32(int32(gap)), Length: proto32u(0)})
		default:
			for range gap {
				h.PositiveDelta = append(h.PositiveDelta, -last)
				last = 0
				*h.PositiveSpan[len(h.PositiveSpan)-1].Length++
			}
		}
		n := int64(b.Count)
		h.PositiveDelta = append(h.PositiveDelta, n-last)
		last = n
		*h.PositiveSpan[len(h.PositiveSpan)-1].Length++
		prev = b.Key
	}
	if len(bins) == 0 && zero == 0 {
		// No observations: a span-less native histogram still needs to
		// look native to the scraper.
		h.PositiveSpan = []*dto.BucketSpan{{Offset: proto32(0), Length: proto32u(0)}}
	}
	cum, j := zero, 0
	for e := classicLowExponent; e <= classicTopExponent; e++ {
		for ; j < len(bins) && bins[j].Key <= e*(1<<window.Schema); j++ {
			cum += bins[j].Count
		}
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: protoF(math.Ldexp(1, e)), CumulativeCount: proto64(cum)})
	}
	return &histogram{desc: desc, labels: prometheus.MakeLabelPairs(desc, labels), h: h}
}

func proto64(v uint64) *uint64  { return &v }
func proto32(v int32) *int32    { return &v }
func proto32u(v uint32) *uint32 { return &v }
func protoF(v float64) *float64 { return &v }
