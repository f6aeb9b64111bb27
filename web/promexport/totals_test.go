package promexport

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pastmon/pastmon/capture/window"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sum(server string, conns uint64, rtts ...float64) window.Summary {
	s := window.Summary{Server: netip.MustParseAddrPort(server), Start: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)}
	s.Connections = conns
	for _, v := range rtts {
		s.Metrics[window.RTT].Add(v)
	}
	return s
}

// gather collects t through a pedantic registry, which checks every
// metric against its description, and returns the families by name.
func gather(t *testing.T, tot *Totals) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tot.Collector(prometheus.Labels{"sensor": "n1"}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value is the counter or gauge of fam whose labels include want; ok false
// when there is none.
func value(fam *dto.MetricFamily, want map[string]string) (float64, bool) {
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		if m.Histogram != nil {
			return float64(m.Histogram.GetSampleCount()), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

func TestFirstScrapeShowsZero(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC)}
	tot := New(Options{}, clk.now)
	tot.Add([]window.Summary{sum("10.0.0.1:80", 3, 100, 200)})
	conns := CounterName(window.Connections)
	rtt := HistogramName(window.RTT)
	for i, want := range []float64{0, 3, 3, 8} {
		if i == 3 {
			tot.Add([]window.Summary{sum("10.0.0.1:80", 5, 300)})
		}
		f := gather(t, tot)
		got, ok := value(f[conns], map[string]string{"server": "10.0.0.1:80", "transport": "tcp", "sensor": "n1"})
		if !ok || got != want {
			t.Errorf("scrape %d: connections %v (%v), want %v", i, got, ok, want)
		}
		n, _ := value(f[rtt], map[string]string{"server": "10.0.0.1:80"})
		if wantN := map[int]float64{0: 0, 1: 2, 2: 2, 3: 3}[i]; n != wantN {
			t.Errorf("scrape %d: rtt count %v, want %v", i, n, wantN)
		}
	}
}

func TestBounds(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC)}
	tot := New(Options{MaxServers: 2, MaxOperations: 2, Idle: time.Hour}, clk.now)
	a := sum("10.0.0.1:80", 10, 100)
	for _, op := range []string{"GET /", "GET /a", "POST /b", "PUT /c"} {
		var d window.Dist
		d.Add(50)
		a.Operations = append(a.Operations, window.Operation{Name: op, Count: 1, OK: 1, ResponseTime: d})
	}
	a.Protocol = "http"
	tot.Add([]window.Summary{a, sum("10.0.0.2:80", 12), sum("10.0.0.3:80", 4), sum("10.0.0.4:53", 8)})
	conns := CounterName(window.Connections)
	scrape := func(want map[string]float64, gone ...string) map[string]*dto.MetricFamily {
		t.Helper()
		gather(t, tot) // release new series
		f := gather(t, tot)
		for server, w := range want {
			if got, ok := value(f[conns], map[string]string{"server": server}); !ok || got != w {
				t.Errorf("%s: connections %v (%v), want %v", server, got, ok, w)
			}
		}
		for _, server := range gone {
			if _, ok := value(f[conns], map[string]string{"server": server}); ok {
				t.Errorf("%s is exported by name", server)
			}
		}
		return f
	}
	f := scrape(map[string]float64{"10.0.0.1:80": 10, "10.0.0.2:80": 12, Other: 12}, "10.0.0.3:80", "10.0.0.4:53")
	if got, _ := value(f[OmittedWindows], nil); got != 2 {
		t.Errorf("omitted windows %v, want 2", got)
	}
	ops := map[string]float64{}
	for _, m := range f[OperationRequests].GetMetric() {
		var op, result string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "operation":
				op = l.GetValue()
			case "result":
				result = l.GetValue()
			}
		}
		if result == "ok" {
			ops[op] += m.GetCounter().GetValue()
		}
	}
	if len(ops) != 3 || ops[Other] != 2 {
		t.Errorf("operations %v: want 2 by name and 2 under other", ops)
	}

	// A server left out grows busier than twice the least busy one
	// exported: it takes that one's place, from zero; other keeps what it had.
	clk.add(time.Minute)
	tot.Add([]window.Summary{sum("10.0.0.3:80", 30)})
	scrape(map[string]float64{"10.0.0.3:80": 30, "10.0.0.2:80": 12, Other: 12}, "10.0.0.1:80")

	// An hour later any newcomer takes the place of an idle server.
	clk.add(30 * time.Minute)
	tot.Add([]window.Summary{sum("10.0.0.2:80", 1)})
	clk.add(40 * time.Minute)
	tot.Add([]window.Summary{sum("10.0.0.5:80", 1)})
	f = scrape(map[string]float64{"10.0.0.5:80": 1, "10.0.0.2:80": 13, Other: 12}, "10.0.0.3:80", "10.0.0.1:80")
	if got, _ := value(f[EvictedServers], nil); got != 2 {
		t.Errorf("evicted %v, want 2", got)
	}
}
