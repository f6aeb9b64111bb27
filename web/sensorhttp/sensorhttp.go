// Package sensorhttp is a sensor's own HTTP listener (pastmon sensor
// --metrics-listen): GET /metrics serves, for a bearer token, the totals of
// the windows this sensor closed since it started (the web node's
// families, labelled with the sensor's name) and its capture and delivery
// health; GET /healthz answers 200 while the capture loop runs and 503
// otherwise, for liveness probes. It does not capture or deliver anything
// itself.
package sensorhttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web/promexport"
)

// Health is what the sensor reports about itself: the sensor info its
// batches carry, and the windows delivered and refused.
type Health interface {
	Info(ctx context.Context) window.SensorInfo
	Delivered() uint64
	Rejected() uint64
}

// Config is what a Server needs.
type Config struct {
	Addr   string             // listen address
	Token  string             // bearer token of /metrics (required)
	Name   string             // the sensor's name, label of every series
	Totals *promexport.Totals // nil: fresh totals, fed by OnWindow
	Health Health
}

// Server is a running listener. A nil *Server is one that is off: its
// methods do nothing.
type Server struct {
	totals  *promexport.Totals
	srv     *http.Server
	ln      net.Listener
	running atomic.Bool
	done    chan error
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("sensor metrics: a token is required")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sensor metrics: %w", err)
	}
	if cfg.Totals == nil {
		cfg.Totals = promexport.New(promexport.Options{}, nil)
	}
	s := &Server{totals: cfg.Totals, ln: ln, done: make(chan error, 1)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(cfg.Totals.Collector(prometheus.Labels{"sensor": cfg.Name}), newHealthCollector(cfg.Name, cfg.Health))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.running.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "capture not running")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "want Authorization: Bearer <the sensor's --metrics-token>", http.StatusUnauthorized)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute}
	go func() { s.done <- s.srv.Serve(ln) }()
	slog.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the address it listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetRunning says whether the capture loop runs (what /healthz reports).
func (s *Server) SetRunning(b bool) {
	if s != nil {
		s.running.Store(b)
	}
}

// OnWindow returns next, counting each window in the totals first.
func (s *Server) OnWindow(next func(window.Summary)) func(window.Summary) {
	if s == nil {
		return next
	}
	return func(w window.Summary) {
		s.totals.Add([]window.Summary{w})
		next(w)
	}
}

// Close stops serving, waiting up to 5 s for requests in flight.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// healthCollector exports the capture's and the delivery's health.
type healthCollector struct {
	h                                                                  Health
	packets, drops, flows, spool, spoolLost, delivered, rejected, info *prometheus.Desc
}

func newHealthCollector(name string, h Health) *healthCollector {
	labels := prometheus.Labels{"sensor": name}
	d := func(n, help string, vl ...string) *prometheus.Desc {
		return prometheus.NewDesc(promexport.Namespace+"_"+n, help, vl, labels)
	}
	return &healthCollector{h: h,
		packets:   d("capture_packets_total", "Packets captured since the sensor started."),
		drops:     d("capture_drops_total", "Packets the kernel dropped before the sensor read them."),
		flows:     d("capture_flows", "Connections tracked now."),
		spool:     d("spool_windows", "Windows waiting in the spool for the web node."),
		spoolLost: d("spool_dropped_windows_total", "Windows dropped because the spool was full."),
		delivered: d("delivered_windows_total", "Windows the web node acknowledged."),
		rejected:  d("rejected_windows_total", "Windows the web node refused as invalid (dropped)."),
		info:      d("sensor_info", "The sensor's version.", "version"),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.drops, c.flows, c.spool, c.spoolLost, c.delivered, c.rejected, c.info} {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info := c.h.Info(ctx)
	m := func(d *prometheus.Desc, t prometheus.ValueType, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), labels...)
	}
	m(c.packets, prometheus.CounterValue, info.Packets)
	m(c.drops, prometheus.CounterValue, info.Drops)
	m(c.flows, prometheus.GaugeValue, info.Flows)
	m(c.spool, prometheus.GaugeValue, info.SpoolDepth)
	m(c.spoolLost, prometheus.CounterValue, info.SpoolLost)
	m(c.delivered, prometheus.CounterValue, c.h.Delivered())
	m(c.rejected, prometheus.CounterValue, c.h.Rejected())
	m(c.info, prometheus.GaugeValue, 1, info.Version)
}
