package udp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/aggregate"
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

var t0 = time.Date(2026, 12, 2, 17, 0, 10, 0, time.UTC).UnixNano()

const ms = int64(time.Millisecond)

// dnsMsg builds a DNS message with gopacket.
func dnsMsg(t testing.TB, id uint16, qtype layers.DNSType, resp bool, rc layers.DNSResponseCode) []byte {
	d := &layers.DNS{ID: id, QR: resp, RD: true, ResponseCode: rc,
		Questions: []layers.DNSQuestion{{Name: []byte("web.corp.internal"), Type: qtype, Class: layers.DNSClassIN}}}
	if resp && rc == 0 {
		d.Answers = []layers.DNSResourceRecord{{Name: []byte("web.corp.internal"), Type: layers.DNSTypeA,
			Class: layers.DNSClassIN, TTL: 60, IP: []byte{172, 20, 1, 10}}}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func pkt(ts int64, src, dst string, data []byte) *packet.Packet {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	p := &packet.Packet{TS: ts, V6: s.Addr().Is6(), SrcPort: s.Port(), DstPort: d.Port(), Payload: uint32(len(data)), Data: data}
	if p.V6 {
		p.Src, p.Dst = s.Addr().As16(), d.Addr().As16()
	} else {
		a, b := s.Addr().As4(), d.Addr().As4()
		copy(p.Src[:], a[:])
		copy(p.Dst[:], b[:])
	}
	return p
}

type run struct {
	t       *testing.T
	tr      *Tracker
	agg     *aggregate.Aggregator
	sums    []window.Summary
	records []*tcp.Record
}

func newRun(t *testing.T, cfg Config) *run {
	r := &run{t: t}
	r.agg = aggregate.New(func(s window.Summary) { r.sums = append(r.sums, s) })
	cfg.OnRecord = func(rec *tcp.Record) { r.records = append(r.records, rec) }
	r.tr = New(cfg, r.agg)
	return r
}

func (r *run) send(ts int64, src, dst string, data []byte) bool {
	return r.tr.Packet(pkt(ts, src, dst, data))
}

func (r *run) finish() window.Summary {
	r.tr.Finish(true)
	r.agg.Flush()
	var total window.Summary
	for i, s := range r.sums {
		if s.Transport != "udp" {
			r.t.Errorf("summary %d: transport %q", i, s.Transport)
		}
		if i == 0 {
			total = s
			continue
		}
		if err := total.Merge(&s); err != nil {
			r.t.Fatal(err)
		}
	}
	return total
}

func op(s *window.Summary, name string) window.Operation {
	for _, o := range s.Operations {
		if o.Name == name {
			return o
		}
	}
	return window.Operation{}
}

func TestQueriesAndResponses(t *testing.T) {
	r := newRun(t, Config{})
	cl, cl2, srv := "10.0.0.1:40000", "10.0.0.1:40001", "10.0.0.2:53"
	r.send(t0, cl, srv, dnsMsg(t, 1, layers.DNSTypeA, false, 0))
	r.send(t0+2*ms, srv, cl, dnsMsg(t, 1, layers.DNSTypeA, true, 0))
	r.send(t0+10*ms, cl, srv, dnsMsg(t, 2, layers.DNSTypeAAAA, false, 0))
	r.send(t0+13*ms, srv, cl, dnsMsg(t, 2, layers.DNSTypeAAAA, true, layers.DNSResponseCodeNXDomain))
	// Repeated before its answer: one transaction, a retransmit, timed
	// from the first query.
	r.send(t0+20*ms, cl2, srv, dnsMsg(t, 3, layers.DNSTypeSRV, false, 0))
	r.send(t0+1020*ms, cl2, srv, dnsMsg(t, 3, layers.DNSTypeSRV, false, 0))
	r.send(t0+1025*ms, srv, cl2, dnsMsg(t, 3, layers.DNSTypeSRV, true, layers.DNSResponseCodeServFail))
	// A duplicate answer matches nothing.
	r.send(t0+1026*ms, srv, cl2, dnsMsg(t, 3, layers.DNSTypeSRV, true, layers.DNSResponseCodeServFail))
	// Unanswered: TIMEOUT once 5 s of packet time passed.
	r.send(t0+30*ms, cl, srv, dnsMsg(t, 4, layers.DNSType(65), false, 0))
	r.tr.Expire(t0 + 30*ms + int64(QueryTimeout) - 1)
	if n := r.tr.Stats().Pending; n != 1 {
		t.Fatalf("pending before the timeout: %d", n)
	}
	r.tr.Expire(t0 + 30*ms + int64(QueryTimeout))
	// An answer after the timeout is late: unmatched.
	r.send(t0+30*ms+int64(QueryTimeout)+ms, srv, cl, dnsMsg(t, 4, layers.DNSType(65), true, 0))
	st := r.tr.Stats()
	if st.Pending != 0 || st.Unmatched != 2 || st.Flows != 2 {
		t.Errorf("stats %+v", st)
	}
	s := r.finish()
	c := s.Counters
	if c.Connections != 2 || c.Established != 2 || c.Transactions != 4 || c.Retransmits != 1 {
		t.Errorf("counters %+v", c)
	}
	if s.Protocol != "dns" || s.Server.String() != srv {
		t.Errorf("protocol %q server %v", s.Protocol, s.Server)
	}
	if rt := s.Metrics[window.ResponseTime]; rt.Count != 3 || rt.Min != 2000 || rt.Max != 1005000 {
		t.Errorf("response_time %+v", rt)
	}
	for name, want := range map[string][4]uint64{"A": {1, 1, 0, 0}, "AAAA": {1, 1, 0, 0}, "SRV": {1, 0, 0, 1}, "TYPE65": {1, 0, 0, 1}} {
		o := op(&s, name)
		if got := [4]uint64{o.Count, o.OK, o.ClientError, o.ServerError}; got != want {
			t.Errorf("operation %s: %v, want %v", name, got, want)
		}
	}
	for status, n := range map[string]uint64{"NOERROR": 1, "NXDOMAIN": 1, "SERVFAIL": 1, "TIMEOUT": 1} {
		if s.Statuses[status] != n {
			t.Errorf("statuses %v", s.Statuses)
		}
	}
	if len(r.records) != 2 {
		t.Fatalf("%d records", len(r.records))
	}
	for _, rec := range r.records {
		if rec.Transport != "udp" || rec.Protocol != "dns" || rec.Outcome != tcp.OutcomeEstablished {
			t.Errorf("record %+v", rec)
		}
	}
	rec := r.records[0]
	if rec.Client.String() != cl {
		rec = r.records[1]
	}
	if len(rec.Transactions) != 3 {
		t.Fatalf("transactions %+v", rec.Transactions)
	}
	to := rec.Transactions[2]
	if to.ResponseTime != nil || to.TransferTime != nil || *to.Status != "TIMEOUT" || *to.Operation != "TYPE65" || *to.Result != "server_error" {
		t.Errorf("timeout transaction %+v", to)
	}
	if a := rec.Transactions[0]; *a.ResponseTime != 2000 || *a.TransferTime != 2000 || a.RequestAt.UnixNano() != t0 {
		t.Errorf("first transaction %+v", a)
	}
}

func TestFlowIdleAndTimeoutAtEOF(t *testing.T) {
	r := newRun(t, Config{})
	cl, srv := "[fd10::1]:41000", "[fd10::2]:53"
	r.send(t0, cl, srv, dnsMsg(t, 1, layers.DNSTypeA, false, 0))
	r.send(t0+ms, srv, cl, dnsMsg(t, 1, layers.DNSTypeA, true, 0))
	r.tr.Expire(t0 + ms + int64(FlowIdle) - 1)
	if r.tr.Stats().Flows != 1 {
		t.Fatal("flow ended before FlowIdle")
	}
	r.tr.Expire(t0 + ms + int64(FlowIdle))
	if r.tr.Stats().Flows != 0 || len(r.records) != 1 {
		t.Fatalf("flow still there after FlowIdle: %+v", r.tr.Stats())
	}
	// Same ports again: a new flow, unanswered, its query TIMEOUT at EOF.
	r.send(t0+int64(time.Minute), cl, srv, dnsMsg(t, 2, layers.DNSTypeMX, false, 0))
	s := r.finish()
	if s.Counters.Connections != 2 || s.Counters.Unanswered != 1 || s.Statuses["TIMEOUT"] != 1 {
		t.Errorf("counters %+v statuses %v", s.Counters, s.Statuses)
	}
	if len(r.records) != 2 || r.records[1].Outcome != tcp.OutcomeUnanswered {
		t.Errorf("records %+v", r.records)
	}
}

func TestRecognition(t *testing.T) {
	r := newRun(t, Config{})
	q := dnsMsg(t, 9, layers.DNSTypeA, false, 0)
	for _, tc := range []struct {
		name     string
		src, dst string
		data     []byte
		want     bool
	}{
		{"query to 53", "10.0.0.1:1000", "10.0.0.2:53", q, true},
		{"strict query to 5300", "10.0.0.1:1001", "10.0.0.2:5300", q, true},
		{"query with trailing bytes to 5300", "10.0.0.1:1002", "10.0.0.2:5300", append(bytes.Clone(q), 1, 2, 3), false},
		{"response to 5300 query", "10.0.0.2:5300", "10.0.0.1:1001", dnsMsg(t, 9, layers.DNSTypeA, true, 0), true},
		{"response from an unknown 5300 flow", "10.0.0.2:5300", "10.0.0.1:1009", dnsMsg(t, 9, layers.DNSTypeA, true, 0), false},
		{"mdns", "10.0.0.1:5353", "224.0.0.251:5353", q, false},
		{"multicast", "10.0.0.1:1003", "239.1.1.1:53", q, false},
		{"short", "10.0.0.1:1004", "10.0.0.2:53", q[:11], false},
		{"ntp", "10.0.0.1:123", "10.0.0.2:123", make([]byte, 48), false},
	} {
		if got := r.send(t0, tc.src, tc.dst, tc.data); got != tc.want {
			t.Errorf("%s: DNS %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBounds(t *testing.T) {
	r := newRun(t, Config{MaxFlows: 2, MaxPending: 3})
	srv := "10.0.0.2:53"
	for i, cl := range []string{"10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3"} {
		r.send(t0, cl, srv, dnsMsg(t, uint16(i), layers.DNSTypeA, false, 0))
	}
	for id := uint16(10); id < 13; id++ {
		r.send(t0, "10.0.0.1:1", srv, dnsMsg(t, id, layers.DNSTypeA, false, 0))
	}
	st := r.tr.Stats()
	if st.Flows != 2 || st.FlowsDropped != 1 || st.Pending != 3 || st.PendingDropped != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestPacketAllocs proves matching allocates nothing per packet once the
// tables have grown.
func TestPacketAllocs(t *testing.T) {
	agg := aggregate.New(func(window.Summary) {})
	tr := New(Config{}, agg)
	q, a := dnsMsg(t, 7, layers.DNSTypeA, false, 0), dnsMsg(t, 7, layers.DNSTypeA, true, 0)
	pq, pa := pkt(t0, "10.0.0.1:40000", "10.0.0.2:53", q), pkt(t0, "10.0.0.2:53", "10.0.0.1:40000", a)
	ts := t0
	step := func() {
		ts += ms
		pq.TS, pa.TS = ts, ts+ms/2
		tr.Packet(pq)
		tr.Packet(pa)
	}
	for range 1000 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocs per query and response", n)
	}
}

func BenchmarkQueryResponse(b *testing.B) {
	agg := aggregate.New(func(window.Summary) {})
	tr := New(Config{}, agg)
	q, a := dnsMsg(b, 7, layers.DNSTypeA, false, 0), dnsMsg(b, 7, layers.DNSTypeA, true, 0)
	var pqs, pas []*packet.Packet
	for i := range 64 {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 40000).String()
		pqs = append(pqs, pkt(t0, cl, "10.0.0.2:53", q))
		pas = append(pas, pkt(t0, "10.0.0.2:53", cl, a))
	}
	ts := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts += 1000
		pq, pa := pqs[i%64], pas[i%64]
		pq.TS, pa.TS = ts, ts+500
		tr.Packet(pq)
		tr.Packet(pa)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/packet")
}

// BenchmarkBytesPerFlow reports the heap the tracker holds per UDP flow
// with one query pending each, at 100k flows (the aggregator's share, one
// server, is negligible).
func BenchmarkBytesPerFlow(b *testing.B) {
	const n = 100_000
	q := dnsMsg(b, 7, layers.DNSTypeA, false, 0)
	for b.Loop() {
		agg := aggregate.New(func(window.Summary) {})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := New(Config{MaxPending: n}, agg)
		p := pkt(t0, "10.0.0.1:1", "10.0.0.2:53", q)
		for i := range n {
			binary.BigEndian.PutUint32(p.Src[:4], 0x0a000000|uint32(i>>8))
			p.SrcPort = uint16(1024 + i&0xff)
			tr.Packet(p)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if st := tr.Stats(); st.Flows != n || st.Pending != n {
			b.Fatalf("stats %+v", st)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/flow")
		runtime.KeepAlive(tr)
	}
}
