// Package window defines the summary that crosses the sensor → web boundary:
// the counters and timing distributions of one server (ip:port) over one
// 5-minute window of packet time, and the batch that carries summaries to
// the web node. It knows nothing about packets, HTTP or databases.
package window

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Width is the length of a window. Windows start at :00, :05, … UTC.
const Width = 5 * time.Minute

// MaxSkew is how far ahead of the receiver's clock a window may start: a
// sensor whose clock runs ahead must not lose its data.
const MaxSkew = 2 * time.Hour

// Start returns the start of the window that contains t.
func Start(t time.Time) time.Time { return t.UTC().Truncate(Width) }

// Index returns the number of the window that contains ts (Unix ns): the
// windows since 1970, rounded down, so negative before it.
func Index(ts int64) int64 {
	w := ts / int64(Width)
	if ts < 0 && ts%int64(Width) != 0 {
		w--
	}
	return w
}

// Metric names one timing measurement of DESIGN.md.
type Metric uint8

const (
	RTT Metric = iota
	RTTServer
	RTTClient
	ConnectTime
	ResponseTime
	TransferTime
	NumMetrics
)

var metricNames = [NumMetrics]string{"rtt", "rtt_server", "rtt_client", "connect_time", "response_time", "transfer_time"}

func (m Metric) String() string { return enumName(metricNames[:], m, "metric") }

// ParseMetric maps a metric name such as "rtt" to its Metric.
func ParseMetric(s string) (Metric, bool) { return parseEnum[Metric](metricNames[:], s) }

// Summary is what one sensor saw of one server during one window.
type Summary struct {
	Server netip.AddrPort `json:"server"`
	Start  time.Time      `json:"start"`
	Counters
	Metrics Metrics `json:"metrics"`

	// Protocol is the application protocol recognised on the server's
	// connections ("http", "tls", "postgres", "mysql", "redis", "dns");
	// "" for plain tcp.
	Protocol string `json:"protocol,omitempty"`
	// Transport is "" or "tcp" for TCP, "udp" for UDP (DNS). It is part of
	// the summary's key, with the sensor, the server and the start.
	Transport string `json:"transport,omitempty"`
	// Operations breaks the transactions down by operation, most frequent
	// first: at most MaxOperations by name, then OtherOperation.
	Operations []Operation `json:"operations,omitempty"`
	// Statuses counts the transactions per status ("200", "42P01", "OK").
	Statuses map[string]uint64 `json:"statuses,omitempty"`
}

// UDP reports whether s is the summary of a UDP server.
func (s *Summary) UDP() bool { return s.Transport == "udp" }

// Metrics holds one distribution per Metric.
type Metrics [NumMetrics]Dist

// Merge adds o (same server and window) into s.
func (s *Summary) Merge(o *Summary) error {
	if s.Server != o.Server || !s.Start.Equal(o.Start) || s.UDP() != o.UDP() {
		return fmt.Errorf("merge %s/%s@%s with %s/%s@%s: different server or window",
			s.Server, s.transport(), s.Start, o.Server, o.transport(), o.Start)
	}
	s.Counters.Add(&o.Counters)
	for i := range s.Metrics {
		s.Metrics[i].Merge(&o.Metrics[i])
	}
	s.MergeBreakdown(o)
	return nil
}

func (s *Summary) transport() string {
	if s.UDP() {
		return "udp"
	}
	return "tcp"
}

// Validate reports what is wrong with a summary received from outside.
// now bounds how far in the future a window may start.
func (s *Summary) Validate(now time.Time) error {
	if !s.Server.IsValid() {
		return fmt.Errorf("server %q: want ip:port", s.Server)
	}
	if s.Server.Port() == 0 {
		if err := s.validateClosedPorts(); err != nil {
			return fmt.Errorf("server %s: %w", ServerName(s.Server), err)
		}
	}
	if s.Start.IsZero() || !s.Start.Equal(Start(s.Start)) {
		return fmt.Errorf("server %s: start %s is not on a 5-minute boundary", s.Server, s.Start.Format(time.RFC3339Nano))
	}
	if s.Start.After(now.Add(MaxSkew)) {
		return fmt.Errorf("server %s: start %s is in the future (more than %s ahead of the receiver's clock)", s.Server, s.Start.Format(time.RFC3339), MaxSkew)
	}
	for k := range NumCounters {
		lim := uint64(MaxWindowCount)
		if k == BytesToServer || k == BytesFromServer {
			lim = MaxWindowBytes
		}
		if c := *s.Field(k); c > lim {
			return fmt.Errorf("server %s: %s = %d is absurd for one window (at most %d)", s.Server, k, c, lim)
		}
	}
	for i := range s.Metrics {
		if err := s.Metrics[i].validate(); err != nil {
			return fmt.Errorf("server %s: %s: %w", s.Server, Metric(i), err)
		}
		if s.Metrics[i].Count > MaxWindowCount {
			return fmt.Errorf("server %s: %s: %d values is absurd for one window (at most %d)", s.Server, Metric(i), s.Metrics[i].Count, uint64(MaxWindowCount))
		}
	}
	if err := s.validateBreakdown(); err != nil {
		return fmt.Errorf("server %s: %w", s.Server, err)
	}
	return nil
}

// Bounds on the counters and distribution counts of one server in one
// window; anything larger is not a measurement (1e12 connections would be
// 3 billion a second), and the bounds keep sums of many windows far from
// overflowing.
const (
	MaxWindowCount = 1e12
	MaxWindowBytes = 1e16
)

// SensorInfo is the health a sensor reports with every batch; a batch with
// no windows is a heartbeat.
type SensorInfo struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Interfaces []string `json:"interfaces,omitempty"`
	Packets    uint64   `json:"packets"`
	Drops      uint64   `json:"drops"`
	Flows      uint64   `json:"flows"`
	SpoolDepth uint64   `json:"spool_depth"`
	SpoolLost  uint64   `json:"spool_dropped"`
	// Clock is the sensor's wall clock when it sent the batch; the web node
	// shows Clock − receive time as the sensor's clock skew.
	Clock time.Time `json:"clock,omitzero"`
	// WindowsRejected counts windows dropped because the web node named
	// them invalid in an ingest answer.
	WindowsRejected uint64 `json:"windows_rejected"`
	// SpoolCorrupt counts spool rows moved aside as unreadable.
	SpoolCorrupt uint64 `json:"spool_corrupt"`
}

// Batch is the body of POST /api/v1/ingest. ID makes delivery idempotent.
type Batch struct {
	ID        string     `json:"id"`
	Sensor    SensorInfo `json:"sensor"`
	Summaries []Summary  `json:"windows"`
}

// MaxBatchWindows bounds the windows in one batch.
const MaxBatchWindows = 10000

// Validate reports what is wrong with the envelope of a batch received
// from outside: its id, its sensor and its size. Each of its summaries is
// checked on its own (Summary.Validate), so that one bad window costs
// only itself.
func (b *Batch) Validate() error {
	if b.ID == "" || len(b.ID) > 128 {
		return errors.New("batch id: want 1 to 128 characters")
	}
	if b.Sensor.Name == "" || len(b.Sensor.Name) > 256 {
		return errors.New("sensor name: want 1 to 256 characters")
	}
	if len(b.Summaries) > MaxBatchWindows {
		return fmt.Errorf("%d windows in one batch: at most %d", len(b.Summaries), MaxBatchWindows)
	}
	return nil
}
