package synth

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
)

// Scan generates a SYN port scan (nmap -sS) from one scanner: Hosts hosts
// from 10.0.0.1 up, Ports ports of each from From, probed once each, Rate
// probes per second, the hosts in turn for every port. Closed ports answer
// with an RST, every Filtered-th port not at all (0: all answer); the Open
// ports answer with a SYN/ACK, which the scanner resets. Before the scan,
// each open port of the first four hosts serves three real connections
// (handshake, one turn, close), so that a monitor should report one
// closed-ports bucket per host plus those real servers.
type Scan struct {
	Hosts, Ports, From int
	Rate               int
	Filtered           int
	Open               []int
}

// Add adds the scan, starting at start, and returns the number of probes.
func (s Scan) Add(c *Capture, start time.Time) int {
	for h := range min(s.Hosts, 4) {
		for _, port := range s.Open {
			for i := range 3 {
				scanReal(c, fmt.Sprintf("10.1.0.%d:%d", 10+i, 40000+h*10+port%7), scanHost(h, port), start.Add(time.Duration(i)*time.Second))
			}
		}
	}
	at := start.Add(10 * time.Second)
	gap := time.Second / time.Duration(max(s.Rate, 1))
	n := 0
	for port := s.From; port < s.From+s.Ports; port++ {
		for h := range s.Hosts {
			s.probe(c, n, h, port, at.Add(time.Duration(n)*gap))
			n++
		}
	}
	return n
}

// scanHost is the address of host h, from 10.0.0.1 up, and port.
func scanHost(h, port int) string {
	a := 0x0a000001 + h
	return fmt.Sprintf("%d.%d.%d.%d:%d", a>>24, a>>16&255, a>>8&255, a&255, port)
}

// scanReal is one connection with a handshake and one request/response turn.
func scanReal(c *Capture, client, server string, at time.Time) {
	k := c.Conn(client, server)
	ms := func(f float64) time.Time { return at.Add(time.Duration(f * float64(time.Millisecond))) }
	k.Send(ms(0), Client, packet.SYN, 0)
	k.Send(ms(0.2), Server, packet.SYN|packet.ACK, 0)
	k.Send(ms(0.4), Client, ack, 0)
	k.Send(ms(1), Client, pshAck, 100)
	k.Send(ms(3), Server, pshAck, 1000)
	k.Send(ms(3.2), Client, finAck, 0)
	k.Send(ms(3.4), Server, finAck, 0)
	k.Send(ms(3.6), Client, ack, 0)
}

// probe is the n-th probe of the scan: host h, port.
func (s Scan) probe(c *Capture, n, h, port int, at time.Time) {
	scanner := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 66}), uint16(33000+n%4))
	k := c.Conn(scanner.String(), scanHost(h, port))
	k.ISN[Client] = uint32(n) * 2654435761
	k.Send(at, Client, packet.SYN, 0)
	switch {
	case slices.Contains(s.Open, port):
		k.Send(at.Add(200*time.Microsecond), Server, packet.SYN|packet.ACK, 0)
		k.Send(at.Add(400*time.Microsecond), Client, packet.RST|packet.ACK, 0)
	case s.Filtered > 0 && port%s.Filtered == s.Filtered-1:
		// no answer
	default:
		k.Send(at.Add(200*time.Microsecond), Server, packet.RST|packet.ACK, 0)
	}
}
