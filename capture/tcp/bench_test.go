package tcp

import (
	"encoding/binary"
	"runtime"
	"testing"
	"unsafe"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

type discard struct{}

func (discard) Count(Endpoint, int64, window.Counter, uint64)  {}
func (discard) Sample(Endpoint, int64, window.Metric, float64) {}

// synPacket is the SYN of flow i: distinct client address and port per i.
func synPacket(p *packet.Packet, i int, ts int64) {
	*p = packet.Packet{TS: ts, Flags: packet.SYN, Seq: uint32(i) * 7919, SrcPort: uint16(1024 + i%60000), DstPort: 80, WScale: -1}
	binary.BigEndian.PutUint32(p.Src[:4], 0x0a000000|uint32(i/60000))
	binary.BigEndian.PutUint32(p.Dst[:4], 0xc0a80001)
}

// BenchmarkFlowMemory inserts 1M flows and reports the heap they take per
// flow: the slab, the hash index and the free list.
func BenchmarkFlowMemory(b *testing.B) {
	const flows = 1_000_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr := New(Config{MaxFlows: flows}, discard{})
		var p packet.Packet
		for i := range flows {
			synPacket(&p, i, int64(i))
		}
		for i := range flows {
			synPacket(&p, i, int64(i))
			tr.Packet(&p)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := tr.Stats().Flows; got != flows {
			b.Fatalf("%d flows tracked, want %d", got, flows)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/flows, "bytes/flow")
		b.ReportMetric(float64(unsafe.Sizeof(conn{})), "conn-bytes")
		runtime.KeepAlive(tr)
	}
}

// BenchmarkTrackerEstablished is the tracker alone on data segments of 1024
// established connections.
func BenchmarkTrackerEstablished(b *testing.B) {
	tr := New(Config{}, discard{})
	var p packet.Packet
	const conns = 1024
	// Open conns connections.
	for i := range conns {
		synPacket(&p, i, 0)
		tr.Packet(&p)
		src, sp := p.Src, p.SrcPort
		p = packet.Packet{TS: 1000, Flags: packet.SYN | packet.ACK, Src: p.Dst, Dst: src, SrcPort: 80, DstPort: sp, Seq: 1, Ack: uint32(i)*7919 + 1}
		tr.Packet(&p)
		p = packet.Packet{TS: 2000, Flags: packet.ACK, Src: src, Dst: p.Src, SrcPort: sp, DstPort: 80, Seq: uint32(i)*7919 + 1, Ack: 2}
		tr.Packet(&p)
	}
	seq := make([]uint32, conns)
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		i := n % conns
		synPacket(&p, i, int64(3000+n))
		p.Flags = packet.ACK | packet.PSH
		p.Seq = uint32(i)*7919 + 1 + seq[i]
		p.Payload = 100
		seq[i] += 100
		tr.Packet(&p)
	}
}
