package capture

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

var (
	benchOnce   sync.Once
	benchFrames []Frame
	benchSpan   int64
)

// workloadFrames builds about 200k frames of realistic traffic once.
func workloadFrames() ([]Frame, int64) {
	benchOnce.Do(func() {
		w := synth.Workload{Servers: 50, Clients: 2000, MaxTurns: 6, Seed: 1}
		var c synth.Capture
		start := t0
		for range 20 {
			start = w.Batch(&c, start, 500).Add(time.Millisecond)
		}
		// One contiguous buffer in time order, as a file reader delivers.
		var buf []byte
		var ends []int
		_ = c.Drain(func(f synth.Frame) error {
			buf = append(buf, f.Data...)
			ends = append(ends, len(buf))
			benchFrames = append(benchFrames, Frame{TS: f.TS.UnixNano(), Iface: int32(f.Iface), Link: packet.LinkEthernet, WireLen: len(f.Data)})
			return nil
		})
		for i, start := range ends {
			if i == 0 {
				start = 0
			} else {
				start = ends[i-1]
			}
			benchFrames[i].Data = buf[start:ends[i]]
		}
		benchSpan = benchFrames[len(benchFrames)-1].TS - benchFrames[0].TS
	})
	return benchFrames, benchSpan
}

// BenchmarkPipeline measures the per-packet path: decode, track, aggregate.
// The workload is replayed with its times shifted by a few minutes per
// round, so connections and windows keep coming and going.
func BenchmarkPipeline(b *testing.B) {
	frames, span := workloadFrames()
	var windows int
	p, err := newPipeline(Config{OnWindow: func(window.Summary) { windows++ }})
	if err != nil {
		b.Fatal(err)
	}
	shift := span + int64(2*time.Minute)
	// One untimed round warms the flow table and the sketches up.
	replay(len(frames), p, frames, shift, 0, 0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	replay(b.N, p, frames, shift, 1, 0, 0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if p.stats.Decoded == 0 {
		b.Fatal("nothing decoded")
	}
}

// BenchmarkPipelineFile is BenchmarkPipeline on the frames of a capture
// file named by PASTMON_BENCH_PCAP (skipped when unset), e.g. the traffic
// bench/live.sh replays, cut to the live benchmark's snap length:
//
//	go run ./bench/livegen -o /tmp/live.pcap -packets 1000000
//	editcap -s 256 -F pcap /tmp/live.pcap /tmp/live256.pcap
//	PASTMON_BENCH_PCAP=/tmp/live256.pcap go test -run '^$' -bench PipelineFile ./capture/
//
// The frames are held in memory, in one buffer in file order as a ring
// would hold them; CPU time per packet is reported beside wall time.
//
// Two knobs bring it closer to a live capture. PASTMON_BENCH_PPS=N stamps
// the frames as a capture at N packets/s would, so that connections live
// and linger as long as in bench/live.sh. PASTMON_BENCH_NAP=N:D sleeps D
// after every N packets, as a live reader sleeps between ring blocks:
// the CPU time per packet shows what each wake-up costs (N=3000 is about
// a 1 MiB block of these frames, N=100000 a 32 MiB one).
func BenchmarkPipelineFile(b *testing.B) {
	path := os.Getenv("PASTMON_BENCH_PCAP")
	if path == "" {
		b.Skip("PASTMON_BENCH_PCAP not set")
	}
	src, err := OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var (
		frames []Frame
		buf    []byte
		ends   []int
		f      Frame
	)
	for len(frames) < 2_000_000 {
		if err := src.ReadFrame(&f); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		buf = append(buf, f.Data...)
		ends = append(ends, len(buf))
		f.Data = nil
		frames = append(frames, f)
	}
	src.Close()
	start := 0
	for i, end := range ends {
		frames[i].Data = buf[start:end:end]
		start = end
	}
	if pps, _ := strconv.Atoi(os.Getenv("PASTMON_BENCH_PPS")); pps > 0 {
		// Packet times as a live capture at pps would stamp them.
		t0 := frames[0].TS
		for i := range frames {
			frames[i].TS = t0 + int64(i)*int64(time.Second)/int64(pps)
		}
	}
	span := frames[len(frames)-1].TS - frames[0].TS
	p, err := newPipeline(Config{})
	if err != nil {
		b.Fatal(err)
	}
	shift := span + int64(2*time.Minute)
	nap, napFor := benchNap(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	replay(b.N, p, frames, shift, 0, nap, napFor)
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if p.stats.Decoded == 0 {
		b.Fatal("nothing decoded")
	}
}

// replay feeds n frames to p, going round frames as often as needed with
// their times shifted by shift per round (the first round by round×shift),
// and sleeps napFor every nap frames when nap > 0.
func replay(n int, p *pipeline, frames []Frame, shift, round int64, nap int, napFor time.Duration) {
	var pkt packet.Packet
	for i := 0; i < n; i++ {
		if nap > 0 && i%nap == 0 {
			time.Sleep(napFor)
		}
		j := i % len(frames)
		if j == 0 && i > 0 {
			round++
		}
		f := frames[j]
		f.TS += round * shift
		p.frame(&f, &pkt)
	}
}

// benchNap parses PASTMON_BENCH_NAP (every N packets, sleep D: "N:D").
func benchNap(b *testing.B) (int, time.Duration) {
	v := os.Getenv("PASTMON_BENCH_NAP")
	if v == "" {
		return 0, 0
	}
	n, d, ok := strings.Cut(v, ":")
	every, err := strconv.Atoi(n)
	if err == nil && ok {
		var dur time.Duration
		if dur, err = time.ParseDuration(d); err == nil && every > 0 {
			return every, dur
		}
	}
	b.Fatalf("PASTMON_BENCH_NAP=%q: want N:D, such as 3000:16ms", v)
	return 0, 0
}

// cpuTime is the process's user and system time so far, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPortScan runs a SYN scan of 4 hosts × 65,536 ports through the
// pipeline (DESIGN's Limits) and reports the servers it makes (the target:
// one closed-ports bucket per host plus the 12 real servers) and the heap
// in use at its end, flow table included, before the connections end (the
// frames held in memory count in it too: about 60 MB).
func BenchmarkPortScan(b *testing.B) {
	var c synth.Capture
	scan := synth.Scan{Hosts: 4, Ports: 65536, Rate: 20000, Filtered: 8, Open: []int{22, 80, 5432}}
	scan.Add(&c, t0)
	var frames []Frame
	_ = c.Drain(func(f synth.Frame) error {
		frames = append(frames, Frame{TS: f.TS.UnixNano(), Link: packet.LinkEthernet, Data: f.Data, WireLen: len(f.Data)})
		return nil
	})
	var heap uint64
	servers := map[string]bool{}
	for b.Loop() {
		clear(servers)
		p, err := newPipeline(Config{OnWindow: func(s window.Summary) { servers[s.Server.String()] = true }})
		if err != nil {
			b.Fatal(err)
		}
		var pkt packet.Packet
		for i := range frames {
			p.frame(&frames[i], &pkt)
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heap = max(heap, m.HeapInuse)
		p.end(true)
	}
	b.ReportMetric(float64(len(servers)), "servers")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/packet")
}
