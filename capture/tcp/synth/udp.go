package synth

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// UDP adds a UDP datagram from src to dst ("ip:port", IPv4 or IPv6) with the
// given payload, at time at, on interface 0.
func (c *Capture) UDP(at time.Time, src, dst string, payload []byte) {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	if c.buf == nil {
		c.buf = gopacket.NewSerializeBuffer()
	}
	u := &layers.UDP{SrcPort: layers.UDPPort(s.Port()), DstPort: layers.UDPPort(d.Port())}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	if s.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
		_ = u.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
		_ = u.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(c.buf, opts, eth, ip, u, gopacket.Payload(payload)); err != nil {
		panic(fmt.Sprintf("synth: serialize: %v", err)) // only programming errors get here
	}
	c.add(at, 0, append([]byte(nil), c.buf.Bytes()...))
}
