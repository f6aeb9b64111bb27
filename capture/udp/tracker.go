// Package udp tracks DNS over UDP: it pairs each query with its response
// and reports the transactions, as DESIGN.md's "Application protocols"
// defines them for UDP, to the same aggregator as the TCP tracker.
//
// A flow is a client ip:port talking to a server ip:port; it is a
// connection with transport udp, ended by FlowIdle of silence. A query and
// its response are matched by the flow and the query id: response_time =
// transfer_time = query → response. A query unanswered for QueryTimeout of
// packet time is a transaction with status TIMEOUT and no timing; a query
// repeated with the same id before its answer counts in retransmits (and the
// transaction keeps the first query's time, what the client waited).
//
// Datagrams are DNS when either port is 53 and they parse as DNS, or when
// they are a well-formed query (one question, nothing else but an EDNS
// record) to any port. mDNS and LLMNR (multicast, ports 5353 and 5355) are
// not tracked. Both tables (flows, pending queries) are bounded; what the
// bounds drop is counted in Stats. It does not decode other UDP protocols,
// reassemble IP fragments, or read answers beyond the header.
package udp

import (
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// Timeouts in packet time.
const (
	FlowIdle     = 30 * time.Second
	QueryTimeout = 5 * time.Second
)

// Default bounds (Config). A flow with a query pending holds about 190
// bytes (BenchmarkBytesPerFlow), so the defaults cap the tracker near 50 MB.
const (
	DefaultMaxFlows   = 1 << 18
	DefaultMaxPending = 1 << 16
)

// Sink receives what the tracker measures: the aggregator. Handles come
// from AcquireUDP, so that summaries have transport udp.
type Sink interface {
	AcquireUDP(server tcp.Endpoint) uint32
	Release(id uint32)
	CountID(id uint32, ts int64, k window.Counter, n uint64)
	SampleID(id uint32, ts int64, m window.Metric, us float64)
	TxnID(id uint32, ts int64, tx *proto.Txn)
}

// Config sets up a Tracker.
type Config struct {
	MaxFlows   int // flows tracked at once (DefaultMaxFlows when 0)
	MaxPending int // queries awaiting their answer (DefaultMaxPending when 0)
	// Tables interns the operation and status names; a fresh one when nil.
	Tables *proto.Tables
	// OnRecord, when set, receives every flow's Record as the flow ends.
	OnRecord func(*tcp.Record)
}

// Stats are the tracker's counters.
type Stats struct {
	Flows          int    // flows tracked now
	Pending        int    // queries awaiting an answer now
	FlowsDropped   uint64 // datagrams of new flows dropped: the flow table was full
	PendingDropped uint64 // queries not timed: the pending table was full
	Unmatched      uint64 // responses to no pending query (late, duplicate, or before the capture)
}

type flowKey struct{ cli, srv tcp.Endpoint }

// flowID is a flowKey as bytes: client address, server address, client
// port, server port, v6. Byte arrays hash in one pass; the struct's fields
// would each be hashed apart.
type flowID [37]byte

func (k *flowKey) id() (id flowID) {
	copy(id[0:16], k.cli.Addr[:])
	copy(id[16:32], k.srv.Addr[:])
	id[32], id[33] = byte(k.cli.Port>>8), byte(k.cli.Port)
	id[34], id[35] = byte(k.srv.Port>>8), byte(k.srv.Port)
	if k.cli.V6 {
		id[36] = 1
	}
	return id
}

type flow struct {
	key     flowID
	srv     uint32 // the server's handle from the sink
	used    bool
	first   int64
	last    int64
	queries uint32
	answers uint32
	retx    uint32
	npend   uint32 // its queries in the pending table
}

type pendKey struct {
	flow int32
	id   uint16
}

type pend struct {
	at    int64
	qtype uint16
	bytes uint32
}

// Tracker pairs DNS queries and responses. It is not safe for concurrent
// use.
type Tracker struct {
	cfg     Config
	sink    Sink
	tab     *proto.Tables
	index   map[flowID]int32
	flows   []flow
	free    []int32
	pending map[pendKey]pend
	records map[int32]*tcp.Record
	now     int64
	stats   Stats
	tx      proto.Txn // handed to the sink by pointer: kept here so it does not escape per call
}

// New returns a Tracker reporting to sink.
func New(cfg Config, sink Sink) *Tracker {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Tables == nil {
		cfg.Tables = proto.NewTables()
	}
	t := &Tracker{cfg: cfg, sink: sink, tab: cfg.Tables,
		index: make(map[flowID]int32), pending: make(map[pendKey]pend)}
	if cfg.OnRecord != nil {
		t.records = make(map[int32]*tcp.Record)
	}
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Flows, s.Pending = len(t.index), len(t.pending)
	return s
}

// Packet handles one UDP datagram (p.Data its captured payload, p.Payload
// its length) and reports whether it was DNS.
func (t *Tracker) Packet(p *packet.Packet) bool {
	if p.SrcPort == 5353 || p.DstPort == 5353 || p.SrcPort == 5355 || p.DstPort == 5355 || multicast(&p.Dst, p.V6) {
		return false
	}
	m, ok := proto.ParseDNS(p.Data)
	if !ok || m.Opcode != 0 && m.Opcode != 4 && m.Opcode != 5 {
		return false
	}
	if p.TS > t.now {
		t.now = p.TS
	}
	k := flowKey{cli: tcp.Endpoint{Addr: p.Src, Port: p.SrcPort, V6: p.V6}, srv: tcp.Endpoint{Addr: p.Dst, Port: p.DstPort, V6: p.V6}}
	if m.Response {
		k.cli, k.srv = k.srv, k.cli
		fi, ok := t.index[k.id()]
		if !ok && p.SrcPort != 53 {
			return false
		}
		if !ok {
			t.stats.Unmatched++
			return true
		}
		t.response(p, fi, &m)
		return true
	}
	if p.DstPort != 53 && !proto.StrictDNSQuery(p.Data) {
		return false
	}
	t.query(p, &k, &m)
	return true
}

// query handles a query from k.cli to k.srv.
func (t *Tracker) query(p *packet.Packet, k *flowKey, m *proto.DNSMessage) {
	fi := t.flow(k, p.TS)
	if fi < 0 {
		return
	}
	f := &t.flows[fi]
	f.last = p.TS
	t.sink.CountID(f.srv, p.TS, window.BytesToServer, uint64(p.Payload))
	pk := pendKey{fi, m.ID}
	if q, ok := t.pending[pk]; ok {
		f.retx++
		t.sink.CountID(f.srv, p.TS, window.Retransmits, 1)
		q.bytes += p.Payload
		t.pending[pk] = q
		return
	}
	if len(t.pending) >= t.cfg.MaxPending {
		t.stats.PendingDropped++
		return
	}
	f.queries++
	f.npend++
	t.pending[pk] = pend{at: p.TS, qtype: m.QType, bytes: p.Payload}
}

// flow finds or starts the flow k; -1 when the table is full.
func (t *Tracker) flow(k *flowKey, ts int64) int32 {
	id := k.id()
	if i, ok := t.index[id]; ok {
		return i
	}
	if len(t.index) >= t.cfg.MaxFlows {
		t.stats.FlowsDropped++
		return -1
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(len(t.flows))
		t.flows = append(t.flows, flow{})
	}
	t.flows[i] = flow{key: id, srv: t.sink.AcquireUDP(k.srv), used: true, first: ts, last: ts}
	t.index[id] = i
	t.sink.CountID(t.flows[i].srv, ts, window.Connections, 1)
	if t.records != nil {
		t.records[i] = &tcp.Record{Client: k.cli.AddrPort(), Server: k.srv.AddrPort(), Start: time.Unix(0, ts).UTC(),
			Transport: "udp", Protocol: proto.DNS.String(), Transactions: []tcp.Transaction{}}
	}
	return i
}

// response handles a response on flow fi.
func (t *Tracker) response(p *packet.Packet, fi int32, m *proto.DNSMessage) {
	f := &t.flows[fi]
	f.last = p.TS
	t.sink.CountID(f.srv, p.TS, window.BytesFromServer, uint64(p.Payload))
	pk := pendKey{fi, m.ID}
	q, ok := t.pending[pk]
	if !ok || p.TS-q.at > int64(QueryTimeout) {
		t.stats.Unmatched++ // a late answer finds its query timed out, or gone
		return
	}
	delete(t.pending, pk)
	f.npend--
	if f.answers == 0 {
		t.sink.CountID(f.srv, p.TS, window.Established, 1)
	}
	f.answers++
	rt := float64(p.TS-q.at) / 1e3
	t.sink.CountID(f.srv, p.TS, window.Transactions, 1)
	t.sink.SampleID(f.srv, p.TS, window.ResponseTime, rt)
	t.sink.SampleID(f.srv, p.TS, window.TransferTime, rt)
	op, st, res := proto.DNSTxn(t.tab, q.qtype, true, m.Rcode)
	t.tx = proto.Txn{Protocol: proto.DNS, Op: t.tab.Ops.Name(op), Status: t.tab.Statuses.Name(st), Result: res,
		Timed: true, ResponseTime: rt}
	t.sink.TxnID(f.srv, p.TS, &t.tx)
	if t.records != nil {
		t.record(fi, q, &t.tx, uint64(p.Payload))
	}
}

// timeout ends a query that got no answer in time; ts is when it expired.
func (t *Tracker) timeout(pk pendKey, q pend, ts int64) {
	f := &t.flows[pk.flow]
	f.npend--
	t.sink.CountID(f.srv, ts, window.Transactions, 1)
	op, st, res := proto.DNSTxn(t.tab, q.qtype, false, 0)
	t.tx = proto.Txn{Protocol: proto.DNS, Op: t.tab.Ops.Name(op), Status: t.tab.Statuses.Name(st), Result: res}
	t.sink.TxnID(f.srv, ts, &t.tx)
	if t.records != nil {
		t.record(pk.flow, q, &t.tx, 0)
	}
}

func (t *Tracker) record(fi int32, q pend, tx *proto.Txn, respBytes uint64) {
	r := t.records[fi]
	if r == nil {
		return
	}
	tr := tcp.Transaction{RequestAt: time.Unix(0, q.at).UTC(), RequestBytes: uint64(q.bytes), ResponseBytes: respBytes,
		Operation: strPtr(tx.Op), Status: strPtr(tx.Status), Result: strPtr(tx.Result.String())}
	if tx.Timed {
		rt := tx.ResponseTime
		tr.ResponseTime, tr.TransferTime = &rt, &rt
	}
	r.Transactions = append(r.Transactions, tr)
	r.BytesTo += uint64(q.bytes)
	r.BytesFrom += respBytes
}

// Expire times out the queries unanswered for QueryTimeout and ends the
// flows silent for FlowIdle, at packet time now.
func (t *Tracker) Expire(now int64) {
	if now > t.now {
		t.now = now
	}
	for pk, q := range t.pending {
		if now-q.at >= int64(QueryTimeout) {
			delete(t.pending, pk)
			t.timeout(pk, q, q.at+int64(QueryTimeout))
		}
	}
	for i := range t.flows {
		if f := &t.flows[i]; f.used && f.npend == 0 && now-f.last >= int64(FlowIdle) {
			t.end(int32(i), f.last+int64(FlowIdle))
		}
	}
}

// Finish ends every flow. With eof (the end of the input) the pending
// queries are TIMEOUT, as if the capture had gone on; otherwise (the
// capture was stopped) they are dropped untimed.
func (t *Tracker) Finish(eof bool) {
	for pk, q := range t.pending {
		delete(t.pending, pk)
		if eof {
			t.timeout(pk, q, q.at+int64(QueryTimeout))
		}
	}
	for i := range t.flows {
		if t.flows[i].used {
			t.end(int32(i), t.now)
		}
	}
}

// end removes flow fi, reporting it.
func (t *Tracker) end(fi int32, ts int64) {
	f := &t.flows[fi]
	if f.answers == 0 {
		t.sink.CountID(f.srv, ts, window.Unanswered, 1)
	}
	if t.records != nil {
		if r := t.records[fi]; r != nil {
			r.Outcome = tcp.OutcomeEstablished
			if f.answers == 0 {
				r.Outcome = tcp.OutcomeUnanswered
			}
			r.Retransmits = uint64(f.retx)
			delete(t.records, fi)
			t.cfg.OnRecord(r)
		}
	}
	t.sink.Release(f.srv)
	delete(t.index, f.key)
	*f = flow{}
	t.free = append(t.free, fi)
}

// multicast reports whether a is a multicast or the broadcast address.
func multicast(a *[16]byte, v6 bool) bool {
	if v6 {
		return a[0] == 0xff
	}
	return a[0]>>4 == 14 || a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
