// Command scangen writes the capture of a SYN port scan for measuring what
// a scan costs pastmon (DESIGN's Limits); see synth.Scan. The expected
// result is one closed-ports bucket (ip:*) per host plus the real servers
// (ports 22, 80 and 5432 of the first four hosts):
//
//	go run ./bench/scangen -o scan.pcap     # 4 hosts × 65,536 ports
//	/usr/bin/time -v pastmon analyze scan.pcap
//	go run ./bench/scangen -o sweep.pcap -hosts 200000 -from 445 -ports 1
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pastmon/pastmon/capture/tcp/synth"
)

func main() {
	out := flag.String("o", "scan.pcap", "output pcap file")
	hosts := flag.Int("hosts", 4, "hosts scanned")
	ports := flag.Int("ports", 65536, "ports scanned per host")
	from := flag.Int("from", 0, "first port scanned")
	rate := flag.Int("rate", 20000, "probes per second")
	filtered := flag.Int("filtered", 8, "every n-th closed port does not answer (0: all answer)")
	flag.Parse()
	if *hosts < 1 || *hosts > 1<<20 || *ports < 1 || *from < 0 || *from+*ports > 65536 || *rate < 1 {
		slog.Error("scangen: -hosts 1..1048576, -from + -ports ≤ 65536, -rate ≥ 1")
		os.Exit(2)
	}
	var c synth.Capture
	scan := synth.Scan{Hosts: *hosts, Ports: *ports, From: *from, Rate: *rate, Filtered: *filtered, Open: []int{22, 80, 5432}}
	n := scan.Add(&c, time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC))
	if err := c.WriteFile(*out); err != nil {
		slog.Error("scangen", "err", err)
		os.Exit(1)
	}
	fmt.Printf("%d frames, %d probes\n", len(c.Frames), n)
}
