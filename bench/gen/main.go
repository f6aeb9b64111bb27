// Command gen writes a large synthetic capture of realistic TCP traffic for
// bench/run.sh: many clients and servers, handshakes, request/response turns
// with multi-segment responses, TCP timestamps on most connections, clean
// closes. It is not a traffic simulator: see package synth.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pastmon/pastmon/capture/tcp/synth"
)

func main() {
	out := flag.String("o", "bench.pcap", "output pcap file")
	packets := flag.Int("packets", 1_200_000, "at least this many packets")
	batch := flag.Int("batch", 1000, "connections started per second of packet time")
	seed := flag.Uint64("seed", 1, "random seed")
	snaplen := flag.Int("snaplen", 128, "bytes of each frame kept, as a capture with a snap length")
	http := flag.Bool("http", false, "HTTP/1.1 payloads instead of zeros (for the protocol parsers)")
	flag.Parse()
	n, err := generate(*out, *packets, *batch, *snaplen, *seed, *http)
	if err != nil {
		slog.Error("gen", "err", err)
		os.Exit(1)
	}
	fmt.Println(n)
}

func generate(path string, want, batch, snaplen int, seed uint64, http bool) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	load := synth.Workload{Servers: 200, Clients: 20000, MaxTurns: 6, Seed: seed, HTTP: http}
	var c synth.Capture
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for n < want {
		end := load.Batch(&c, start, batch)
		err := c.Drain(func(fr synth.Frame) error {
			n++
			data := fr.Data[:min(len(fr.Data), snaplen)]
			ci := gopacket.CaptureInfo{Timestamp: fr.TS, CaptureLength: len(data), Length: len(fr.Data)}
			return w.WritePacket(ci, data)
		})
		if err != nil {
			return n, fmt.Errorf("write %s: %w", path, err)
		}
		start = end.Add(time.Millisecond)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, f.Close()
}
