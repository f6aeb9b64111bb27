package tcp

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/proto"
)

// BenchmarkFlowMemoryProto is BenchmarkFlowMemory with the protocol parsers
// on: the heap 1M tracked flows take per flow, their parser state included.
func BenchmarkFlowMemoryProto(b *testing.B) {
	const flows = 1_000_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr := New(Config{MaxFlows: flows, Proto: proto.NewTables()}, discard{})
		var p packet.Packet
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
		b.ReportMetric(float64(unsafe.Sizeof(conn{})+unsafe.Sizeof(proto.Conn{})), "conn-bytes")
		runtime.KeepAlive(tr)
	}
}
