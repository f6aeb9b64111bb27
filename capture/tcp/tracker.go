package tcp

import (
	"time"

	"github.com/pastmon/pastmon/capture/packet"
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

// WellKnownPorts are the ports above 1023 taken as the server side of a
// connection picked up mid-stream (ports below 1024 always are).
var WellKnownPorts = []uint16{
	1433, 1521, 2049, 2181, 2379, 3000, 3306, 3389, 5000, 5432, 5672, 5984,
	6379, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9042, 9092, 9200, 9300,
	11211, 15672, 27017,
}

// Config sets up a Tracker.
type Config struct {
	// MaxFlows bounds the connections tracked at once (DefaultMaxFlows
	// when 0, at most MaxMaxFlows).
	MaxFlows int
	// OnRecord, when set, receives every connection's Record as the
	// connection ends. Records cost an allocation per connection.
	OnRecord func(*Record)
}

// Stats are the tracker's own counters.
type Stats struct {
	Flows      int    // connections tracked now
	Evicted    uint64 // connections evicted because the table was full
	Duplicates uint64 // packets of a connection seen on another interface
	Untimed    uint64 // connections picked up mid-stream with no known server
}

const (
	stFree uint8 = iota
	stSynSent
	stSynRcvd
	stEst     // handshake seen and completed
	stMid     // picked up mid-stream, server inferred
	stUntimed // picked up mid-stream, server unknown
	stClosed  // FIN both ways or RST; lingering
)

const (
	turnIdle uint8 = iota
	turnRequest
	turnResponse
)

// conn flag bits. Direction 0 is client → server, 1 server → client.
const (
	fClientLo  uint32 = 1 << iota // the client is the key's lower endpoint
	fHasSYN                       // firstSYN is valid
	fISN                          // isn[0] is known
	fAmbiguous                    // SYN or SYN/ACK retransmitted: no handshake rtt
	fReset                        // an RST was seen
	fWasEst                       // the connection was established (or picked up)
	fMid                          // picked up mid-stream
	fTS0                          // timestamps seen from the client
	fTS1                          // … from the server
	fFIN0
	fFIN1
	fHalf0 // half[0] (sensor ↔ client) is valid
	fHalf1 // half[1] (sensor ↔ server) is valid
	fPend0 // a sample started by direction 0 is waiting
	fPend1
	fSeq0 // nxt[0] is valid
	fSeq1
	fTSv0 // lastTSval[0] is valid
	fTSv1
)

// conn is one tracked connection: 192 bytes (three cache lines, and
// aligned to them in a chunk), no pointers.
type conn struct {
	addr       [4]uint64 // the flowKey
	ports      uint32
	iface      int32
	srv        uint32 // the server's handle from the sink
	prev, next int32  // half-open list
	state      uint8
	turn       uint8
	synRetries uint16
	flags      uint32
	isn        [2]uint32
	nxt        [2]uint32 // highest seq+len seen per direction
	lastTSval  [2]uint32
	pendVal    [2]uint32 // TSval or seq end awaiting its echo or ACK
	pendWin    int32     // window index of the pending counters
	pendAt     [2]int64
	half       [2]int64 // latest half RTT, ns: [0] sensor↔client, [1] sensor↔server
	firstSYN   int64
	synAck     int64
	lastSeen   int64
	reqLast    int64
	respFirst  int64
	respLast   int64
	reqBytes   uint32
	respBytes  uint32
	pendTo     uint32 // bytes not yet handed to the sink (retransmits: in flags)
	pendFrom   uint32
}

func (c *conn) has(f uint32) bool { return c.flags&f != 0 }

func (c *conn) key() flowKey { return flowKey{c.addr, c.ports} }

// The retransmits not yet handed to the sink are counted in the top bits of
// flags, which has room to spare: conn stays at three cache lines.
const (
	retxShift = 20
	retxMax   = 1<<(32-retxShift) - 1
	retxMask  = retxMax << retxShift
)

func (c *conn) pendRetx() uint32 { return c.flags >> retxShift }

const chunkBits = 12

// slab holds the connections in chunks that are allocated on demand and
// never freed, so memory stays flat at the peak.
type slab struct {
	chunks [][]conn
	n      int32 // slots handed out so far
}

func (s *slab) at(i int32) *conn { return &s.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

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
	listen   map[Endpoint]struct{}
	records  map[int32]*Record
	rnd      uint64
	now      int64
	winIdx   int32 // window of the current packet time
	winStart int64
	winEnd   int64
	stats    Stats
}

const maxListeners = 1 << 16

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
		listen: make(map[Endpoint]struct{}),
		rnd:    0x9e3779b97f4a7c15,
	}
	if cfg.OnRecord != nil {
		t.records = make(map[int32]*Record)
	}
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

func windowIndex(ts int64) int32 {
	w := ts / width
	if ts < 0 && ts%width != 0 {
		w--
	}
	return int32(w)
}

func (t *Tracker) window(ts int64) int32 {
	if ts >= t.winStart && ts < t.winEnd {
		return t.winIdx
	}
	w := windowIndex(ts)
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
	switch {
	case p.Flags&(packet.SYN|packet.ACK) == packet.SYN:
		clientIsSrc = true
		c.state = stSynSent
		c.flags |= fHasSYN | fISN
		c.firstSYN = p.TS
		c.isn[0] = p.Seq
		c.nxt[0] = p.Seq + 1
		c.flags |= fSeq0
	case p.Flags&(packet.SYN|packet.ACK) == packet.SYN|packet.ACK:
		c.state = stSynRcvd
		c.flags |= fISN
		c.isn[0] = p.Ack - 1
		c.nxt[0] = p.Ack
		c.flags |= fSeq0
		t.listener(src)
	default:
		srcL, dstL := t.isListener(src), t.isListener(dst)
		switch {
		case srcL != dstL:
			clientIsSrc = dstL
			c.state = stMid
		case srcL:
			c.state = stUntimed
			clientIsSrc = src.Port > dst.Port
		default:
			srcW, dstW := wellKnown(src.Port), wellKnown(dst.Port)
			if srcW != dstW {
				clientIsSrc = dstW
				c.state = stMid
			} else {
				c.state = stUntimed
				clientIsSrc = src.Port > dst.Port || (src.Port == dst.Port && !srcLo)
			}
		}
		c.flags |= fWasEst | fMid
	}
	if clientIsSrc == srcLo {
		c.flags |= fClientLo
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		t.pushOpen(idx)
	}
	server := dst
	if !clientIsSrc {
		server = src
	}
	if c.state == stUntimed {
		t.stats.Untimed++
	}
	c.srv = t.sink.Acquire(server)
	t.sink.CountID(c.srv, p.TS, Connections, 1)
	if t.records != nil {
		client := src
		if !clientIsSrc {
			client = dst
		}
		t.records[idx] = &Record{Client: client.AddrPort(), Server: server.AddrPort(), Start: time.Unix(0, p.TS).UTC(), Transactions: []Transaction{}}
	}
	dir := 1
	if clientIsSrc {
		dir = 0
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		if p.HasTS {
			c.flags |= fTS0 << dir
		}
		if c.state == stSynRcvd {
			c.synAck = p.TS
			c.isn[1] = p.Seq
			c.nxt[1] = p.Seq + 1
			c.flags |= fSeq1
		}
		t.addBytes(idx, c, dir, p)
		return
	}
	t.segment(idx, c, dir, p)
}

func packetEndpoints(p *packet.Packet) (src, dst Endpoint) {
	src = Endpoint{Addr: p.Src, Port: p.SrcPort, V6: p.V6}
	dst = Endpoint{Addr: p.Dst, Port: p.DstPort, V6: p.V6}
	if !p.V6 {
		clear(src.Addr[4:])
		clear(dst.Addr[4:])
	}
	return src, dst
}

func (t *Tracker) listener(e Endpoint) {
	if _, ok := t.listen[e]; ok {
		return
	}
	if len(t.listen) >= maxListeners {
		for k := range t.listen {
			delete(t.listen, k)
			break
		}
	}
	t.listen[e] = struct{}{}
}

func (t *Tracker) isListener(e Endpoint) bool {
	_, ok := t.listen[e]
	return ok
}

var wellKnownSet = func() (s [65536 / 64]uint64) {
	for _, p := range WellKnownPorts {
		s[p/64] |= 1 << (p % 64)
	}
	return s
}()

func wellKnown(port uint16) bool {
	return port != 0 && (port < 1024 || wellKnownSet[port/64]&(1<<(port%64)) != 0)
}

// server and client endpoints of c.
func (c *conn) server() Endpoint { k := c.key(); return keyEndpoint(&k, c.has(fClientLo)) }
func (c *conn) client() Endpoint { k := c.key(); return keyEndpoint(&k, !c.has(fClientLo)) }

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
	if c.state == stSynRcvd && dir == 0 && f&packet.ACK != 0 {
		t.handshakeAck(idx, c, p)
	} else if c.state == stSynSent && f&packet.ACK != 0 {
		// The SYN/ACK was not captured, yet the connection is up.
		t.unlinkOpen(idx)
		c.state = stEst
		c.flags |= fWasEst
		t.sink.CountID(c.srv, p.TS, Established, 1)
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		return
	}
	newTS := false
	if p.HasTS && (!c.has(fTSv0<<dir) || seqLT(c.lastTSval[dir], p.TSval)) {
		newTS = true
		c.lastTSval[dir] = p.TSval
		c.flags |= fTSv0 << dir
	}
	retx := false
	if p.Payload > 0 {
		retx = t.isRetransmit(idx, c, dir, p)
	}
	t.echo(c, dir, p, retx)
	if p.Payload > 0 && !retx {
		t.data(idx, c, dir, p, newTS)
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

func (t *Tracker) addBytes(idx int32, c *conn, dir int, p *packet.Packet) {
	if p.Payload == 0 {
		return
	}
	if w := t.window(p.TS); w != c.pendWin {
		t.flushCounters(idx, c)
		c.pendWin = w
	}
	pend := &c.pendTo
	if dir == 1 {
		pend = &c.pendFrom
	}
	if uint64(*pend)+uint64(p.Payload) > 1<<32-1 {
		t.flushCounters(idx, c)
	}
	*pend += p.Payload
}

// isRetransmit classifies a payload segment and advances nxt.
func (t *Tracker) isRetransmit(idx int32, c *conn, dir int, p *packet.Packet) bool {
	end := p.Seq + p.Payload
	if !c.has(fSeq0 << dir) {
		c.flags |= fSeq0 << dir
		c.nxt[dir] = end
		return false
	}
	if seqLE(end, c.nxt[dir]) {
		if p.Payload <= 1 && end == c.nxt[dir] && p.Flags&(packet.FIN|packet.PSH) == 0 {
			return true // a keep-alive probe: old data by design, not a retransmission
		}
		if c.pendRetx() == retxMax {
			t.flushCounters(idx, c) // same window: the sums do not change
		}
		c.flags += 1 << retxShift
		if r := t.records[idx]; r != nil {
			r.Retransmits++
		}
		// Karn: a retransmission voids the sample its direction started.
		c.flags &^= fPend0 << dir
		return true
	}
	if p.Seq == c.nxt[dir] && !c.tsMode() && !c.has(fPend0<<dir) {
		c.pendVal[dir] = end
		c.pendAt[dir] = p.TS
		c.flags |= fPend0 << dir
	}
	c.nxt[dir] = end
	return false
}

func (c *conn) tsMode() bool { return c.flags&(fTS0|fTS1) == fTS0|fTS1 }

// echo ends the sample the other direction started, if p answers it.
func (t *Tracker) echo(c *conn, dir int, p *packet.Packet, retx bool) {
	o := dir ^ 1
	if !c.has(fPend0 << o) {
		return
	}
	if retx {
		c.flags &^= fPend0 << o
		return
	}
	if c.tsMode() {
		if !p.HasTS {
			return
		}
		if p.TSecr != c.pendVal[o] {
			if seqLT(c.pendVal[o], p.TSecr) {
				c.flags &^= fPend0 << o // echo of a later TSval: missed
			}
			return
		}
	} else if p.Flags&packet.ACK == 0 || seqLT(p.Ack, c.pendVal[o]) {
		return
	}
	c.flags &^= fPend0 << o
	t.half(c, dir, p.TS, p.TS-c.pendAt[o])
}

// half records a half round trip: side is the side that answered (0 client).
func (t *Tracker) half(c *conn, side int, ts, ns int64) {
	if ns < 0 {
		return
	}
	m := window.RTTClient
	if side == 1 {
		m = window.RTTServer
	}
	t.sink.SampleID(c.srv, ts, m, us(ns))
	c.half[side] = ns
	c.flags |= fHalf0 << side
	if c.has(fHalf0 << (side ^ 1)) {
		t.sink.SampleID(c.srv, ts, window.RTT, us(ns+c.half[side^1]))
	}
}

// data handles new payload in an established connection: the turn model
// and the start of a timestamp sample.
func (t *Tracker) data(idx int32, c *conn, dir int, p *packet.Packet, newTS bool) {
	if newTS && c.tsMode() && !c.has(fPend0<<dir) {
		c.pendVal[dir] = p.TSval
		c.pendAt[dir] = p.TS
		c.flags |= fPend0 << dir
	}
	if dir == 0 {
		switch c.turn {
		case turnResponse:
			t.endTurn(idx, c)
			fallthrough
		case turnIdle:
			c.turn = turnRequest
			c.reqBytes = 0
		}
		c.reqLast = p.TS
		c.reqBytes += p.Payload
		return
	}
	switch c.turn {
	case turnRequest:
		c.turn = turnResponse
		c.respFirst = p.TS
		c.respBytes = 0
		fallthrough
	case turnResponse:
		c.respLast = p.TS
		c.respBytes += p.Payload
	}
}

// endTurn closes the current turn: a response makes a transaction.
func (t *Tracker) endTurn(idx int32, c *conn) {
	switch c.turn {
	case turnResponse:
		rt, tt := us(c.respFirst-c.reqLast), us(c.respLast-c.reqLast)
		t.sink.CountID(c.srv, c.respLast, Transactions, 1)
		t.sink.SampleID(c.srv, c.respLast, window.ResponseTime, rt)
		t.sink.SampleID(c.srv, c.respLast, window.TransferTime, tt)
		if r := t.records[idx]; r != nil {
			r.Transactions = append(r.Transactions, Transaction{
				RequestAt: time.Unix(0, c.reqLast).UTC(), ResponseTime: ptr(rt), TransferTime: ptr(tt),
				RequestBytes: uint64(c.reqBytes), ResponseBytes: uint64(c.respBytes),
			})
		}
	case turnRequest:
		if r := t.records[idx]; r != nil {
			r.Transactions = append(r.Transactions, Transaction{
				RequestAt: time.Unix(0, c.reqLast).UTC(), RequestBytes: uint64(c.reqBytes),
			})
		}
	}
	c.turn = turnIdle
}

// syn handles a SYN or SYN/ACK that does not start a new connection.
func (t *Tracker) syn(c *conn, dir int, p *packet.Packet) {
	if p.Flags&packet.ACK == 0 {
		// Same ISN from the client: a retransmitted SYN.
		t.synRetry(c, p.TS)
		return
	}
	if dir != 1 || !c.has(fISN) || p.Ack != c.isn[0]+1 {
		return // not an answer to this connection's SYN
	}
	switch c.state {
	case stSynSent:
		c.state = stSynRcvd
		c.synAck = p.TS
		c.isn[1] = p.Seq
		c.nxt[1] = p.Seq + 1
		c.flags |= fSeq1
		t.listener(c.server())
	default:
		if p.Seq == c.isn[1] {
			t.synRetry(c, p.TS)
		}
	}
}

func (t *Tracker) synRetry(c *conn, ts int64) {
	c.synRetries++
	if c.state == stSynSent || c.state == stSynRcvd {
		c.flags |= fAmbiguous
	}
	t.sink.CountID(c.srv, ts, SynRetries, 1)
}

// handshakeAck completes the handshake when p acknowledges the SYN/ACK.
func (t *Tracker) handshakeAck(idx int32, c *conn, p *packet.Packet) {
	if seqLT(p.Ack, c.isn[1]+1) {
		return
	}
	t.unlinkOpen(idx)
	c.state = stEst
	c.flags |= fWasEst
	t.sink.CountID(c.srv, p.TS, Established, 1)
	if p.Ack != c.isn[1]+1 {
		return // the ACK of the SYN/ACK was not captured
	}
	r := t.records[idx]
	if c.has(fHasSYN) {
		ct := us(p.TS - c.firstSYN)
		t.sink.SampleID(c.srv, p.TS, window.ConnectTime, ct)
		if r != nil {
			r.ConnectTime = ptr(ct)
		}
	}
	if c.has(fAmbiguous) {
		return
	}
	cli := p.TS - c.synAck
	t.sink.SampleID(c.srv, p.TS, window.RTTClient, us(cli))
	c.half[0] = cli
	c.flags |= fHalf0
	if r != nil {
		r.RTTClient = ptr(us(cli))
	}
	if !c.has(fHasSYN) {
		return
	}
	s := c.synAck - c.firstSYN
	t.sink.SampleID(c.srv, p.TS, window.RTTServer, us(s))
	t.sink.SampleID(c.srv, p.TS, window.RTT, us(s+cli))
	c.half[1] = s
	c.flags |= fHalf1
	if r != nil {
		r.RTTServer = ptr(us(s))
	}
}

// reset handles an RST.
func (t *Tracker) reset(idx int32, c *conn, dir int, p *packet.Packet) {
	switch {
	case c.state == stSynSent && dir == 1:
		t.sink.CountID(c.srv, p.TS, Refused, 1)
		if r := t.records[idx]; r != nil {
			r.Outcome = OutcomeRefused
		}
	case c.state == stSynSent:
		// The client gave up: its SYN stays unanswered.
		t.sink.CountID(c.srv, p.TS, Unanswered, 1)
		if r := t.records[idx]; r != nil {
			r.Outcome = OutcomeUnanswered
		}
	default:
		if c.turn == turnResponse {
			t.endTurn(idx, c)
		}
		if !c.has(fReset) {
			t.sink.CountID(c.srv, p.TS, Resets, 1)
		}
	}
	c.flags |= fReset
	t.closeConn(idx, c)
}

func (t *Tracker) closeConn(idx int32, c *conn) {
	t.unlinkOpen(idx)
	c.state = stClosed
}

func (t *Tracker) flushCounters(idx int32, c *conn) {
	if c.pendTo == 0 && c.pendFrom == 0 && c.pendRetx() == 0 {
		return
	}
	ts := int64(c.pendWin) * width
	if c.pendTo > 0 {
		t.sink.CountID(c.srv, ts, BytesToServer, uint64(c.pendTo))
	}
	if c.pendFrom > 0 {
		t.sink.CountID(c.srv, ts, BytesFromServer, uint64(c.pendFrom))
	}
	if n := c.pendRetx(); n > 0 {
		t.sink.CountID(c.srv, ts, Retransmits, uint64(n))
	}
	if r := t.records[idx]; r != nil {
		r.BytesTo += uint64(c.pendTo)
		r.BytesFrom += uint64(c.pendFrom)
	}
	c.pendTo, c.pendFrom = 0, 0
	c.flags &^= retxMask
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
