// Package aggregate sums what the TCP tracker measures into one
// window.Summary per server (ip:port) and 5-minute window of packet time,
// and hands each summary on once its window is over. It implements
// tcp.Sink; it does not track connections or decide when a sample is taken
// (the tracker stamps every count and sample with its packet time, see
// package tcp).
//
// A window [start, start+5m) closes when the packet clock passes its end
// plus Grace, so that connections completing shortly after the boundary
// still land in it. A count or sample that arrives for a window already
// closed opens that window again and is handed on at the next Advance as a
// second, partial summary: the receiver merges summaries of the same server
// and window, so nothing is lost or counted twice. Flush hands on every open
// summary at once (the end of input, or a periodic partial flush).
//
// It is also a tcp.ServerSink: the tracker holds a handle per connection,
// and each handle caches the summary its server's last event went to, so
// that the per-sample path makes no map lookup. The handles of servers no
// connection refers to any more are reused; the slots behind them stay
// allocated at their peak number, like the tracker's connections.
package aggregate

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// Grace is how long after its end a window stays open.
const Grace = 30 * time.Second

// MaxOpen bounds the summaries held at once, so that a scan of many
// addresses and ports cannot exhaust memory: counts and samples for a new
// server beyond it are dropped (and counted, see Dropped).
const MaxOpen = 200_000

var width = int64(window.Width)

// server is a server as summaries tell them apart: by transport too.
type server struct {
	ep  tcp.Endpoint
	udp bool
}

type key struct {
	server
	win int64
}

// Aggregator collects summaries. It is not safe for concurrent use.
type Aggregator struct {
	onWindow func(window.Summary)
	open     map[key]*window.Summary
	oldest   int64 // lowest window index open; meaningful when open is not empty
	last     key   // one-entry cache: consecutive events mostly hit one server
	lastSum  *window.Summary
	dropped  uint64
	limit    int // MaxOpen; lower in tests

	// Server handles (tcp.ServerSink): each caches the summary its
	// server's events went to last, valid while gen is the aggregator's.
	ids   map[server]uint32
	slots []slot
	free  []uint32
	gen   uint32 // changes whenever summaries are handed on

	// samples holds the latest timings until it is full or summaries are
	// handed on: added together, they cost far less (see window.AddBatch).
	samples window.AddBatch
}

type slot struct {
	server     server
	refs       int32
	gen        uint32
	start, end int64 // the window of sum, Unix ns
	sum        *window.Summary
}

// New returns an Aggregator that hands every finished summary to onWindow,
// which takes ownership of it.
func New(onWindow func(window.Summary)) *Aggregator {
	return &Aggregator{onWindow: onWindow, open: make(map[key]*window.Summary), limit: MaxOpen,
		ids: make(map[server]uint32), gen: 1}
}

var _ tcp.ServerSink = (*Aggregator)(nil)

// Acquire returns a handle for a TCP server (tcp.ServerSink).
func (a *Aggregator) Acquire(ep tcp.Endpoint) uint32 { return a.acquire(server{ep: ep}) }

// AcquireUDP returns a handle for a UDP server: its summaries have
// transport "udp". Release gives it back.
func (a *Aggregator) AcquireUDP(ep tcp.Endpoint) uint32 { return a.acquire(server{ep: ep, udp: true}) }

func (a *Aggregator) acquire(server server) uint32 {
	if id, ok := a.ids[server]; ok {
		a.slots[id].refs++
		return id
	}
	var id uint32
	if n := len(a.free); n > 0 {
		id = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		id = uint32(len(a.slots))
		a.slots = append(a.slots, slot{})
	}
	a.slots[id] = slot{server: server, refs: 1}
	a.ids[server] = id
	return id
}

// Release gives back a handle from Acquire.
func (a *Aggregator) Release(id uint32) {
	s := &a.slots[id]
	if s.refs--; s.refs == 0 {
		delete(a.ids, s.server)
		*s = slot{}
		a.free = append(a.free, id)
	}
}

// slotSummary is summary for a handle's server, through its cache.
func (a *Aggregator) slotSummary(id uint32, ts int64) *window.Summary {
	sl := &a.slots[id]
	if ts >= sl.start && ts < sl.end && sl.gen == a.gen {
		return sl.sum
	}
	s := a.summary(sl.server, ts)
	if s != nil {
		w := window.Index(ts)
		sl.start, sl.end, sl.sum, sl.gen = w*width, (w+1)*width, s, a.gen
	}
	return s
}

// CountID is Count for the server of a handle.
func (a *Aggregator) CountID(id uint32, ts int64, k window.Counter, n uint64) {
	if s := a.slotSummary(id, ts); s != nil {
		s.Counters.AddCount(k, n)
	}
}

// SampleID is Sample for the server of a handle.
func (a *Aggregator) SampleID(id uint32, ts int64, m window.Metric, us float64) {
	if !(us >= 0 && us <= window.MaxMicros) || m >= window.NumMetrics || math.IsNaN(us) {
		return
	}
	if s := a.slotSummary(id, ts); s != nil {
		a.samples.Add(&s.Metrics[m], us)
	}
}

func (a *Aggregator) summary(server server, ts int64) *window.Summary {
	k := key{server, window.Index(ts)}
	if a.lastSum != nil && k == a.last {
		return a.lastSum
	}
	s := a.open[k]
	if s == nil {
		if len(a.open) >= a.limit {
			a.dropped++
			return nil
		}
		s = &window.Summary{Server: server.ep.AddrPort(), Start: time.Unix(0, k.win*width).UTC()}
		if server.udp {
			s.Transport = "udp"
		}
		if len(a.open) == 0 || k.win < a.oldest {
			a.oldest = k.win
		}
		a.open[k] = s
	}
	a.last, a.lastSum = k, s
	return s
}

// Count adds n to counter k of server's window at ts.
func (a *Aggregator) Count(ep tcp.Endpoint, ts int64, k window.Counter, n uint64) {
	if s := a.summary(server{ep: ep}, ts); s != nil {
		s.Counters.AddCount(k, n)
	}
}

// Sample adds a timing in microseconds. Values outside [0, window.MaxMicros]
// come from broken timestamps and are dropped.
func (a *Aggregator) Sample(ep tcp.Endpoint, ts int64, m window.Metric, us float64) {
	if !(us >= 0 && us <= window.MaxMicros) || m >= window.NumMetrics || math.IsNaN(us) {
		return
	}
	if s := a.summary(server{ep: ep}, ts); s != nil {
		a.samples.Add(&s.Metrics[m], us)
	}
}

// Dropped counts the counts and samples dropped because MaxOpen summaries
// were open.
func (a *Aggregator) Dropped() uint64 { return a.dropped }

// Open is the number of summaries not handed on yet.
func (a *Aggregator) Open() int { return len(a.open) }

// Advance hands on every window whose end plus Grace is at or before now
// (packet time, Unix ns).
func (a *Aggregator) Advance(now int64) {
	if len(a.open) == 0 || (a.oldest+1)*width+int64(Grace) > now {
		return
	}
	a.emit(func(w int64) bool { return (w+1)*width+int64(Grace) <= now })
}

// Flush hands on every open summary.
func (a *Aggregator) Flush() { a.emit(func(int64) bool { return true }) }

func (a *Aggregator) emit(done func(win int64) bool) {
	a.samples.Flush()
	var out []key
	oldest := int64(math.MaxInt64)
	for k := range a.open {
		if done(k.win) {
			out = append(out, k)
		} else {
			oldest = min(oldest, k.win)
		}
	}
	a.oldest = oldest
	a.lastSum = nil
	if len(out) > 0 {
		// The summaries handed on leave every handle's cache.
		if a.gen++; a.gen == 0 {
			for i := range a.slots {
				a.slots[i].gen, a.slots[i].sum = 0, nil
			}
			a.gen = 1
		}
	}
	slices.SortFunc(out, func(x, y key) int {
		if c := cmp.Compare(x.win, y.win); c != 0 {
			return c
		}
		if c := x.ep.AddrPort().Compare(y.ep.AddrPort()); c != 0 {
			return c
		}
		return cmp.Compare(b2i(x.udp), b2i(y.udp))
	})
	for _, k := range out {
		s := a.open[k]
		delete(a.open, k)
		s.Operations = window.BoundOperations(s.Operations)
		a.onWindow(*s)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
