package tcp

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// event is one thing the tracker reported.
type event struct {
	server string
	ts     int64
	what   string // counter or metric name
	n      uint64
	us     float64
}

type recorder struct{ events []event }

func (r *recorder) Count(s Endpoint, ts int64, k window.Counter, n uint64) {
	r.events = append(r.events, event{server: s.String(), ts: ts, what: k.String(), n: n})
}

func (r *recorder) Sample(s Endpoint, ts int64, m window.Metric, us float64) {
	r.events = append(r.events, event{server: s.String(), ts: ts, what: m.String(), us: us})
}

func (r *recorder) find(what string) []event {
	var out []event
	for _, e := range r.events {
		if e.what == what {
			out = append(out, e)
		}
	}
	return out
}

// seg builds a segment between 10.0.0.1:port (client) and 10.0.0.2:80.
func seg(ts time.Duration, fromClient bool, port uint16, flags uint8, seq, ack, n uint32) *packet.Packet {
	p := &packet.Packet{TS: int64(ts), Flags: flags, Seq: seq, Ack: ack, Payload: n, WScale: -1}
	c, s := [16]byte{10, 0, 0, 1}, [16]byte{10, 0, 0, 2}
	if fromClient {
		p.Src, p.Dst, p.SrcPort, p.DstPort = c, s, port, 80
	} else {
		p.Src, p.Dst, p.SrcPort, p.DstPort = s, c, 80, port
	}
	return p
}

const sec = time.Second

// TestTimeouts: outcomes decided by time are counted when Expire decides
// them, and idle connections leave the table.
func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		packets []*packet.Packet
		expire  time.Duration // Expire is called at this time
		flows   int           // connections left afterwards
		want    map[string]int
	}{
		{
			// Counted once its outcome decides its server (see attribute).
			name:    "half-open before its timeout",
			packets: []*packet.Packet{seg(0, true, 1000, packet.SYN, 100, 0, 0)},
			expire:  HalfOpenTimeout - 1, flows: 1,
			want: map[string]int{"connections": 0, "unanswered": 0},
		},
		{
			name:    "half-open after its timeout",
			packets: []*packet.Packet{seg(0, true, 1000, packet.SYN, 100, 0, 0)},
			expire:  HalfOpenTimeout, flows: 0,
			want: map[string]int{"connections": 1, "unanswered": 1},
		},
		{
			name: "closed connection lingers",
			packets: []*packet.Packet{
				seg(0, true, 1000, packet.SYN, 100, 0, 0),
				seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
				seg(2, true, 1000, packet.ACK, 101, 501, 0),
				seg(3, true, 1000, packet.FIN|packet.ACK, 101, 501, 0),
				seg(4, false, 1000, packet.FIN|packet.ACK, 501, 102, 0),
			},
			expire: ClosedLinger - 1, flows: 1,
			want: map[string]int{"established": 1, "unanswered": 0},
		},
		{
			name: "closed connection expires",
			packets: []*packet.Packet{
				seg(0, true, 1000, packet.SYN, 100, 0, 0),
				seg(1, false, 1000, packet.RST|packet.ACK, 0, 101, 0),
			},
			expire: ClosedLinger + 4, flows: 0,
			want: map[string]int{"refused": 1, "unanswered": 0},
		},
		{
			name: "established idle",
			packets: []*packet.Packet{
				seg(0, true, 1000, packet.SYN, 100, 0, 0),
				seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
				seg(2, true, 1000, packet.ACK, 101, 501, 0),
			},
			expire: EstablishedTimeout + 2, flows: 0,
			want: map[string]int{"established": 1},
		},
		{
			name: "idle response ends its turn",
			packets: []*packet.Packet{
				seg(0, true, 1000, packet.SYN, 100, 0, 0),
				seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
				seg(2, true, 1000, packet.ACK, 101, 501, 0),
				seg(3*sec, true, 1000, packet.ACK|packet.PSH, 101, 501, 10),
				seg(4*sec, false, 1000, packet.ACK|packet.PSH, 501, 111, 20),
			},
			expire: 4*sec + TurnIdle, flows: 1,
			want: map[string]int{"transactions": 1, "transfer_time": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			tr := New(Config{}, &r)
			for _, p := range tt.packets {
				tr.Packet(p)
			}
			tr.Expire(int64(tt.expire))
			if got := tr.Stats().Flows; got != tt.flows {
				t.Errorf("flows %d, want %d", got, tt.flows)
			}
			for what, n := range tt.want {
				evs := r.find(what)
				if len(evs) != n {
					t.Errorf("%s: %d events, want %d", what, len(evs), n)
				}
				for _, e := range evs {
					if what == "unanswered" && e.ts != int64(tt.expire) {
						t.Errorf("unanswered counted at %d, want at the expiry %d", e.ts, tt.expire)
					}
				}
			}
			checkInvariants(t, tr)
		})
	}
}

// TestTableAgainstMap drives the flow table through random inserts and
// removals and compares it with a Go map.
func TestTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New(Config{MaxFlows: 10000}, &recorder{})
	tr.tab = newTable() // small at first: the table grows
	want := map[flowKey]bool{}
	var p packet.Packet
	for step := range 40000 {
		i := rng.IntN(8000)
		p = packet.Packet{TS: int64(step), Flags: packet.SYN, Seq: 1, SrcPort: uint16(1000 + i), DstPort: 80, WScale: -1}
		binary.BigEndian.PutUint32(p.Src[:4], 0x0a000001)
		binary.BigEndian.PutUint32(p.Dst[:4], 0x0a000002)
		var k flowKey
		makeKey(&p, &k)
		if rng.IntN(3) == 0 {
			// The server refuses: the connection closes, then expires.
			p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
			p.Flags, p.Ack = packet.RST|packet.ACK, 2
			tr.Packet(&p)
			if want[k] {
				idx := tr.tab.lookup(&k, tr.tab.hash(&k), &tr.slab)
				tr.finish(idx, int64(step), endNormal)
				delete(want, k)
			}
			continue
		}
		tr.Packet(&p)
		want[k] = true
	}
	if tr.Stats().Flows != len(want) {
		t.Fatalf("table holds %d flows, map %d", tr.Stats().Flows, len(want))
	}
	for k := range want {
		if tr.tab.lookup(&k, tr.tab.hash(&k), &tr.slab) < 0 {
			t.Fatalf("key %x lost", k)
		}
	}
	checkInvariants(t, tr)
}

// checkInvariants verifies that the table indexes exactly the live slots.
func checkInvariants(t *testing.T, tr *Tracker) {
	t.Helper()
	live := 0
	for i := int32(0); i < tr.slab.n; i++ {
		c := tr.slab.at(i)
		if c.state == stFree {
			continue
		}
		live++
		k := c.key()
		if got := tr.tab.lookup(&k, tr.tab.hash(&k), &tr.slab); got != i {
			t.Fatalf("slot %d: table finds %d", i, got)
		}
	}
	if live != tr.tab.n {
		t.Fatalf("%d live slots, table count %d", live, tr.tab.n)
	}
	if live+len(tr.free) != int(tr.slab.n) {
		t.Fatalf("%d live + %d free != %d slots", live, len(tr.free), tr.slab.n)
	}
	open := 0
	for i := tr.openHead; i >= 0; i = tr.slab.at(i).next {
		if s := tr.slab.at(i).state; s != stSynSent && s != stSynRcvd {
			t.Fatalf("slot %d in the half-open list with state %d", i, s)
		}
		if open++; open > live {
			t.Fatal("half-open list loops")
		}
	}
}

// TestNoAllocs: the per-packet path allocates nothing once warm.
func TestNoAllocs(t *testing.T) {
	tr := New(Config{}, discard{})
	pkts := []*packet.Packet{
		seg(0, true, 1000, packet.SYN, 100, 0, 0),
		seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
		seg(2, true, 1000, packet.ACK, 101, 501, 0),
		seg(3, true, 1000, packet.ACK|packet.PSH, 101, 501, 10),
		seg(4, false, 1000, packet.ACK, 501, 111, 0),
		seg(5, false, 1000, packet.ACK|packet.PSH, 501, 111, 20),
		seg(6, true, 1000, packet.ACK, 111, 521, 0),
		seg(7, true, 1000, packet.FIN|packet.ACK, 111, 521, 0),
		seg(8, false, 1000, packet.FIN|packet.ACK, 521, 112, 0),
	}
	run := func(base time.Duration) {
		for _, p := range pkts {
			q := *p
			q.TS += int64(base)
			tr.Packet(&q)
		}
		tr.Expire(int64(base + time.Minute))
	}
	run(0)
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n++
		run(time.Duration(n) * time.Hour)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per connection", allocs)
	}
}

// FuzzTracker feeds arbitrary packet sequences on a handful of tuples: the
// tracker never panics and its table stays consistent.
func FuzzTracker(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r recorder
		tr := New(Config{MaxFlows: 4, OnRecord: func(*Record) {}}, &r)
		var ts int64
		for len(data) >= fuzzRecord {
			p := fuzzPacket(data[:fuzzRecord], &ts)
			data = data[fuzzRecord:]
			tr.Packet(&p)
			if p.Flags == 0xff {
				tr.Expire(ts)
			}
		}
		checkInvariants(t, tr)
		tr.Finish(len(data)%2 == 0)
		if tr.Stats().Flows != 0 {
			t.Fatalf("%d flows after Finish", tr.Stats().Flows)
		}
		for _, e := range r.events {
			if e.what == "rtt" || e.what == "rtt_server" || e.what == "rtt_client" {
				if e.us < 0 {
					t.Fatalf("negative %s sample %v", e.what, e.us)
				}
			}
		}
	})
}

const fuzzRecord = 12

// fuzzPacket decodes 12 bytes: flags, tuple selector, seq, ack, payload,
// timestamp option, time step.
func fuzzPacket(b []byte, ts *int64) packet.Packet {
	*ts += int64(binary.BigEndian.Uint16(b[10:])) * int64(time.Millisecond) / 64
	sel := b[1]
	p := packet.Packet{
		TS: *ts, Flags: b[0], Iface: int32(sel >> 7), V6: sel&0x40 != 0,
		Seq: uint32(b[2])<<24 | uint32(b[3]), Ack: uint32(b[4])<<24 | uint32(b[5]),
		Payload: uint32(b[6]) * 8, HasTS: b[7]&1 != 0, TSval: uint32(b[7] >> 1), TSecr: uint32(b[8]), WScale: -1,
	}
	a, c := [16]byte{10, 0, 0, 1}, [16]byte{10, 0, 0, 2}
	if p.V6 {
		a, c = [16]byte{0xfd, 15: 1}, [16]byte{0xfd, 15: 2}
	}
	ports := [4]uint16{80, 5432, 40000, 50000}
	sp, dp := ports[sel&3], ports[(sel>>2)&3]
	if sel&0x10 != 0 {
		a, c, sp, dp = c, a, dp, sp
	}
	p.Src, p.Dst, p.SrcPort, p.DstPort = a, c, sp, dp
	if sel&0x20 != 0 {
		p.Fragment = b[9]&1 != 0
	}
	return p
}

// fuzzSeeds encodes a few meaningful sequences: a full exchange with and
// without timestamps, a refused SYN, retransmissions.
func fuzzSeeds() [][]byte {
	rec := func(flags, sel byte, seq, ack uint16, payload, tsopt, tsecr byte, step uint16) []byte {
		b := make([]byte, fuzzRecord)
		b[0], b[1] = flags, sel
		binary.BigEndian.PutUint16(b[2:], seq)
		binary.BigEndian.PutUint16(b[4:], ack)
		b[6], b[7], b[8] = payload, tsopt, tsecr
		binary.BigEndian.PutUint16(b[10:], step)
		return b
	}
	const cli, srv = 0x08, 0x18 // 40000 → 80 and back
	S, SA, A, PA, FA, R := packet.SYN, packet.SYN|packet.ACK, packet.ACK, packet.PSH|packet.ACK, packet.FIN|packet.ACK, packet.RST|packet.ACK
	var seeds [][]byte
	for _, ts := range []byte{0, 1} {
		var s []byte
		s = append(s, rec(S, cli, 1, 0, 0, ts|2, 0, 1)...)
		s = append(s, rec(SA, srv, 1, 2, 0, ts|4, 2, 2)...)
		s = append(s, rec(A, cli, 2, 2, 0, ts|6, 4, 64)...)
		s = append(s, rec(PA, cli, 2, 2, 10, ts|8, 4, 64)...)
		s = append(s, rec(A, srv, 2, 82, 0, ts|10, 8, 2)...)
		s = append(s, rec(PA, srv, 2, 82, 20, ts|12, 8, 200)...)
		s = append(s, rec(PA, srv, 2, 82, 20, ts|14, 8, 2000)...) // retransmitted
		s = append(s, rec(A, cli, 82, 162, 0, ts|16, 14, 640)...)
		s = append(s, rec(FA, cli, 82, 162, 0, ts|18, 14, 64)...)
		s = append(s, rec(FA, srv, 162, 83, 0, ts|20, 18, 64)...)
		seeds = append(seeds, s)
	}
	var s []byte
	s = append(s, rec(S, cli, 1, 0, 0, 0, 0, 1)...)
	s = append(s, rec(S, cli, 1, 0, 0, 0, 0, 64000)...)
	s = append(s, rec(R, srv, 0, 2, 0, 0, 0, 1)...)
	s = append(s, rec(0xff, 0x2b, 0, 0, 0, 0, 0, 65535)...)
	seeds = append(seeds, s)
	return seeds
}

func TestFuzzSeedsDecode(t *testing.T) {
	for i, s := range fuzzSeeds() {
		if len(s)%fuzzRecord != 0 {
			t.Fatalf("seed %d: %d bytes", i, len(s))
		}
	}

}

// TestKeepAlive: a one-byte keep-alive probe (old data by design) is not a
// retransmission; a resent data segment is.
func TestKeepAlive(t *testing.T) {
	var r recorder
	tr := New(Config{}, &r)
	for _, p := range []*packet.Packet{
		seg(0, true, 1000, packet.SYN, 100, 0, 0),
		seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
		seg(2, true, 1000, packet.ACK, 101, 501, 0),
		seg(3, true, 1000, packet.ACK|packet.PSH, 101, 501, 10),
		seg(4, false, 1000, packet.ACK, 501, 111, 0),
		seg(75*sec, true, 1000, packet.ACK, 110, 501, 1),             // keep-alive
		seg(76*sec, true, 1000, packet.ACK|packet.PSH, 101, 501, 10), // retransmission
	} {
		tr.Packet(p)
	}
	tr.Finish(true)
	var n uint64
	for _, e := range r.find("retransmits") {
		n += e.n
	}
	if n != 1 {
		t.Errorf("retransmits %d, want 1", n)
	}
}

// TestManyRetransmits: more retransmits in one window than the pending
// count holds are all counted, in that window, and the flags beside the
// count are untouched.
func TestManyRetransmits(t *testing.T) {
	var r recorder
	tr := New(Config{}, &r)
	for _, p := range []*packet.Packet{
		seg(0, true, 1000, packet.SYN, 100, 0, 0),
		seg(1, false, 1000, packet.SYN|packet.ACK, 500, 101, 0),
		seg(2, true, 1000, packet.ACK, 101, 501, 0),
		seg(3, true, 1000, packet.ACK|packet.PSH, 101, 501, 10),
	} {
		tr.Packet(p)
	}
	var k flowKey
	makeKey(seg(0, true, 1000, 0, 0, 0, 0), &k)
	c := tr.slab.at(tr.tab.lookup(&k, tr.tab.hash(&k), &tr.slab))
	before := c.flags &^ fPend0 // a retransmission cancels the client's sample
	const n = 3*retxMax + 7
	for i := range n {
		tr.Packet(seg(time.Duration(4+i), true, 1000, packet.ACK|packet.PSH, 101, 501, 10))
	}
	if after := c.flags &^ retxMask; after != before {
		t.Errorf("flags %#x, want %#x", after, before)
	}
	tr.Finish(true)
	var got uint64
	for _, e := range r.find("retransmits") {
		got += e.n
		if e.ts != 0 {
			t.Errorf("retransmits counted at %d, want window 0", e.ts)
		}
	}
	if got != n {
		t.Errorf("retransmits %d, want %d", got, n)
	}
	var bytes uint64
	for _, e := range r.find("bytes_to_server") {
		bytes += e.n
	}
	if bytes != 10*(n+1) {
		t.Errorf("bytes to server %d, want %d", bytes, 10*(n+1))
	}
}

// TestConnSize: a connection takes three cache lines (BenchmarkFlowMemory
// reports the bytes per flow).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(conn{}); s != 192 {
		t.Errorf("conn is %d bytes, want 192", s)
	}
}

// TestPortZero: port 0 names the closed-ports buckets, so a segment from or
// to it is ignored and counted, never tracked.
func TestPortZero(t *testing.T) {
	var r recorder
	tr := New(Config{}, &r)
	tr.Packet(seg(0, true, 0, packet.SYN, 100, 0, 0))
	p := seg(0, true, 1000, packet.SYN, 100, 0, 0)
	p.DstPort = 0
	tr.Packet(p)
	if len(r.events) != 0 || tr.Stats().Flows != 0 || tr.Stats().PortZero != 2 {
		t.Errorf("events %v, stats %+v: want nothing tracked and 2 counted", r.events, tr.Stats())
	}
}

// TestListenersBounded: the servers remembered as answering SYNs stay at
// MaxListeners, and the ones forgotten are counted.
func TestListenersBounded(t *testing.T) {
	tr := New(Config{}, &recorder{})
	const extra = 10
	for i := range MaxListeners + extra {
		// A SYN/ACK from 10.0.0.2:80 to a new client port each time would
		// be one listener: vary the server's address instead.
		p := seg(sec, false, 1000, packet.SYN|packet.ACK, 500, 101, 0)
		binary.BigEndian.PutUint32(p.Src[:4], 0x0b000000+uint32(i))
		tr.Packet(p)
	}
	if n, d := len(tr.listen), tr.Stats().ListenersDropped; n != MaxListeners || d != extra {
		t.Errorf("%d listeners, %d dropped; want %d and %d", n, d, MaxListeners, extra)
	}
}
