package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// maxRange bounds the time range of one API query.
const maxRange = 400 * 24 * time.Hour

type serverJSON struct {
	Server    string    `json:"server"`
	Transport string    `json:"transport"`          // "tcp" or "udp"
	Protocol  string    `json:"protocol,omitempty"` // "http", "postgres" …; absent for plain tcp
	Service   string    `json:"service"`
	Sensors   []string  `json:"sensors"`
	LastSeen  time.Time `json:"last_seen"`
	window.Counters
	Metrics map[string]window.Stats `json:"metrics"`
	Spark   []sparkJSON             `json:"spark"`
}

type sparkJSON struct {
	T           time.Time `json:"t"`
	RTTAvg      *float64  `json:"rtt_avg_us"`
	ResponseAvg *float64  `json:"response_avg_us"`
	Connections uint64    `json:"connections"`
}

// orNull maps NaN (no samples) to JSON null.
func orNull(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	v = math.Round(v*1000) / 1000
	return &v
}

// timeRange reads from and to (RFC 3339); to defaults to now and from to
// def before to.
func (s *Server) timeRange(r *http.Request, def time.Duration) (from, to time.Time, err error) {
	q := r.URL.Query()
	to = s.now()
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, fmt.Errorf("to: want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", v)
		}
	}
	from = to.Add(-def)
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, fmt.Errorf("from: want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", v)
		}
	}
	switch {
	case !from.Before(to):
		return from, to, errors.New("from must be before to")
	case to.Sub(from) > maxRange:
		return from, to, fmt.Errorf("range of %s is longer than the %d days allowed", to.Sub(from), int(maxRange.Hours()/24))
	}
	return from.UTC(), to.UTC(), nil
}

// serversQuery reads limit (default 100), sort (worst, connections,
// server; default worst: see store.SortWorst, failing servers first, then
// by p95 response time), q and the time range of a server listing.
func (s *Server) serversQuery(r *http.Request) (store.ServersQuery, error) {
	v := r.URL.Query()
	q := store.ServersQuery{Limit: 100, Q: v.Get("q")}
	var err error
	if q.From, q.To, err = s.timeRange(r, time.Hour); err != nil {
		return q, err
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > store.MaxServersLimit {
			return q, fmt.Errorf("limit: want 1 to %d, got %q", store.MaxServersLimit, l)
		}
	}
	if o := v.Get("offset"); o != "" {
		if q.Offset, err = strconv.Atoi(o); err != nil || q.Offset < 0 || q.Offset+q.Limit > store.MaxServersDepth {
			return q, fmt.Errorf("offset: want 0 to %d minus limit, got %q", store.MaxServersDepth, o)
		}
	}
	if so := v.Get("sort"); so != "" {
		var ok bool
		if q.Sort, ok = store.ParseServerSort(so); !ok {
			return q, fmt.Errorf("sort: want worst, connections or server, got %q", so)
		}
	}
	if len(q.Q) > 200 {
		return q, errors.New("q: at most 200 bytes")
	}
	q.QPorts = servicePorts(q.Q)
	return q, nil
}

func (s *Server) apiServers(w http.ResponseWriter, r *http.Request) {
	q, err := s.serversQuery(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.db.ServerList(r.Context(), q)
	if err != nil {
		s.fail(w, r, "list servers", err)
		return
	}
	out := make([]serverJSON, 0, len(list.Servers))
	for i := range list.Servers {
		out = append(out, toServerJSON(&list.Servers[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": q.From, "to": q.To, "matched": list.Matched,
		"limit": q.Limit, "offset": q.Offset, "servers": out})
}

func toServerJSON(sv *store.ServerSummary) serverJSON {
	j := serverJSON{
		Server: sv.Server.String(), Transport: "tcp", Protocol: sv.Protocol, Service: serviceGuess(sv.Server.Port()), Sensors: sv.Sensors,
		LastSeen: sv.LastSeen.UTC(), Counters: sv.Counters, Metrics: map[string]window.Stats{},
		Spark: make([]sparkJSON, 0, len(sv.Spark)),
	}
	if sv.Transport == "udp" {
		j.Transport = "udp"
	}
	if j.Sensors == nil {
		j.Sensors = []string{}
	}
	for m := window.Metric(0); m < window.NumMetrics; m++ {
		j.Metrics[m.String()] = sv.Metrics[m].Stats()
	}
	for _, p := range sv.Spark {
		j.Spark = append(j.Spark, sparkJSON{T: p.T.UTC(), RTTAvg: orNull(p.RTTAvg), ResponseAvg: orNull(p.ResponseAvg), Connections: p.Connections})
	}
	return j
}

type seriesJSON struct {
	Server string `json:"server"`
	Metric string `json:"metric"`
	Sensor string `json:"sensor,omitempty"`
	// Operation is set when the points are the operation's own (only
	// response_time and the transaction counters are kept per operation).
	Operation string            `json:"operation,omitempty"`
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Step      int64             `json:"step_s"`
	Points    []seriesPointJSON `json:"points"`
}

// seriesPointJSON is one window: the metric's digest (DESIGN.md) plus the
// window's counters for the counter charts.
type seriesPointJSON struct {
	T time.Time `json:"t"`
	window.Stats
	window.Counters
}

func (s *Server) apiSeries(w http.ResponseWriter, r *http.Request) {
	q, err := s.seriesQuery(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	series, err := s.db.Series(r.Context(), q)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, "read series", err)
		return
	}
	out := seriesJSON{Server: q.Server.String(), Metric: q.Metric.String(), Sensor: q.Sensor, From: q.From, To: q.To,
		Step: int64(series.Step / time.Second), Points: make([]seriesPointJSON, 0, len(series.Points))}
	if q.Operation != "" && q.Metric == window.ResponseTime {
		out.Operation = q.Operation
	}
	for i := range series.Points {
		p := &series.Points[i]
		out.Points = append(out.Points, seriesPointJSON{T: p.T.UTC(), Stats: p.Dist.Stats(), Counters: p.Counters})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) seriesQuery(r *http.Request) (store.SeriesQuery, error) {
	v := r.URL.Query()
	var q store.SeriesQuery
	addr, err := netip.ParseAddrPort(v.Get("server"))
	if err != nil {
		return q, fmt.Errorf("server: want ip:port, e.g. 10.0.0.1:80 or [2001:db8::1]:443, got %q", v.Get("server"))
	}
	name := v.Get("metric")
	if name == "" {
		name = window.RTT.String()
	}
	m, ok := window.ParseMetric(name)
	if !ok {
		return q, fmt.Errorf("metric: unknown %q (want rtt, rtt_server, rtt_client, connect_time, response_time or transfer_time)", name)
	}
	from, to, err := s.timeRange(r, 24*time.Hour)
	if err != nil {
		return q, err
	}
	op := v.Get("operation")
	if len(op) > window.MaxOperationLen {
		return q, fmt.Errorf("operation: at most %d bytes", window.MaxOperationLen)
	}
	tr := v.Get("transport")
	if tr != "" && tr != "tcp" && tr != "udp" {
		return q, fmt.Errorf("transport: want tcp or udp, got %q", tr)
	}
	return store.SeriesQuery{Server: addr, Metric: m, From: from, To: to, Sensor: v.Get("sensor"), Operation: op, Transport: tr}, nil
}

type sensorJSON struct {
	window.SensorInfo
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Online    bool      `json:"online"`
	// ClockSkew is the sensor's clock minus the web node's at its last
	// batch, in seconds; null when the sensor does not send its clock.
	ClockSkew *float64 `json:"clock_skew_s"`
}

func (s *Server) apiSensors(w http.ResponseWriter, r *http.Request) {
	rows, err := s.sensorRows(r)
	if err != nil {
		s.fail(w, r, "list sensors", err)
		return
	}
	out := make([]sensorJSON, len(rows))
	for i, sn := range rows {
		out[i] = sensorJSON{SensorInfo: sn.SensorInfo, FirstSeen: sn.FirstSeen.UTC(), LastSeen: sn.LastSeen.UTC(), Online: sn.Online}
		if sn.HasSkew {
			out[i].ClockSkew = orNull(sn.ClockSkew.Seconds())
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sensors": out})
}
