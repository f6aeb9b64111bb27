// Package promexport keeps cumulative totals of window summaries, per
// server and per operation and merged across sensors, and exposes them as
// a prometheus.Collector: counters, and histograms in seconds whose bins
// are the summaries' own (native histograms of schema 5, exact, plus
// classic buckets on powers of two for text scrapers), so that rate(),
// increase() and histogram_quantile() over any range are right.
//
// Totals count from the moment they are made (the web node's or the
// sensor's start): a restart is a counter reset, which Prometheus's
// functions handle, and the windows delivered after it are counted once.
// Memory is bounded: at most MaxServers servers by name, each with at most
// MaxOperations operations by name; the rest are summed under
// server="other" and operation="other", and counted. The servers by name
// are the busiest: a server left out whose recent traffic (transactions
// and connections, halving every Idle) grows to twice that of the least
// busy one exported takes its place, as does any server once one has been
// idle for Idle. A server that gives way disappears (its series end) and
// one that comes in starts from zero, so every series stays monotone.
//
// It does not serve HTTP, read the database, or register anything
// globally.
package promexport

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// Options bound a Totals. Zero values take the defaults.
type Options struct {
	// MaxServers is how many servers are exported by name (default 500).
	MaxServers int
	// MaxOperations is how many operations per server are exported by
	// name (default 20).
	MaxOperations int
	// Idle is how long a server may go without windows before another
	// server may take its place when MaxServers are exported, and the
	// half-life of the traffic that ranks servers (default 1 h).
	Idle time.Duration
}

// Defaults of Options.
const (
	DefaultMaxServers    = 500
	DefaultMaxOperations = 20
	DefaultIdle          = time.Hour
)

// Other is the server and operation label of what the bounds left out.
const Other = "other"

// Totals accumulates window summaries. It is safe for concurrent use.
type Totals struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	servers  map[serverKey]*server
	other    [2]*server // per transport (tcp, udp): servers left out
	omitted  uint64     // windows added to other
	evicted  uint64     // servers dropped for idleness or busier ones
	noIdleTo time.Time  // no server can be idle before then
	// candidates are servers left out, with their recent traffic: at
	// most MaxServers, the least busy dropped first.
	candidates map[serverKey]*traffic
}

// traffic is a server's recent transactions and connections, halving
// every half-life.
type traffic struct {
	score float64
	at    time.Time
}

func (tr *traffic) add(n float64, now time.Time, half time.Duration) {
	tr.score, tr.at = tr.at2(now, half)+n, now
}

// at2 is the score at now.
func (tr *traffic) at2(now time.Time, half time.Duration) float64 {
	if tr.at.IsZero() {
		return 0
	}
	return tr.score * math.Exp2(-now.Sub(tr.at).Seconds()/half.Seconds())
}

type serverKey struct {
	addr netip.AddrPort
	udp  bool
}

// server is one exported server: its series, created together.
type server struct {
	key      serverKey
	name     string // label value: "ip:port" or Other
	protocol string
	last     time.Time // when a window last came
	traffic  traffic
	s        series[serverData]
	ops      map[opKey]*series[opData]
}

type serverData struct {
	counters window.Counters
	metrics  window.Metrics
}

type opKey struct{ protocol, name string }

type opData struct {
	count, ok, clientError, serverError uint64
	responseTime                        window.Dist
}

// series holds the totals of one set of series. A series first shows
// zero: Prometheus takes a series' first sample as its start, so what
// comes before its first scrape is held back until then, or rate() and
// increase() would never count a new server's first windows.
type series[T any] struct {
	created   time.Time
	shown     bool
	cur, held T
}

func (s *series[T]) data() *T {
	if s.shown {
		return &s.cur
	}
	return &s.held
}

// release is called after the series was collected: from then on it
// shows what it holds.
func (s *series[T]) release() {
	if !s.shown {
		var zero T
		s.shown, s.cur, s.held = true, s.held, zero
	}
}

// New returns empty totals. now is the clock (nil: time.Now).
func New(opts Options, now func() time.Time) *Totals {
	if opts.MaxServers <= 0 {
		opts.MaxServers = DefaultMaxServers
	}
	if opts.MaxOperations <= 0 {
		opts.MaxOperations = DefaultMaxOperations
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if now == nil {
		now = time.Now
	}
	return &Totals{opts: opts, now: now, servers: map[serverKey]*server{}, candidates: map[serverKey]*traffic{}}
}

// Add adds summaries (each counted once: the caller adds what it stored,
// never a duplicate delivery).
func (t *Totals) Add(sums []window.Summary) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range sums {
		s := &sums[i]
		sv := t.server(serverKey{s.Server, s.UDP()}, float64(s.Transactions)+float64(s.Connections), now)
		sv.last = now
		if s.Protocol != "" {
			sv.protocol = s.Protocol
		}
		d := sv.s.data()
		d.counters.Add(&s.Counters)
		for m := range d.metrics {
			d.metrics[m].Merge(&s.Metrics[m])
		}
		for j := range s.Operations {
			sv.addOperation(s.Protocol, &s.Operations[j], t.opts.MaxOperations, now)
		}
	}
}

// server returns the series of k, whose window brings n transactions and
// connections, making them if there is room, else the other servers' of
// its transport.
func (t *Totals) server(k serverKey, n float64, now time.Time) *server {
	if sv := t.servers[k]; sv != nil {
		sv.traffic.add(n, now, t.opts.Idle)
		return sv
	}
	var tr traffic
	if len(t.servers) >= t.opts.MaxServers && !t.evictIdle(now) {
		c, busier := t.candidate(k, n, now)
		if !busier {
			t.omitted++
			o := &t.other[b2i(k.udp)]
			if *o == nil {
				*o = newServer(serverKey{udp: k.udp}, Other, now)
			}
			return *o
		}
		tr = *c
	} else {
		tr.add(n, now, t.opts.Idle)
	}
	delete(t.candidates, k)
	sv := newServer(k, k.addr.String(), now)
	sv.traffic = tr
	t.servers[k] = sv
	return sv
}

// candidate counts n in the recent traffic of k, a server left out, and
// reports whether it is now twice as busy as the least busy server
// exported, which it then evicts.
func (t *Totals) candidate(k serverKey, n float64, now time.Time) (*traffic, bool) {
	half := t.opts.Idle
	c := t.candidates[k]
	if c == nil {
		if len(t.candidates) >= t.opts.MaxServers {
			var low serverKey
			lowScore := math.Inf(1)
			for ck, ct := range t.candidates {
				if s := ct.at2(now, half); s < lowScore {
					low, lowScore = ck, s
				}
			}
			delete(t.candidates, low)
		}
		c = new(traffic)
		t.candidates[k] = c
	}
	c.add(n, now, half)
	var least *server
	leastScore := math.Inf(1)
	for _, sv := range t.servers {
		if s := sv.traffic.at2(now, half); s < leastScore {
			least, leastScore = sv, s
		}
	}
	if least == nil || c.at2(now, half) <= 2*leastScore {
		return c, false
	}
	delete(t.servers, least.key)
	t.evicted++
	return c, true
}

func newServer(k serverKey, name string, now time.Time) *server {
	return &server{key: k, name: name, s: series[serverData]{created: now}, ops: map[opKey]*series[opData]{}}
}

// evictIdle drops the server that has gone longest without windows if it
// has been idle for opts.Idle, and reports whether it did.
func (t *Totals) evictIdle(now time.Time) bool {
	if now.Before(t.noIdleTo) {
		return false
	}
	var oldest *server
	for _, sv := range t.servers {
		if oldest == nil || sv.last.Before(oldest.last) {
			oldest = sv
		}
	}
	if oldest == nil || now.Sub(oldest.last) < t.opts.Idle {
		if oldest != nil {
			t.noIdleTo = oldest.last.Add(t.opts.Idle)
		}
		return false
	}
	delete(t.servers, oldest.key)
	t.evicted++
	return true
}

func (sv *server) addOperation(protocol string, o *window.Operation, maxOps int, now time.Time) {
	k := opKey{protocol, o.Name}
	op := sv.ops[k]
	if op == nil {
		if len(sv.ops) >= maxOps && o.Name != window.OtherOperation {
			k.name = Other
			op = sv.ops[k]
		}
		if op == nil {
			op = &series[opData]{created: now}
			sv.ops[k] = op
		}
	}
	d := op.data()
	d.count += o.Count
	d.ok += o.OK
	d.clientError += o.ClientError
	d.serverError += o.ServerError
	d.responseTime.Merge(&o.ResponseTime)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
