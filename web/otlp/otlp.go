// Package otlp exports window summaries to an OpenTelemetry back end (a
// Collector, or anything that takes OTLP) through the OpenTelemetry Go
// SDK's OTLP metric exporters, over gRPC or HTTP/protobuf. Each window is
// sent once, as it is handed over, as delta exponential histograms of
// scale 5 (the sketch's own bins, so nothing is lost) and delta sums, with
// the sensor in the resource. It records no samples of its own and keeps no
// state across windows: what a back end does not take within the exporter's
// retries is dropped and counted, never spooled (the web node's store is
// the record).
package otlp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/pastmon/pastmon/capture/window"
)

// Config says where and how to export.
type Config struct {
	// Endpoint is host:port, or a URL: http://host:port (no TLS),
	// https://host:port, and for HTTP a path (default /v1/metrics).
	Endpoint string
	// Protocol is "grpc" (the default) or "http" (HTTP/protobuf).
	Protocol string
	// Headers go with every request (an API key, a tenant).
	Headers map[string]string
	// Insecure sends in plain text to a host:port endpoint.
	Insecure bool
	// CAFile is a PEM bundle of the CAs that sign the back end's
	// certificate (default: the system's).
	CAFile string
	// Timeout bounds one export, retries included (default 30 s).
	Timeout time.Duration
	// MaxPending bounds the windows waiting to be sent (default 100000);
	// beyond it new windows are dropped and counted.
	MaxPending int
	Logger     *slog.Logger
}

// Validate reports what is wrong with c, as flag errors.
func (c *Config) Validate() error {
	var errs []error
	switch c.Protocol {
	case "", "grpc", "http":
	default:
		errs = append(errs, fmt.Errorf("--otlp-protocol %q: want grpc or http", c.Protocol))
	}
	if _, _, _, err := c.target(); err != nil {
		errs = append(errs, err)
	}
	if c.Insecure && c.CAFile != "" {
		errs = append(errs, errors.New("--otlp-insecure and --otlp-ca exclude each other"))
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("--otlp-header %q: want name=value", k))
		}
	}
	return errors.Join(errs...)
}

// target splits the endpoint into host:port, URL path and plain text.
func (c *Config) target() (hostport, path string, plain bool, err error) {
	e := c.Endpoint
	if !strings.Contains(e, "://") {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return "", "", false, fmt.Errorf("--otlp-endpoint %q: want host:port or a URL: %v", e, err)
		}
		return e, "", c.Insecure, nil
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", false, fmt.Errorf("--otlp-endpoint %q: want host:port, http://host:port or https://host:port", e)
	}
	if u.Scheme == "http" && c.CAFile != "" {
		return "", "", false, fmt.Errorf("--otlp-endpoint %q is plain http: --otlp-ca needs https", e)
	}
	if u.Port() == "" {
		return "", "", false, fmt.Errorf("--otlp-endpoint %q: want a port (4317 for grpc, 4318 for http)", e)
	}
	return u.Host, u.Path, u.Scheme == "http" || c.Insecure, nil
}

// sdkExporter is what both of the SDK's OTLP metric exporters provide.
type sdkExporter interface {
	Export(context.Context, *metricdata.ResourceMetrics) error
	Shutdown(context.Context) error
}

// Exporter sends windows handed to Add in the background (Run).
type Exporter struct {
	exp     sdkExporter
	timeout time.Duration
	max     int
	log     *slog.Logger

	mu        sync.Mutex
	pending   []pendingBatch
	npending  int
	resources map[Sensor]*resource.Resource
	wake      chan struct{}
	idle      chan struct{} // closed and replaced when nothing is pending or in flight
	busy      bool

	exported, dropped, failed atomic.Uint64

	stop func()        // set by Start
	done chan struct{} // closed when Start's Run returns
}

type pendingBatch struct {
	res *resource.Resource
	rm  *metricdata.ResourceMetrics
	n   int
}

// New makes an exporter; it does not connect until the first export.
func New(ctx context.Context, cfg Config) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exp, err := newSDKExporter(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", cfg.Endpoint, err)
	}
	e := &Exporter{exp: exp, timeout: cfg.Timeout, max: cfg.MaxPending, log: cfg.Logger,
		resources: map[Sensor]*resource.Resource{}, wake: make(chan struct{}, 1), idle: make(chan struct{})}
	if e.timeout <= 0 {
		e.timeout = 30 * time.Second
	}
	if e.max <= 0 {
		e.max = 100000
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	close(e.idle)
	return e, nil
}

func newSDKExporter(ctx context.Context, cfg *Config) (sdkExporter, error) {
	hostport, path, plain, err := cfg.target()
	if err != nil {
		return nil, err
	}
	var tcfg *tls.Config
	if !plain {
		if tcfg, err = tlsConfig(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if cfg.Protocol == "http" {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(hostport), otlpmetrichttp.WithTimeout(timeout)}
		if path != "" && path != "/" {
			opts = append(opts, otlpmetrichttp.WithURLPath(path))
		}
		if plain {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		} else {
			opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tcfg))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlpmetrichttp.WithHeaders(cfg.Headers))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(hostport), otlpmetricgrpc.WithTimeout(timeout)}
	if plain {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	} else {
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tcfg)))
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlpmetricgrpc.WithHeaders(cfg.Headers))
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

func tlsConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--otlp-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--otlp-ca %s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Add queues the windows a sensor saw for export; it converts them at
// once (the caller may reuse them) and never blocks on the network. When
// MaxPending windows wait already, the windows are dropped and counted.
// A nil exporter drops nothing and does nothing.
func (e *Exporter) Add(s Sensor, sums []window.Summary) {
	if e == nil || len(sums) == 0 {
		return
	}
	e.mu.Lock()
	if e.npending+len(sums) > e.max {
		e.mu.Unlock()
		e.dropped.Add(uint64(len(sums)))
		return
	}
	res := e.resource(s)
	e.mu.Unlock()
	rm := Convert(res, sums)
	e.mu.Lock()
	e.pending = append(e.pending, pendingBatch{res: res, rm: rm, n: len(sums)})
	e.npending += len(sums)
	if !e.busy {
		e.busy = true
		e.idle = make(chan struct{})
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// resource returns the resource of s, made once per sensor (e.mu held).
func (e *Exporter) resource(s Sensor) *resource.Resource {
	if r, ok := e.resources[s]; ok {
		return r
	}
	r := s.Resource()
	if len(e.resources) < 10000 {
		e.resources[s] = r
	}
	return r
}

// Run sends what Add queues until ctx is done.
func (e *Exporter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		}
		e.sendPending(ctx)
	}
}

// sendPending sends everything queued, one request per sensor.
func (e *Exporter) sendPending(ctx context.Context) {
	for {
		e.mu.Lock()
		batches := e.pending
		e.pending = nil
		if len(batches) == 0 {
			if e.busy { // a spare wake-up finds nothing to do
				e.busy = false
				close(e.idle)
			}
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		for _, b := range group(batches) {
			e.send(ctx, b)
		}
		e.mu.Lock()
		for _, b := range batches {
			e.npending -= b.n
		}
		e.mu.Unlock()
	}
}

func (e *Exporter) send(ctx context.Context, b pendingBatch) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.exp.Export(ctx, b.rm); err != nil {
		e.failed.Add(uint64(b.n))
		e.log.Warn("otlp export failed: windows dropped", "windows", b.n, "err", err)
		return
	}
	e.exported.Add(uint64(b.n))
}

// group merges batches of the same sensor into one request each.
func group(batches []pendingBatch) []pendingBatch {
	var out []pendingBatch
	at := map[*resource.Resource]int{}
	for _, b := range batches {
		i, ok := at[b.res]
		if !ok {
			at[b.res] = len(out)
			out = append(out, b)
			continue
		}
		out[i].rm = mergeRM(out[i].rm, b.rm)
		out[i].n += b.n
	}
	return out
}

// mergeRM appends b's data points to a's metrics of the same name.
func mergeRM(a, b *metricdata.ResourceMetrics) *metricdata.ResourceMetrics {
	as := &a.ScopeMetrics[0]
	at := map[string]int{}
	for i, m := range as.Metrics {
		at[m.Name] = i
	}
	for _, m := range b.ScopeMetrics[0].Metrics {
		i, ok := at[m.Name]
		if !ok {
			at[m.Name] = len(as.Metrics)
			as.Metrics = append(as.Metrics, m)
			continue
		}
		switch d := as.Metrics[i].Data.(type) {
		case metricdata.ExponentialHistogram[float64]:
			d.DataPoints = append(d.DataPoints, m.Data.(metricdata.ExponentialHistogram[float64]).DataPoints...)
			as.Metrics[i].Data = d
		case metricdata.Sum[int64]:
			d.DataPoints = append(d.DataPoints, m.Data.(metricdata.Sum[int64]).DataPoints...)
			as.Metrics[i].Data = d
		}
	}
	return a
}

// Flush waits until everything queued so far has been sent (or dropped),
// or ctx ends. Run must be running.
func (e *Exporter) Flush(ctx context.Context) error {
	e.mu.Lock()
	idle := e.idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("otlp: windows still unsent: %w", ctx.Err())
	}
}

// Shutdown closes the connection; call it after Run has returned.
func (e *Exporter) Shutdown(ctx context.Context) error { return e.exp.Shutdown(ctx) }

// Stats are the exporter's running totals, in windows.
type Stats struct {
	Exported, Dropped, Failed uint64
}

// Stats returns the windows exported, dropped because too many waited,
// and given up after failed exports.
func (e *Exporter) Stats() Stats {
	return Stats{e.exported.Load(), e.dropped.Load(), e.failed.Load()}
}

// Start makes an exporter and runs it in the background until Close.
func Start(ctx context.Context, cfg Config) (*Exporter, error) {
	e, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = cancel
	e.done = make(chan struct{})
	go func() { defer close(e.done); e.Run(rctx) }()
	return e, nil
}

// Close sends what is queued until ctx ends, then stops the exporter
// Start started and closes its connection. A nil exporter does nothing.
func (e *Exporter) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	err := e.Flush(ctx)
	if e.stop != nil {
		e.stop()
		<-e.done
	}
	if st := e.Stats(); st.Dropped+st.Failed > 0 {
		e.log.Warn("otlp: windows not exported", "dropped", st.Dropped, "failed", st.Failed, "exported", st.Exported)
	}
	return errors.Join(err, e.exp.Shutdown(ctx))
}

// StartIf starts an exporter as Start does when cfg names an endpoint; with
// none it returns nil, an exporter that does nothing.
func StartIf(ctx context.Context, cfg Config) (*Exporter, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	e, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.log.Info("exporting windows over OTLP", "endpoint", cfg.Endpoint, "protocol", cfg.Protocol)
	return e, nil
}

// CloseWithin is Close bounded by wait, logging what went wrong: for
// deferred calls at shutdown.
func (e *Exporter) CloseWithin(ctx context.Context, wait time.Duration) {
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		e.log.Warn("otlp exporter", "err", err)
	}
}

// Windows returns a hook that hands stored windows to e, or nil for a nil
// exporter (no hook).
func (e *Exporter) Windows() func(window.SensorInfo, []window.Summary) {
	if e == nil {
		return nil
	}
	return func(s window.SensorInfo, sums []window.Summary) {
		e.Add(Sensor{Name: s.Name, Version: s.Version}, sums)
	}
}

// Tee returns a window handler that exports each window as sensor s
// before passing it to next; for a nil exporter it is next itself.
func (e *Exporter) Tee(s Sensor, next func(window.Summary)) func(window.Summary) {
	if e == nil {
		return next
	}
	return func(w window.Summary) {
		e.Add(s, []window.Summary{w})
		next(w)
	}
}
