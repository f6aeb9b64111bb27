// Command scangen writes the capture of a SYN port scan for measuring what
// a scan costs pastmon (DESIGN's Limits): -hosts hosts, -ports ports of
// each from -from probed once from one scanner, as nmap -sS does. Closed
// ports answer with an RST, every -filtered-th port not at all; the open
// ports of each host (22, 80 and 5432) answer with a SYN/ACK, which the
// scanner resets. Before the scan, each open port serves a few real
// connections, so that the expected result is one closed-ports bucket
// (ip:*) per host plus the real servers:
//
//	go run ./bench/scangen -o scan.pcap     # 4 hosts × 65,536 ports
//	/usr/bin/time -v pastmon analyze scan.pcap
//	go run ./bench/scangen -o sweep.pcap -hosts 200000 -from 445 -ports 1
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp/synth"
)

const (
	syn    = packet.SYN
	synAck = packet.SYN | packet.ACK
	ack    = packet.ACK
	psh    = packet.PSH | packet.ACK
	fin    = packet.FIN | packet.ACK
	rst    = packet.RST | packet.ACK
)

var openPorts = []int{22, 80, 5432}

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
	start := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	for h := range min(*hosts, 4) {
		for _, port := range openPorts {
			for i := range 3 {
				real(&c, fmt.Sprintf("10.1.0.%d:%d", 10+i, 40000+h*10+port%7), host(h, port), start.Add(time.Duration(i)*time.Second))
			}
		}
	}
	scanStart := start.Add(10 * time.Second)
	gap := time.Second / time.Duration(*rate)
	n := 0
	for port := *from; port < *from+*ports; port++ {
		for h := range *hosts {
			at := scanStart.Add(time.Duration(n) * gap)
			probe(&c, n, h, port, at, *filtered)
			n++
		}
	}
	if err := c.WriteFile(*out); err != nil {
		slog.Error("scangen", "err", err)
		os.Exit(1)
	}
	fmt.Printf("%d frames, %d probes\n", len(c.Frames), n)
}

// host is the address of host h, from 10.0.0.1 up, and port.
func host(h, port int) string {
	a := 0x0a000001 + h
	return fmt.Sprintf("%d.%d.%d.%d:%d", a>>24, a>>16&255, a>>8&255, a&255, port)
}

// real is one connection with a handshake and one request/response turn.
func real(c *synth.Capture, client, server string, at time.Time) {
	k := c.Conn(client, server)
	ms := func(f float64) time.Time { return at.Add(time.Duration(f * float64(time.Millisecond))) }
	k.Send(ms(0), synth.Client, syn, 0)
	k.Send(ms(0.2), synth.Server, synAck, 0)
	k.Send(ms(0.4), synth.Client, ack, 0)
	k.Send(ms(1), synth.Client, psh, 100)
	k.Send(ms(3), synth.Server, psh, 1000)
	k.Send(ms(3.2), synth.Client, fin, 0)
	k.Send(ms(3.4), synth.Server, fin, 0)
	k.Send(ms(3.6), synth.Client, ack, 0)
}

// probe is the n-th probe of the scan: host h, port.
func probe(c *synth.Capture, n, h, port int, at time.Time, filtered int) {
	scanner := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.66"), uint16(33000+n%4))
	k := c.Conn(scanner.String(), host(h, port))
	k.ISN[synth.Client] = uint32(n) * 2654435761
	k.Send(at, synth.Client, syn, 0)
	switch {
	case slices.Contains(openPorts, port):
		k.Send(at.Add(200*time.Microsecond), synth.Server, synAck, 0)
		k.Send(at.Add(400*time.Microsecond), synth.Client, rst, 0)
	case filtered > 0 && port%filtered == filtered-1:
		// no answer
	default:
		k.Send(at.Add(200*time.Microsecond), synth.Server, rst, 0)
	}
}
