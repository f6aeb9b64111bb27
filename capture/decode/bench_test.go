package decode

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/packet"
)

// TestDecodeAllocs proves the per-packet path allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	for _, c := range goodCases(t) {
		var p packet.Packet
		if n := testing.AllocsPerRun(100, func() { Decode(c.link, c.f.data, &p) }); n != 0 {
			t.Errorf("%s: %v allocs per Decode, want 0", c.name, n)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		link uint16
		f    frame
	}{
		{"ethernet-ipv4-tcp-ts", packet.LinkEthernet, build(b, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 1448)},
		{"ethernet-ipv6-tcp-ts", packet.LinkEthernet, build(b, nil, L{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), dataTCP()}, 1428)},
		{"ethernet-vlan-ipv4-syn", packet.LinkEthernet, build(b, nil, L{eth(layers.EthernetTypeDot1Q), vlan(10, layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP()}, 0)},
		{"sll2-ipv4-tcp-ts", packet.LinkLinuxSLL2, build(b, sll2(0x0800), L{ip4(layers.IPProtocolTCP), dataTCP()}, 100)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var p packet.Packet
			b.ReportAllocs()
			for b.Loop() {
				if Decode(c.link, c.f.data, &p) != OK {
					b.Fatal("not ok")
				}
			}
		})
	}
}
