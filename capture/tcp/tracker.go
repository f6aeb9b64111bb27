package tcp

import (
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/window"
)

// DefaultMaxFlows bounds the flow table when Config.MaxFlows is 0.
const DefaultMaxFlows = 1_000_000

// MaxMaxFlows is the largest MaxFlows honoured (slab indexes are int32).
const MaxMaxFlows = 1 << 28

// Timeouts in packet time; see the package documentation.
const (
	HalfOpenTimeout    = 30 * time.Second
	EstablishedTimeout = time.Hour
	ClosedLinger       = 10 * time.Second
	TurnIdle           = 15 * time.Second
)

// Config sets up a Tracker.
type Config struct {
	// MaxFlows bounds the connections tracked at once (DefaultMaxFlows
	// when 0, at most MaxMaxFlows).
	MaxFlows int
	// OnRecord, when set, receives every connection's Record as the
	// connection ends. Records cost an allocation per connection.
	OnRecord func(*Record)
	// Proto, when set, turns the application protocol parsers on
	// (package proto); they share its tables.
	Proto *proto.Tables
}

// Stats are the tracker's own counters.
type Stats struct {
	Flows      int    // connections tracked now
	Evicted    uint64 // connections evicted because the table was full
	Duplicates uint64 // packets of a connection seen on another interface
	Untimed    uint64 // connections picked up mid-stream with no known server
	// ListenersDropped counts the servers forgotten because the set of
	// servers seen answering a SYN was full (MaxListeners).
	ListenersDropped uint64
	// PortZero counts segments from or to port 0, which no connection
	// has (it names the closed-ports buckets): they are ignored.
	PortZero uint64
}

// Tracker tracks TCP connections and reports their measurements to a Sink.
// It is not safe for concurrent use.
type Tracker struct {
	cfg      Config
	sink     ServerSink
	slab     slab
	tab      *table
	free     []int32
	openHead int32 // half-open list, oldest first
	openTail int32
	listen   map[Endpoint]bool // servers that answered a SYN: true once one completed a handshake
	records  map[int32]*Record
	rnd      uint64
	now      int64
	winIdx   int32 // window of the current packet time
	winStart int64
	winEnd   int64
	stats    Stats
	protos   protos
}

// New returns a Tracker reporting to sink.
func New(cfg Config, sink Sink) *Tracker {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	cfg.MaxFlows = min(cfg.MaxFlows, MaxMaxFlows)
	ss, ok := sink.(ServerSink)
	if !ok {
		ss = &endpointIDs{Sink: sink, ids: make(map[Endpoint]uint32)}
	}
	t := &Tracker{
		cfg: cfg, sink: ss, tab: newTable(),
		openHead: -1, openTail: -1,
		listen: make(map[Endpoint]bool),
		rnd:    0x9e3779b97f4a7c15,
	}
	if cfg.OnRecord != nil {
		t.records = make(map[int32]*Record)
	}
	t.protos.init(cfg.Proto, ss)
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Flows = t.tab.n
	return s
}

// Now is the packet clock: the latest packet time seen or set by Expire.
func (t *Tracker) Now() int64 { return t.now }

var width = int64(window.Width)

// window returns the index of the window of ts, through a cache of the
// current packet time's window.
func (t *Tracker) window(ts int64) int32 {
	if ts >= t.winStart && ts < t.winEnd {
		return t.winIdx
	}
	w := int32(window.Index(ts))
	if ts >= t.now {
		t.winIdx, t.winStart, t.winEnd = w, int64(w)*width, int64(w+1)*width
	}
	return w
}

// Packet processes one decoded TCP segment (fragments are ignored).
func (t *Tracker) Packet(p *packet.Packet) {
	if p.Fragment {
		return
	}
	if p.SrcPort == 0 || p.DstPort == 0 {
		t.stats.PortZero++
		return
	}
	if p.TS > t.now {
		t.now = p.TS
	}
	var k flowKey
	srcLo := makeKey(p, &k)
	h := t.tab.hash(&k)
	idx := t.tab.lookup(&k, h, &t.slab)
	if idx < 0 {
		t.open(p, &k, h, srcLo)
		return
	}
	c := t.slab.at(idx)
	if c.iface != p.Iface {
		t.stats.Duplicates++
		return
	}
	dir := 1
	if srcLo == c.has(fClientLo) {
		dir = 0
	}
	if p.Flags&packet.SYN != 0 && t.restarts(c, dir, p) {
		t.finish(idx, p.TS, endNormal)
		t.open(p, &k, h, srcLo)
		return
	}
	t.segment(idx, c, dir, p)
}

// restarts reports whether p, a SYN, begins a new connection on c's tuple:
// a SYN (no ACK) with a new ISN, or from the other side.
func (t *Tracker) restarts(c *conn, dir int, p *packet.Packet) bool {
	if p.Flags&packet.ACK != 0 {
		return false
	}
	return dir == 1 || !c.has(fISN) || p.Seq != c.isn[0]
}

// open creates a connection for a packet of an unknown tuple.
func (t *Tracker) open(p *packet.Packet, k *flowKey, h uint32, srcLo bool) {
	if p.Flags&packet.RST != 0 {
		return // nothing to learn from a lone reset
	}
	idx := t.alloc()
	c := t.slab.at(idx)
	// Zeroed in place, then field by field: a composite literal would be
	// built on the stack and copied over with wide moves that stall.
	*c = conn{}
	c.addr[0], c.addr[1], c.addr[2], c.addr[3] = k.addr[0], k.addr[1], k.addr[2], k.addr[3]
	c.ports, c.iface, c.prev, c.next = k.ports, p.Iface, -1, -1
	c.lastSeen, c.pendWin = p.TS, t.window(p.TS)
	t.tab.insert(h, idx)
	src, dst := packetEndpoints(p)
	var clientIsSrc bool
	switch p.Flags & (packet.SYN | packet.ACK) {
	case packet.SYN:
		clientIsSrc = true
		openSYN(c, p)
	case packet.SYN | packet.ACK:
		openSYNACK(c, p)
		t.listener(src)
	default:
		clientIsSrc = t.midstream(c, src, dst, srcLo)
	}
	if clientIsSrc == srcLo {
		c.flags |= fClientLo
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		t.pushOpen(idx)
	}
	server, client := dst, src
	if !clientIsSrc {
		server, client = src, dst
	}
	t.protoOpen(idx, server)
	if c.state == stSynSent && !t.completed(server) {
		c.srv = noServer // decided by the outcome: see attribute
	} else {
		c.srv = t.sink.Acquire(server)
		t.sink.CountID(c.srv, p.TS, window.Connections, 1)
	}
	if t.records != nil {
		t.newRecord(idx, client, server, p.TS)
	}
	dir := 1
	if clientIsSrc {
		dir = 0
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		t.addBytes(idx, c, dir, p)
		return
	}
	t.segment(idx, c, dir, p)
}

// segment processes a packet of a known connection; dir 0 is from the client.
func (t *Tracker) segment(idx int32, c *conn, dir int, p *packet.Packet) {
	c.lastSeen = p.TS
	if c.state == stUntimed {
		return
	}
	t.addBytes(idx, c, dir, p)
	if c.state == stClosed {
		return
	}
	if c.turn == turnResponse && p.TS-c.respLast >= int64(TurnIdle) {
		t.endTurn(idx, c)
	}
	if p.HasTS {
		c.flags |= fTS0 << dir
	}
	f := p.Flags
	if f&packet.RST != 0 {
		t.reset(idx, c, dir, p)
		return
	}
	if f&packet.SYN != 0 {
		t.syn(c, dir, p)
		return
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		if f&packet.ACK == 0 || !t.handshakeDone(idx, c, dir, p) {
			return
		}
	}
	newTS := c.newTSval(dir, p)
	retx := false
	if p.Payload > 0 {
		retx = t.isRetransmit(idx, c, dir, p)
	}
	t.echo(c, dir, p, retx)
	if p.Payload > 0 && !retx {
		if newTS {
			c.startTSSample(dir, p)
		}
		t.data(idx, c, dir, p)
	}
	if f&packet.FIN != 0 {
		c.flags |= fFIN0 << dir
		if c.turn == turnResponse {
			t.endTurn(idx, c)
		}
		if c.has(fFIN0) && c.has(fFIN1) {
			t.closeConn(idx, c)
		}
	}
}

func (t *Tracker) closeConn(idx int32, c *conn) {
	t.unlinkOpen(idx)
	c.state = stClosed
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

func us(ns int64) float64 { return float64(ns) / 1e3 }
