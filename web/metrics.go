package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pastmon/pastmon/web/promexport"
)

// metricsHandler serves the Prometheus exposition of the web node's
// registry (client_golang negotiates text or protobuf, so that native
// histograms reach scrapers that ask for them) to a user or to a scraper
// holding --metrics-token.
func (s *Server) metricsHandler() http.HandlerFunc {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.totals.Collector(nil), &nodeCollector{s: s, d: newNodeDescs()})
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError, ErrorLog: slogPrinter{s}})
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.metricsAllowed(w, r) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	}
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("serve /metrics", "err", fmt.Sprint(v...)) }

func (s *Server) metricsAllowed(w http.ResponseWriter, r *http.Request) bool {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if s.cfg.MetricsToken != "" && equalSecret(token, s.cfg.MetricsToken) {
			return true
		}
		writeJSONError(w, http.StatusUnauthorized, "wrong metrics token")
		return false
	}
	id, err := s.authenticate(r)
	switch {
	case err != nil:
		s.authFailed(w, r, err)
		return false
	case id == nil:
		writeJSONError(w, http.StatusUnauthorized, "login required: a user, or Authorization: Bearer <--metrics-token>")
		return false
	case id.user.MustChange:
		writeJSONError(w, http.StatusForbidden, "password must be changed first")
		return false
	}
	return true
}

// nodeCollector exports the web node's own health: ingest, database and
// sensors (as they last reported).
type nodeCollector struct {
	s *Server
	d nodeDescs
}

type nodeDescs struct {
	requests, errors, received, batches, windows, duplicates, storeErrors *prometheus.Desc
	sensors, online, lastSeen, packets, drops, flows, spool, spoolLost    *prometheus.Desc
	dbSize, unreadable, quarantined                                       *prometheus.Desc
	windowsRejected                                                       *prometheus.Desc
}

func newNodeDescs() nodeDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(promexport.Namespace+"_"+name, help, labels, nil)
	}
	return nodeDescs{
		requests:        d("ingest_requests_total", "Ingest requests by HTTP status.", "code"),
		errors:          d("ingest_errors_total", "Ingest requests not acknowledged (bad input, bad token, store failure)."),
		received:        d("ingest_received_bytes_total", "Ingest request body bytes read."),
		batches:         d("ingest_batches_total", "Batches stored since start (duplicates excluded)."),
		windows:         d("ingest_windows_total", "Window summaries stored since start."),
		duplicates:      d("ingest_duplicate_batches_total", "Batches acknowledged again without storing (already seen)."),
		storeErrors:     d("ingest_store_errors_total", "Batches the database failed to store."),
		sensors:         d("sensors", "Sensors known to this web node."),
		online:          d("sensors_online", "Sensors that reported within the last two windows."),
		lastSeen:        d("sensor_last_seen_timestamp_seconds", "When each sensor last reported (Unix time).", "sensor"),
		packets:         d("sensor_packets", "Packets the sensor captured, as it last reported.", "sensor"),
		drops:           d("sensor_drops", "Packets the sensor's capture dropped (kernel drops), as it last reported.", "sensor"),
		flows:           d("sensor_flows", "Connections the sensor tracks, as it last reported.", "sensor"),
		spool:           d("sensor_spool_windows", "Windows waiting in the sensor's spool, as it last reported.", "sensor"),
		spoolLost:       d("sensor_spool_dropped_windows", "Windows the sensor's full spool dropped, as it last reported.", "sensor"),
		dbSize:          d("db_size_bytes", "Size of the database file."),
		unreadable:      d("store_unreadable_rows_total", "Unreadable stored rows that readers or maintenance skipped."),
		quarantined:     d("store_quarantined_rows_total", "Unreadable stored rows moved into the quarantine table."),
		windowsRejected: d("ingest_rejected_windows_total", "Windows refused by ingest (invalid, or their merge would overflow)."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.d
	for _, x := range []*prometheus.Desc{d.requests, d.errors, d.received, d.batches, d.windows, d.duplicates, d.storeErrors,
		d.sensors, d.online, d.lastSeen, d.packets, d.drops, d.flows, d.spool, d.spoolLost, d.dbSize,
		d.unreadable, d.quarantined, d.windowsRejected} {
		ch <- x
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s, d := c.s, &c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	s.ingest.mu.Lock()
	var rejected uint64
	for code, n := range s.ingest.byCode {
		counter(d.requests, n, strconv.Itoa(code))
		if code != http.StatusOK {
			rejected += n
		}
	}
	counter(d.received, uint64(s.ingest.bytes))
	s.ingest.mu.Unlock()
	counter(d.errors, rejected)
	st := s.db.Stats()
	counter(d.batches, st.Batches)
	counter(d.windows, st.Windows)
	counter(d.duplicates, st.Duplicates)
	counter(d.storeErrors, st.Errors)
	counter(d.windowsRejected, st.Rejected)
	bad := s.db.BadRows()
	counter(d.unreadable, bad.Skipped)
	counter(d.quarantined, bad.Quarantined)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sensors, err := s.db.Sensors(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(d.sensors, fmt.Errorf("list sensors: %w", err))
		return
	}
	online := 0
	now := s.now()
	for _, sn := range sensors {
		if now.Sub(sn.LastSeen) <= onlineWithin {
			online++
		}
		gauge(d.lastSeen, float64(sn.LastSeen.Unix()), sn.Name)
		gauge(d.packets, float64(sn.Packets), sn.Name)
		gauge(d.drops, float64(sn.Drops), sn.Name)
		gauge(d.flows, float64(sn.Flows), sn.Name)
		gauge(d.spool, float64(sn.SpoolDepth), sn.Name)
		gauge(d.spoolLost, float64(sn.SpoolLost), sn.Name)
	}
	gauge(d.sensors, float64(len(sensors)))
	gauge(d.online, float64(online))
	size, err := s.db.Size(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(d.dbSize, fmt.Errorf("database size: %w", err))
		return
	}
	gauge(d.dbSize, float64(size))
}
