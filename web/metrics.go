package web

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// metrics serves the Prometheus text exposition (format 0.0.4) to a user
// or to a scraper holding --metrics-token.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if !s.metricsAllowed(w, r) {
		return
	}
	var buf strings.Builder
	if err := s.writeMetrics(r.Context(), &buf); err != nil {
		s.fail(w, "collect metrics", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	_, _ = bw.WriteString(buf.String())
	_ = bw.Flush()
}

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

type expo struct{ b *strings.Builder }

func (e expo) head(name, typ, help string) {
	fmt.Fprintf(e.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (e expo) sample(name string, v float64, labels ...string) {
	e.b.WriteString(name)
	if len(labels) > 0 {
		e.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.b.WriteByte(',')
			}
			e.b.WriteString(labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
		}
		e.b.WriteByte('}')
	}
	e.b.WriteByte(' ')
	e.b.WriteString(formatValue(v))
	e.b.WriteByte('\n')
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (s *Server) writeMetrics(ctx context.Context, b *strings.Builder) error {
	e := expo{b}
	now := s.now()

	s.ingest.mu.Lock()
	codes := make([]int, 0, len(s.ingest.byCode))
	for c := range s.ingest.byCode {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	byCode := make([]uint64, len(codes))
	var rejected uint64
	for i, c := range codes {
		byCode[i] = s.ingest.byCode[c]
		if c != http.StatusOK {
			rejected += byCode[i]
		}
	}
	inBytes := s.ingest.bytes
	s.ingest.mu.Unlock()

	e.head("pastmon_ingest_requests_total", "counter", "Ingest requests by HTTP status.")
	for i, c := range codes {
		e.sample("pastmon_ingest_requests_total", float64(byCode[i]), "code", strconv.Itoa(c))
	}
	e.head("pastmon_ingest_errors_total", "counter", "Ingest requests not acknowledged (bad input, bad token, store failure).")
	e.sample("pastmon_ingest_errors_total", float64(rejected))
	e.head("pastmon_ingest_received_bytes_total", "counter", "Ingest request body bytes read.")
	e.sample("pastmon_ingest_received_bytes_total", float64(inBytes))

	st := s.db.Stats()
	e.head("pastmon_ingest_batches_total", "counter", "Batches stored since start (duplicates excluded).")
	e.sample("pastmon_ingest_batches_total", float64(st.Batches))
	e.head("pastmon_ingest_windows_total", "counter", "Window summaries stored since start.")
	e.sample("pastmon_ingest_windows_total", float64(st.Windows))
	e.head("pastmon_ingest_duplicate_batches_total", "counter", "Batches acknowledged again without storing (already seen).")
	e.sample("pastmon_ingest_duplicate_batches_total", float64(st.Duplicates))
	e.head("pastmon_ingest_store_errors_total", "counter", "Batches the database failed to store.")
	e.sample("pastmon_ingest_store_errors_total", float64(st.Errors))

	sensors, err := s.db.Sensors(ctx)
	if err != nil {
		return fmt.Errorf("list sensors: %w", err)
	}
	online := 0
	for _, sn := range sensors {
		if now.Sub(sn.LastSeen) <= onlineWithin {
			online++
		}
	}
	e.head("pastmon_sensors", "gauge", "Sensors known to this web node.")
	e.sample("pastmon_sensors", float64(len(sensors)))
	e.head("pastmon_sensors_online", "gauge", "Sensors that reported within the last two windows.")
	e.sample("pastmon_sensors_online", float64(online))
	e.head("pastmon_sensor_last_seen_timestamp_seconds", "gauge", "When each sensor last reported (Unix time).")
	for _, sn := range sensors {
		e.sample("pastmon_sensor_last_seen_timestamp_seconds", float64(sn.LastSeen.Unix()), "sensor", sn.Name)
	}
	e.head("pastmon_sensor_drops", "gauge", "Packets the sensor's capture dropped, as last reported.")
	for _, sn := range sensors {
		e.sample("pastmon_sensor_drops", float64(sn.Drops), "sensor", sn.Name)
	}

	size, err := s.db.Size(ctx)
	if err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	e.head("pastmon_db_size_bytes", "gauge", "Size of the database file.")
	e.sample("pastmon_db_size_bytes", float64(size))
	bad := s.db.BadRows()
	e.head("pastmon_store_unreadable_rows_total", "counter", "Unreadable stored rows that readers or maintenance skipped.")
	e.sample("pastmon_store_unreadable_rows_total", float64(bad.Skipped))
	e.head("pastmon_store_quarantined_rows_total", "counter", "Unreadable stored rows moved into the quarantine table.")
	e.sample("pastmon_store_quarantined_rows_total", float64(bad.Quarantined))
	return s.writeLatestWindow(ctx, e, now)
}

// writeLatestWindow exports the last complete window of every server seen
// in it as gauges.
func (s *Server) writeLatestWindow(ctx context.Context, e expo, now time.Time) error {
	start := window.Start(now).Add(-window.Width)
	// The busiest servers only: /metrics must stay bounded however many
	// servers a scan created.
	page, err := s.db.ServerList(ctx, store.ServersQuery{From: start, To: start.Add(window.Width),
		Sort: store.SortConnections, Limit: store.MaxServersLimit})
	if err != nil {
		return fmt.Errorf("latest window: %w", err)
	}
	list := page.Servers
	sort.Slice(list, func(i, j int) bool { return list[i].Server.String() < list[j].Server.String() })
	e.head("pastmon_window_start_timestamp_seconds", "gauge", "Start of the window the pastmon_server_* gauges describe (Unix time).")
	e.sample("pastmon_window_start_timestamp_seconds", float64(start.Unix()))
	counters := []struct {
		name string
		get  func(c *window.Counters) uint64
	}{
		{"connections", func(c *window.Counters) uint64 { return c.Connections }},
		{"established", func(c *window.Counters) uint64 { return c.Established }},
		{"refused", func(c *window.Counters) uint64 { return c.Refused }},
		{"unanswered", func(c *window.Counters) uint64 { return c.Unanswered }},
		{"resets", func(c *window.Counters) uint64 { return c.Resets }},
		{"retransmits", func(c *window.Counters) uint64 { return c.Retransmits }},
		{"transactions", func(c *window.Counters) uint64 { return c.Transactions }},
	}
	for _, c := range counters {
		name := "pastmon_server_" + c.name
		e.head(name, "gauge", "Per server, "+c.name+" in the latest complete window.")
		for i := range list {
			sv := &list[i]
			e.sample(name, float64(c.get(&sv.Counters)), "server", sv.Server.String(), "service", serviceGuess(sv.Server.Port()))
		}
	}
	for m := window.Metric(0); m < window.NumMetrics; m++ {
		name := "pastmon_server_" + m.String() + "_microseconds"
		e.head(name, "gauge", "Per server, "+m.String()+" in the latest complete window (avg, min, max, p50, p95, p99).")
		for i := range list {
			sv := &list[i]
			d := &sv.Metrics[m]
			if d.Count == 0 {
				continue
			}
			labels := func(stat string) []string {
				return []string{"server", sv.Server.String(), "service", serviceGuess(sv.Server.Port()), "stat", stat}
			}
			e.sample(name, d.Avg(), labels("avg")...)
			e.sample(name, d.Min, labels("min")...)
			e.sample(name, d.Max, labels("max")...)
			e.sample(name, d.Quantile(0.5), labels("p50")...)
			e.sample(name, d.Quantile(0.95), labels("p95")...)
			e.sample(name, d.Quantile(0.99), labels("p99")...)
		}
	}
	return nil
}
