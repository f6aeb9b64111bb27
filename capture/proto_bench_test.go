package capture

import (
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

var (
	httpBenchOnce   sync.Once
	httpBenchFrames []Frame
	httpBenchSpan   int64
)

// httpFrames builds about 200k frames of HTTP/1.1 traffic once (the
// workload of BenchmarkPipeline with HTTP payloads), cut to snap bytes as
// a capture with the default snap length keeps them.
func httpFrames(snap int) ([]Frame, int64) {
	httpBenchOnce.Do(func() {
		w := synth.Workload{Servers: 50, Clients: 2000, MaxTurns: 6, Seed: 1, HTTP: true}
		var c synth.Capture
		start := t0
		for range 20 {
			start = w.Batch(&c, start, 500).Add(time.Millisecond)
		}
		var buf []byte
		var ends []int
		_ = c.Drain(func(f synth.Frame) error {
			buf = append(buf, f.Data[:min(len(f.Data), snap)]...)
			ends = append(ends, len(buf))
			httpBenchFrames = append(httpBenchFrames, Frame{TS: f.TS.UnixNano(), Iface: int32(f.Iface), Link: packet.LinkEthernet, WireLen: len(f.Data)})
			return nil
		})
		start0 := 0
		for i, end := range ends {
			httpBenchFrames[i].Data = buf[start0:end:end]
			start0 = end
		}
		httpBenchSpan = httpBenchFrames[len(httpBenchFrames)-1].TS - httpBenchFrames[0].TS
	})
	return httpBenchFrames, httpBenchSpan
}

// BenchmarkPipelineHTTP is BenchmarkPipeline on HTTP traffic, with the
// protocol parsers on and off: the cost of naming every transaction, and
// proof that it allocates nothing per packet (allocs/op).
func BenchmarkPipelineHTTP(b *testing.B) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"parsers=on", false}, {"parsers=off", true}} {
		b.Run(tc.name, func(b *testing.B) {
			frames, span := httpFrames(256)
			var ops int
			p, err := newPipeline(Config{NoProtocols: tc.off, OnWindow: func(s window.Summary) { ops += len(s.Operations) }})
			if err != nil {
				b.Fatal(err)
			}
			shift := span + int64(2*time.Minute)
			replay(len(frames), p, frames, shift, 0, 0, 0)
			b.ReportAllocs()
			b.ResetTimer()
			replay(b.N, p, frames, shift, 1, 0, 0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			p.end(true)
			if !tc.off && (ops == 0 || p.tracker.ProtoStats().Recognized[1] == 0) {
				b.Fatal("no HTTP recognised")
			}
		})
	}
}
