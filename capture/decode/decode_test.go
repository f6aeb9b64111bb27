package decode

import (
	"bytes"
	"encoding/binary"
	"net"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/packet"
)

// frame is one test frame with what the builder says it contains.
type frame struct {
	data []byte
	hdr  int           // bytes up to the end of the TCP header (options included)
	want packet.Packet // as Decode must produce it, TS and Iface excluded
}

var (
	src4 = net.IP{192, 0, 2, 10}
	dst4 = net.IP{198, 51, 100, 20}
	src6 = net.ParseIP("2001:db8::10")
	dst6 = net.ParseIP("2001:db8:1::20")
)

// synTCP is a SYN with every option the decoder extracts.
func synTCP() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 0x01020304, Ack: 0, SYN: true, ECE: true, CWR: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0x12, 0x34, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
		},
	}
}

// dataTCP is an established-connection segment with timestamps only.
func dataTCP() *layers.TCP {
	return &layers.TCP{
		SrcPort: 443, DstPort: 40000, Seq: 0xfffffff0, Ack: 0x01020305, ACK: true, PSH: true, Window: 501,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0x12, 0x34}},
		},
	}
}

// bareTCP has no options at all.
func bareTCP() *layers.TCP {
	return &layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 7, Ack: 9, ACK: true, FIN: true, RST: false, URG: true, Window: 1}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src4, DstIP: dst4}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src6, DstIP: dst6}
}

// expectTCP derives the decoded form from the layers that built the frame.
func expectTCP(t testing.TB, ip gopacket.SerializableLayer, tc *layers.TCP, payload int) packet.Packet {
	t.Helper()
	p := packet.Packet{WScale: -1}
	switch ip := ip.(type) {
	case *layers.IPv4:
		copy(p.Src[:4], ip.SrcIP.To4())
		copy(p.Dst[:4], ip.DstIP.To4())
	case *layers.IPv6:
		p.V6 = true
		copy(p.Src[:], ip.SrcIP.To16())
		copy(p.Dst[:], ip.DstIP.To16())
	default:
		return p // no IP: nothing to expect
	}
	if tc == nil {
		return p
	}
	p.SrcPort, p.DstPort = uint16(tc.SrcPort), uint16(tc.DstPort)
	p.Seq, p.Ack, p.Window = tc.Seq, tc.Ack, tc.Window
	p.Data = testPayload(payload)
	for _, f := range []struct {
		on  bool
		bit uint8
	}{{tc.FIN, packet.FIN}, {tc.SYN, packet.SYN}, {tc.RST, packet.RST}, {tc.PSH, packet.PSH},
		{tc.ACK, packet.ACK}, {tc.URG, packet.URG}, {tc.ECE, packet.ECE}, {tc.CWR, packet.CWR}} {
		if f.on {
			p.Flags |= f.bit
		}
	}
	p.Payload = uint32(payload)
	for _, o := range tc.Options {
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			p.MSS = binary.BigEndian.Uint16(o.OptionData)
		case layers.TCPOptionKindWindowScale:
			p.WScale = int8(o.OptionData[0])
		case layers.TCPOptionKindSACKPermitted:
			p.SACKOK = true
		case layers.TCPOptionKindTimestamps:
			p.HasTS = true
			p.TSval = binary.BigEndian.Uint32(o.OptionData[0:4])
			p.TSecr = binary.BigEndian.Uint32(o.OptionData[4:8])
		}
	}
	return p
}

// build serializes link header bytes (for links gopacket cannot write),
// the layers and a payload of n bytes, and derives the expectation.
func build(t testing.TB, prefix []byte, ls []gopacket.SerializableLayer, n int) frame {
	t.Helper()
	var ip gopacket.SerializableLayer
	var tc *layers.TCP
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4, *layers.IPv6:
			if ip == nil {
				ip = l
			}
		case *layers.TCP:
			tc = l
			if err := l.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer)); err != nil {
				t.Fatal(err)
			}
		}
	}
	payload := testPayload(n)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, append(ls, gopacket.Payload(payload))...); err != nil {
		t.Fatal(err)
	}
	data := append(append([]byte(nil), prefix...), buf.Bytes()...)
	hdr := len(data) - n
	if _, ok := ls[0].(*layers.Ethernet); ok {
		// Ethernet pads short frames to 60 bytes: measure the header
		// without it by serializing what follows the Ethernet layer.
		inner := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(inner, opts, append(ls[1:], gopacket.Payload(payload))...); err != nil {
			t.Fatal(err)
		}
		hdr = len(prefix) + 14 + len(inner.Bytes()) - n
	}
	return frame{data: data, hdr: hdr, want: expectTCP(t, ip, tc, n)}
}

// testPayload is the payload of n bytes every test frame carries.
func testPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func sll(proto uint16) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:2], 0)   // packet to us
	binary.BigEndian.PutUint16(h[2:4], 1)   // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:6], 6)   // address length
	copy(h[6:12], []byte{2, 0, 0, 0, 0, 1}) // sender MAC
	binary.BigEndian.PutUint16(h[14:16], proto)
	return h
}

func sll2(proto uint16) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], proto)
	binary.BigEndian.PutUint32(h[4:8], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:10], 1)
	h[10] = 4 // outgoing
	h[11] = 6
	copy(h[12:18], []byte{2, 0, 0, 0, 0, 1})
	return h
}

func family(v uint32, order binary.AppendByteOrder) []byte {
	return order.AppendUint32(nil, v)
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
}

func vlan(id uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: next}
}

type L = []gopacket.SerializableLayer

// goodCases are frames that decode to OK (or Fragment, see want reason).
func goodCases(t testing.TB) []struct {
	name string
	link uint16
	f    frame
} {
	v4 := func() L { return L{ip4(layers.IPProtocolTCP), synTCP()} }
	v6 := func() L { return L{ip6(layers.IPProtocolTCP), dataTCP()} }
	type c = struct {
		name string
		link uint16
		f    frame
	}
	return []c{
		{"ethernet/ipv4/syn", packet.LinkEthernet, build(t, nil, append(L{eth(layers.EthernetTypeIPv4)}, v4()...), 0)},
		{"ethernet/ipv4/data", packet.LinkEthernet, build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 1200)},
		{"ethernet/ipv4/bare", packet.LinkEthernet, build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), bareTCP()}, 3)},
		{"ethernet/ipv6", packet.LinkEthernet, build(t, nil, append(L{eth(layers.EthernetTypeIPv6)}, v6()...), 100)},
		{"802.1q/ipv4", packet.LinkEthernet, build(t, nil, append(L{eth(layers.EthernetTypeDot1Q), vlan(10, layers.EthernetTypeIPv4)}, v4()...), 10)},
		{"802.1ad+802.1q/ipv6", packet.LinkEthernet, build(t, nil, append(L{eth(layers.EthernetTypeQinQ), vlan(100, layers.EthernetTypeDot1Q), vlan(10, layers.EthernetTypeIPv6)}, v6()...), 10)},
		{"0x9100+0x9100+802.1q/ipv4", packet.LinkEthernet, build(t, nil, append(L{eth(0x9100), vlan(1, 0x9100), vlan(2, layers.EthernetTypeDot1Q), vlan(3, layers.EthernetTypeIPv4)}, v4()...), 10)},
		{"sll/ipv4", packet.LinkLinuxSLL, build(t, sll(0x0800), v4(), 5)},
		{"sll/ipv6", packet.LinkLinuxSLL, build(t, sll(0x86dd), v6(), 5)},
		{"sll/802.1q/ipv4", packet.LinkLinuxSLL, build(t, sll(0x8100), append(L{vlan(7, layers.EthernetTypeIPv4)}, v4()...), 5)},
		{"sll2/ipv4", packet.LinkLinuxSLL2, build(t, sll2(0x0800), v4(), 5)},
		{"sll2/ipv6", packet.LinkLinuxSLL2, build(t, sll2(0x86dd), v6(), 5)},
		{"raw101/ipv4", packet.LinkRaw, build(t, nil, v4(), 1)},
		{"raw101/ipv6", packet.LinkRaw, build(t, nil, v6(), 1)},
		{"raw12/ipv4", 12, build(t, nil, v4(), 1)},
		{"raw14/ipv6", 14, build(t, nil, v6(), 1)},
		{"ipv4-link", packet.LinkIPv4, build(t, nil, v4(), 1)},
		{"ipv6-link", packet.LinkIPv6, build(t, nil, v6(), 1)},
		{"null/le/ipv4", packet.LinkNull, build(t, family(2, binary.LittleEndian), v4(), 2)},
		{"null/be/ipv4", packet.LinkNull, build(t, family(2, binary.BigEndian), v4(), 2)},
		{"null/le/ipv6-24", packet.LinkNull, build(t, family(24, binary.LittleEndian), v6(), 2)},
		{"null/le/ipv6-28", packet.LinkNull, build(t, family(28, binary.LittleEndian), v6(), 2)},
		{"null/le/ipv6-30", packet.LinkNull, build(t, family(30, binary.LittleEndian), v6(), 2)},
		{"null/be/ipv6-30", packet.LinkNull, build(t, family(30, binary.BigEndian), v6(), 2)},
		{"null/gopacket-loopback", packet.LinkNull, build(t, nil, append(L{&layers.Loopback{Family: layers.ProtocolFamilyIPv4}}, v4()...), 2)},
		{"loop/be/ipv4", packet.LinkLoop, build(t, family(2, binary.BigEndian), v4(), 2)},
		{"loop/be/ipv6-24", packet.LinkLoop, build(t, family(24, binary.BigEndian), v6(), 2)},
		{"loop/le/ipv6-28", packet.LinkLoop, build(t, family(28, binary.LittleEndian), v6(), 2)},
		{"ipv4-options", packet.LinkEthernet, build(t, nil, L{eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolTCP, SrcIP: src4, DstIP: dst4, Options: []layers.IPv4Option{
				{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}, // router alert
				{OptionType: 1},
				{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}, // record route
			}}, dataTCP()}, 77)},
		{"ipv6-hop-by-hop", packet.LinkRaw, build(t, nil, L{
			&layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: src6, DstIP: dst6,
				HopByHop: hopByHop(layers.IPProtocolTCP)},
			synTCP()}, 0)},
		{"ipv6-dest-routing-dest", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolIPv6Destination),
			destOpts(layers.IPProtocolIPv6Routing, 12),
			routing(layers.IPProtocolIPv6Destination),
			destOpts(layers.IPProtocolTCP, 4),
			dataTCP()}, 500)},
		{"ipv6-atomic-fragment", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolIPv6Fragment),
			&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, Identification: 99}, dataTCP()}, 9)},
		{"ipv6-ah", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolAH), ah(layers.IPProtocolTCP, 12), dataTCP()}, 9)},
	}
}

func hopByHop(next layers.IPProtocol) *layers.IPv6HopByHop {
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 0x1e, OptionData: []byte{0, 0, 0, 0}}}}
	h.NextHeader = next
	return h
}

func destOpts(next layers.IPProtocol, n int) *layers.IPv6Destination {
	d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: make([]byte, n)}}}
	d.NextHeader = next
	return d
}

func routing(next layers.IPProtocol) *layers.IPv6Routing {
	r := &layers.IPv6Routing{RoutingType: 0, SegmentsLeft: 0, Reserved: make([]byte, 4), SourceRoutingIPs: []net.IP{net.ParseIP("2001:db8::99")}}
	r.NextHeader = next
	return r
}

// ahLayer writes an IPsec AH header, which gopacket cannot serialize:
// next header, length in 4-byte units minus 2, reserved, SPI, sequence, ICV.
type ahLayer struct {
	next layers.IPProtocol
	icv  int
}

func ah(next layers.IPProtocol, icv int) *ahLayer { return &ahLayer{next, icv} }

func (a *ahLayer) LayerType() gopacket.LayerType { return layers.LayerTypeIPSecAH }
func (a *ahLayer) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	h, err := b.PrependBytes(12 + a.icv)
	if err != nil {
		return err
	}
	clear(h)
	h[0] = byte(a.next)
	h[1] = byte((12+a.icv)/4 - 2)
	binary.BigEndian.PutUint32(h[4:8], 0x1000)
	binary.BigEndian.PutUint32(h[8:12], 1)
	return nil
}

func decodeFresh(link uint16, data []byte) (packet.Packet, Reason) {
	var p packet.Packet
	r := Decode(link, data, &p)
	return p, r
}

func TestDecodeGood(t *testing.T) {
	for _, c := range goodCases(t) {
		t.Run(c.name, func(t *testing.T) {
			// Start from a packet full of another packet's values: Decode
			// must reset all of them but TS and Iface.
			p := dirty()
			r := Decode(c.link, c.f.data, &p)
			if r != OK {
				t.Fatalf("reason %v, want ok", r)
			}
			want := c.f.want
			want.TS, want.Iface = 42, 3
			if !same(p, want) {
				t.Fatalf("decoded\n %+v\nwant\n %+v", p, want)
			}
		})
	}
}

func dirty() packet.Packet {
	return packet.Packet{TS: 42, Iface: 3, V6: true, Fragment: true, Src: [16]byte{1, 2, 3}, Dst: [16]byte{4, 5, 6},
		SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: 0xff, Window: 5, Payload: 6, HasTS: true, TSval: 7, TSecr: 8,
		MSS: 9, WScale: 10, SACKOK: true}
}

// TestDecodeTruncated cuts every good frame at every byte offset: below
// the end of the TCP header the result is Truncated, from there on the
// decoded packet is the whole one, payload length included.
func TestDecodeTruncated(t *testing.T) {
	for _, c := range goodCases(t) {
		t.Run(c.name, func(t *testing.T) {
			for n := 0; n <= len(c.f.data); n++ {
				p, r := decodeFresh(c.link, c.f.data[:n])
				if n < c.f.hdr {
					if r != Truncated {
						t.Fatalf("cut at %d of %d (header %d): reason %v, want truncated", n, len(c.f.data), c.f.hdr, r)
					}
					continue
				}
				want := c.f.want
				want.Data = want.Data[:min(len(want.Data), n-c.f.hdr)]
				if r != OK || !same(p, want) {
					t.Fatalf("cut at %d (header %d): reason %v, decoded %+v, want %+v", n, c.f.hdr, r, p, c.f.want)
				}
			}
		})
	}
}

// patch returns a copy of data with f applied.
func patch(data []byte, f func(b []byte)) []byte {
	b := append([]byte(nil), data...)
	f(b)
	return b
}

func TestDecodeReasons(t *testing.T) {
	const ethLen = 14
	v4 := build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 100)
	v6 := build(t, nil, L{ip6(layers.IPProtocolTCP), dataTCP()}, 100)
	udp := &layers.UDP{SrcPort: 53, DstPort: 53}
	udpFrame := func() frame {
		ip := ip4(layers.IPProtocolUDP)
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return build(t, nil, L{eth(layers.EthernetTypeIPv4), ip, udp}, 10)
	}()
	arp := build(t, nil, L{eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: make([]byte, 6), SourceProtAddress: src4.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: dst4.To4()}}, 0)

	fragIP := func(flags layers.IPv4Flag, off uint16, proto layers.IPProtocol) frame {
		ip := ip4(proto)
		ip.Flags, ip.FragOffset = flags, off
		if proto == layers.IPProtocolTCP {
			return build(t, nil, L{eth(layers.EthernetTypeIPv4), ip, dataTCP()}, 64)
		}
		return build(t, nil, L{eth(layers.EthernetTypeIPv4), ip}, 64)
	}
	frag6 := func(off uint16, more bool, next layers.IPProtocol) frame {
		return build(t, nil, L{ip6(layers.IPProtocolIPv6Fragment),
			&layers.IPv6Fragment{NextHeader: next, FragmentOffset: off, MoreFragments: more, Identification: 7}}, 64)
	}
	// The address fields a Fragment result carries.
	fragWant4 := func() packet.Packet {
		p := packet.Packet{WScale: -1, Fragment: true}
		copy(p.Src[:4], src4.To4())
		copy(p.Dst[:4], dst4.To4())
		return p
	}
	fragWant6 := func() packet.Packet {
		p := packet.Packet{WScale: -1, Fragment: true, V6: true}
		copy(p.Src[:], src6)
		copy(p.Dst[:], dst6)
		return p
	}

	cases := []struct {
		name   string
		link   uint16
		data   []byte
		reason Reason
		check  func(t *testing.T, p packet.Packet)
	}{
		{"unknown link", 9999, v4.data, UnknownLink, nil},
		{"arp", packet.LinkEthernet, arp.data, NotIP, nil},
		{"802.3 length field", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[12], b[13] = 0x05, 0xdc }), NotIP, nil},
		{"raw link, version 5", packet.LinkRaw, patch(v6.data, func(b []byte) { b[0] = 0x50 }), NotIP, nil},
		{"loopback family 17", packet.LinkNull, family(17, binary.LittleEndian), NotIP, nil},
		{"udp", packet.LinkEthernet, udpFrame.data, UDP, nil},
		{"ipv6 esp", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolESP)}, 40).data, NotTCP, nil},
		{"ipv6 no next header", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolNoNextHeader)}, 0).data, NotTCP, nil},
		{"ipv6 dest opts then udp", packet.LinkRaw, build(t, nil, L{ip6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP, 4)}, 8).data, UDP, nil},
		{"ipv4 in ethernet claiming v6", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[ethLen] = 0x65 }), BadIPHeader, nil},
		{"ipv6 link with ipv4", packet.LinkIPv6, v4.data[ethLen:], BadIPHeader, nil},
		{"ipv4 link with ipv6", packet.LinkIPv4, v6.data, BadIPHeader, nil},
		{"ipv4 ihl 4", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[ethLen] = 0x44 }), BadIPHeader, nil},
		{"ipv4 total length below ihl", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[ethLen+2], b[ethLen+3] = 0, 19 }), BadIPHeader, nil},
		{"ipv6 ext header beyond payload length", packet.LinkRaw,
			patch(build(t, nil, L{ip6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolTCP, 4), dataTCP()}, 0).data,
				func(b []byte) { b[4], b[5] = 0, 4 }), BadIPHeader, nil},
		{"tcp data offset 4", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[ethLen+20+12] = 0x40 }), BadTCPHeader, nil},
		{"tcp header beyond ip total length", packet.LinkEthernet, patch(v4.data, func(b []byte) { b[ethLen+2], b[ethLen+3] = 0, 20+20 }), BadTCPHeader, nil},
		{"ipv4 first fragment", packet.LinkEthernet, fragIP(layers.IPv4MoreFragments, 0, layers.IPProtocolTCP).data, Fragment,
			func(t *testing.T, p packet.Packet) { eq(t, p, fragWant4()) }},
		{"ipv4 last fragment", packet.LinkEthernet, fragIP(0, 185, layers.IPProtocolTCP).data, Fragment,
			func(t *testing.T, p packet.Packet) { eq(t, p, fragWant4()) }},
		{"ipv4 udp fragment", packet.LinkEthernet, fragIP(layers.IPv4MoreFragments, 0, layers.IPProtocolUDP).data, NotTCP, nil},
		{"ipv4 don't fragment is no fragment", packet.LinkEthernet, fragIP(layers.IPv4DontFragment, 0, layers.IPProtocolTCP).data, OK, nil},
		{"ipv6 first fragment", packet.LinkRaw, frag6(0, true, layers.IPProtocolTCP).data, Fragment,
			func(t *testing.T, p packet.Packet) { eq(t, p, fragWant6()) }},
		{"ipv6 middle fragment", packet.LinkRaw, frag6(100, true, layers.IPProtocolTCP).data, Fragment,
			func(t *testing.T, p packet.Packet) { eq(t, p, fragWant6()) }},
		{"ipv6 last fragment", packet.LinkRaw, frag6(100, false, layers.IPProtocolTCP).data, Fragment, nil},
		{"ipv6 udp fragment", packet.LinkRaw, frag6(100, false, layers.IPProtocolUDP).data, NotTCP, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, r := decodeFresh(c.link, c.data)
			if r != c.reason {
				t.Fatalf("reason %v, want %v", r, c.reason)
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func eq(t *testing.T, got, want packet.Packet) {
	t.Helper()
	if !same(got, want) {
		t.Fatalf("decoded\n %+v\nwant\n %+v", got, want)
	}
}

// same compares two packets, the payload bytes by content.
func same(a, b packet.Packet) bool {
	if !bytes.Equal(a.Data, b.Data) {
		return false
	}
	a.Data, b.Data = nil, nil
	return reflect.DeepEqual(a, b)
}

// TestDecodePayloadFromIPHeader checks that the payload length comes from
// the IP header: a snaplen cut keeps it, a TSO frame (total length 0) falls
// back to the captured bytes, and Ethernet padding does not count.
func TestDecodePayloadFromIPHeader(t *testing.T) {
	const ethLen = 14
	v4 := build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 1448)
	v6 := build(t, nil, L{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), dataTCP()}, 1428)
	big := build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 20000)
	ack := build(t, nil, L{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), dataTCP()}, 0)
	cases := []struct {
		name string
		data []byte
		want uint32
	}{
		{"ipv4 snaplen 96", v4.data[:96], 1448},
		{"ipv4 cut right after tcp header", v4.data[:v4.hdr], 1448},
		{"ipv6 snaplen 96", v6.data[:96], 1428},
		{"ipv4 tso total length 0", patch(big.data, func(b []byte) { b[ethLen+2], b[ethLen+3] = 0, 0 }), 20000},
		{"ipv6 tso payload length 0", patch(build(t, nil, L{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), dataTCP()}, 3000).data,
			func(b []byte) { b[ethLen+4], b[ethLen+5] = 0, 0 }), 3000},
		{"ethernet padding", append(append([]byte(nil), ack.data...), 0, 0, 0, 0, 0, 0), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, r := decodeFresh(packet.LinkEthernet, c.data)
			if r != OK {
				t.Fatalf("reason %v", r)
			}
			if p.Payload != c.want {
				t.Fatalf("payload %d, want %d", p.Payload, c.want)
			}
		})
	}
}

// TestDecodeBadOptions: an impossible option length stops option parsing
// but keeps what came before and the segment itself.
func TestDecodeBadOptions(t *testing.T) {
	tc := &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 3, ACK: true, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x23, 0x28}},
		{OptionType: layers.TCPOptionKindSACKPermitted},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}},
	}}
	f := build(t, nil, L{ip4(layers.IPProtocolTCP), tc}, 10)
	const opt = 20 + 20 // options start
	full := f.want
	mssOnly := full
	mssOnly.SACKOK, mssOnly.HasTS, mssOnly.TSval, mssOnly.TSecr = false, false, 0, 0
	sackToo := mssOnly
	sackToo.SACKOK = true
	none := full
	none.MSS, none.SACKOK, none.HasTS, none.TSval, none.TSecr = 0, false, false, 0, 0
	wscale := full
	wscale.MSS, wscale.WScale = 0, 14
	cases := []struct {
		name string
		mod  func(b []byte)
		want packet.Packet
	}{
		{"intact", func([]byte) {}, full},
		{"sack-permitted length 0", func(b []byte) { b[opt+5] = 0 }, mssOnly},
		{"sack-permitted length 1", func(b []byte) { b[opt+5] = 1 }, mssOnly},
		{"timestamps length past header", func(b []byte) { b[opt+7] = 40 }, sackToo},
		{"timestamps wrong length 6 skipped", func(b []byte) { b[opt+7] = 6 }, sackToo},
		// MSS of length 3 is skipped; the walk lands on 0x28 (kind 40,
		// length 4), then on the timestamps length byte 10 read as a kind
		// with length 0: impossible, stop.
		{"mss length 3 derails the walk", func(b []byte) { b[opt+1] = 3 }, none},
		{"window scale 20 means 14", func(b []byte) { b[opt], b[opt+1], b[opt+2], b[opt+3] = 3, 3, 20, 1 }, wscale},
		{"end of options first", func(b []byte) { b[opt] = 0 }, none},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, r := decodeFresh(packet.LinkRaw, patch(f.data, c.mod))
			if r != OK {
				t.Fatalf("reason %v", r)
			}
			eq(t, p, c.want)
		})
	}
}
