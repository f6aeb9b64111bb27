package filter

import (
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/net/bpf"
)

// l3 is a network-layer packet and its ethertype.
type l3 struct {
	etype layers.EthernetType
	data  []byte
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

// testPackets are built so that each expression of TestCompiledPrograms has
// a known answer:
//
//	tcp4   10.0.0.1:1234 > 10.0.0.2:80 TCP, IPv4 header with options (24 bytes)
//	udp4   192.168.1.5:53 > 10.0.0.1:5353 UDP
//	frag4  10.0.0.1 > 10.0.0.2 UDP, a later fragment whose first bytes read as ports 80 > 80
//	tcp6   fd00::1:40000 > fd00::2:443 TCP
//	frag6  fd00::1 > fd00::2, fragment header, then UDP 53 > 53
//	icmp4  10.0.0.2 > 10.0.0.1 ICMP echo reply
//	arp    who-has 10.0.0.2 tell 10.0.0.1
func testPackets(t testing.TB) map[string]l3 {
	t.Helper()
	withOpts := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frag := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	frag.FragOffset = 185
	fakePorts := gopacket.Payload([]byte{0, 80, 0, 80, 0, 8, 0, 0, 1, 2, 3, 4})
	f6 := ip6("fd00::1", "fd00::2", layers.IPProtocolIPv6Fragment)
	hdr6 := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, Identification: 7}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}}
	udp := func(src, dst layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: src, DstPort: dst} }
	udp4 := ip4("192.168.1.5", "10.0.0.1", layers.IPProtocolUDP)
	u4 := udp(53, 5353)
	_ = u4.SetNetworkLayerForChecksum(udp4)
	tcp4 := &layers.TCP{SrcPort: 1234, DstPort: 80, SYN: true, Window: 1000}
	_ = tcp4.SetNetworkLayerForChecksum(withOpts)
	v6 := ip6("fd00::1", "fd00::2", layers.IPProtocolTCP)
	tcp6 := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, Window: 1000}
	_ = tcp6.SetNetworkLayerForChecksum(v6)
	return map[string]l3{
		"tcp4":  {layers.EthernetTypeIPv4, serialize(t, withOpts, tcp4)},
		"udp4":  {layers.EthernetTypeIPv4, serialize(t, udp4, u4, gopacket.Payload("x"))},
		"frag4": {layers.EthernetTypeIPv4, serialize(t, frag, fakePorts)},
		"tcp6":  {layers.EthernetTypeIPv6, serialize(t, v6, tcp6)},
		"frag6": {layers.EthernetTypeIPv6, serialize(t, f6, hdr6, gopacket.Payload([]byte{0, 53, 0, 53, 0, 8, 0, 0}))},
		"icmp4": {layers.EthernetTypeIPv4, serialize(t, ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)})},
		"arp": {layers.EthernetTypeARP, serialize(t, arp)},
	}
}

// frameFor wraps a network-layer packet in the link header of link; ok is
// false when the link type cannot carry it.
func frameFor(link uint16, p l3, bigEndianNull bool) ([]byte, bool) {
	isIP := p.etype == layers.EthernetTypeIPv4 || p.etype == layers.EthernetTypeIPv6
	switch link {
	case packet.LinkEthernet:
		eth := make([]byte, 14)
		copy(eth, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(eth[12:], uint16(p.etype))
		return append(eth, p.data...), true
	case packet.LinkLinuxSLL:
		sll := make([]byte, 16)
		binary.BigEndian.PutUint16(sll[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(sll[4:], 6)
		binary.BigEndian.PutUint16(sll[14:], uint16(p.etype))
		return append(sll, p.data...), true
	case packet.LinkLinuxSLL2:
		sll2 := make([]byte, 20)
		binary.BigEndian.PutUint16(sll2[0:], uint16(p.etype))
		binary.BigEndian.PutUint16(sll2[8:], 1)
		return append(sll2, p.data...), true
	case packet.LinkRaw, 12, 14:
		return p.data, isIP
	case packet.LinkIPv4:
		return p.data, p.etype == layers.EthernetTypeIPv4
	case packet.LinkIPv6:
		return p.data, p.etype == layers.EthernetTypeIPv6
	case packet.LinkNull, packet.LinkLoop:
		af := uint32(2)
		if p.etype == layers.EthernetTypeIPv6 {
			af = 24
		}
		hdr := binary.LittleEndian.AppendUint32(nil, af)
		if link == packet.LinkLoop || bigEndianNull {
			hdr = binary.BigEndian.AppendUint32(nil, af)
		}
		return append(hdr, p.data...), isIP
	}
	return nil, false
}

var allLinks = []uint16{packet.LinkEthernet, packet.LinkLinuxSLL, packet.LinkLinuxSLL2, packet.LinkRaw, 12, 14,
	packet.LinkIPv4, packet.LinkIPv6, packet.LinkNull, packet.LinkLoop}

// TestCompiledPrograms runs the compiled programs in bpf.VM over the test
// packets on every link type. want lists the packets each expression
// accepts, worked out by hand from the packets' contents.
func TestCompiledPrograms(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"", "arp frag4 frag6 icmp4 tcp4 tcp6 udp4"},
		{"host 10.0.0.1", "arp frag4 icmp4 tcp4 udp4"},
		{"src host 10.0.0.1", "arp frag4 tcp4"},
		{"dst host 10.0.0.2", "arp frag4 tcp4"},
		{"ip host 10.0.0.1", "frag4 icmp4 tcp4 udp4"},
		{"arp host 10.0.0.2", "arp"},
		{"src and dst net 10.0.0.0/8", "arp frag4 icmp4 tcp4"},
		{"host fd00::2", "frag6 tcp6"},
		{"src host fd00::2", ""},
		{"net 192.168.0.0/16", "udp4"},
		{"net 192.168 or fd00::/8", "frag6 tcp6 udp4"},
		{"net fd00::/8", "frag6 tcp6"},
		{"port 80", "tcp4"},         // frag4 carries "80" only in a later fragment
		{"port 53", "udp4"},         // frag6's UDP sits behind a fragment header
		{"udp", "frag4 frag6 udp4"}, // the fragment header is looked through
		{"udp and not port 53", "frag4 frag6"},
		{"tcp", "tcp4 tcp6"},
		{"icmp", "icmp4"},
		{"icmp6", ""},
		{"sctp", ""},
		{"ip", "frag4 icmp4 tcp4 udp4"},
		{"ip6", "frag6 tcp6"},
		{"arp", "arp"},
		{"not ip and not ip6", "arp"},
		{"portrange 440-450", "tcp6"},
		{"tcp dst portrange 1-1023", "tcp4 tcp6"},
		{"udp dst portrange 1-1023", ""},
		{"src port 1234 or 40000", "tcp4 tcp6"},
		{"dst port 5353 and src port 53", "udp4"},
		{"src or dst port 443", "tcp6"},
		{"tcp or icmp and host 10.0.0.1", "icmp4 tcp4"},
		{"not (tcp or udp)", "arp icmp4"},
	}
	pkts := testPackets(t)
	for _, link := range allLinks {
		for _, bigNull := range []bool{false, true} {
			if bigNull && link != packet.LinkNull {
				continue
			}
			for _, tt := range tests {
				t.Run(fmt.Sprintf("link%d/%s", link, tt.expr), func(t *testing.T) {
					prog, err := Compile(tt.expr, link, 1500)
					if err != nil {
						t.Fatal(err)
					}
					checkProgram(t, prog)
					vm, err := bpf.NewVM(prog)
					if err != nil {
						t.Fatal(err)
					}
					var got, want []string
					for name, p := range pkts {
						frame, ok := frameFor(link, p, bigNull)
						if !ok {
							continue
						}
						if strings.Contains(" "+tt.want+" ", " "+name+" ") {
							want = append(want, name)
						}
						n, err := vm.Run(frame)
						if err != nil {
							t.Fatal(err)
						}
						if n != 0 && n != 1500 {
							t.Errorf("%s: program returned %d, want 0 or the snaplen", name, n)
						}
						if n > 0 {
							got = append(got, name)
						}
					}
					sort.Strings(got)
					sort.Strings(want)
					if strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("accepted [%s], want [%s]", strings.Join(got, " "), strings.Join(want, " "))
					}
				})
			}
		}
	}
}

// checkProgram checks what the kernel requires of a classic BPF program.
func checkProgram(t testing.TB, prog []bpf.Instruction) {
	t.Helper()
	if len(prog) == 0 || len(prog) > 4096 {
		t.Fatalf("program of %d instructions", len(prog))
	}
	switch prog[len(prog)-1].(type) {
	case bpf.RetConstant, bpf.RetA:
	default:
		t.Fatalf("program ends with %v", prog[len(prog)-1])
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("assemble: %v", err)
	}
	for i, ins := range prog {
		switch j := ins.(type) {
		case bpf.JumpIf:
			if i+1+int(j.SkipTrue) >= len(prog) || i+1+int(j.SkipFalse) >= len(prog) {
				t.Fatalf("instruction %d (%v) jumps past the end", i, ins)
			}
		case bpf.Jump:
			if i+1+int(j.Skip) >= len(prog) {
				t.Fatalf("instruction %d (%v) jumps past the end", i, ins)
			}
		}
	}
}

// tagged puts 802.1Q/802.1ad tags (outermost first) in front of an
// Ethernet payload.
func tagged(t testing.TB, p l3, tags ...struct {
	tpid layers.EthernetType
	vid  uint16
}) []byte {
	t.Helper()
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	for _, tag := range tags {
		eth = binary.BigEndian.AppendUint16(eth, uint16(tag.tpid))
		eth = binary.BigEndian.AppendUint16(eth, 5<<13|tag.vid) // priority 5: the id test must mask it
	}
	eth = binary.BigEndian.AppendUint16(eth, uint16(p.etype))
	return append(eth, p.data...)
}

func TestVLAN(t *testing.T) {
	type tag = struct {
		tpid layers.EthernetType
		vid  uint16
	}
	pkts := testPackets(t)
	frames := map[string][]byte{
		"plain4": frameOrDie(t, packet.LinkEthernet, pkts["tcp4"]),
		"v100":   tagged(t, pkts["tcp4"], tag{layers.EthernetTypeDot1Q, 100}),
		"qinq":   tagged(t, pkts["tcp6"], tag{layers.EthernetTypeQinQ, 200}, tag{layers.EthernetTypeDot1Q, 300}),
		"q9100":  tagged(t, pkts["udp4"], tag{0x9100, 7}),
	}
	tests := []struct {
		expr, want string
	}{
		{"vlan", "q9100 qinq v100"},
		{"vlan 100", "v100"},
		{"vlan 300", ""},
		{"tcp", "plain4"}, // tcpdump does not look behind a tag without vlan
		{"ip", "plain4"},
		{"vlan and tcp", "v100"},
		{"vlan and ip and port 80", "v100"},
		{"vlan and host 10.0.0.1", "q9100 v100"}, // q9100 carries udp4, to 10.0.0.1
		{"vlan 200 and vlan 300 and ip6", "qinq"},
		{"vlan and vlan and tcp", "qinq"},
		{"vlan and vlan 300", "qinq"},
		{"vlan 7 and udp port 53", "q9100"},
		{"ip or vlan", "plain4 q9100 qinq v100"},
		// After vlan every test looks 4 bytes further, also in "or".
		{"vlan or tcp", "q9100 qinq v100"},
		{"not vlan and tcp", ""},
		{"tcp and not vlan", "plain4"},
	}
	for _, tt := range tests {
		m, err := NewMatcher(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for name, f := range frames {
			ok, err := m.Match(packet.LinkEthernet, f)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got = append(got, name)
			}
		}
		sort.Strings(got)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q accepted [%s], want [%s]", tt.expr, strings.Join(got, " "), tt.want)
		}
	}
	for _, link := range allLinks[1:] {
		if _, err := Compile("tcp or vlan", link, 100); err == nil || !strings.Contains(err.Error(), "vlan is not supported") {
			t.Errorf("vlan on link type %d: error %v", link, err)
		}
	}
}

func frameOrDie(t testing.TB, link uint16, p l3) []byte {
	t.Helper()
	f, ok := frameFor(link, p, false)
	if !ok {
		t.Fatalf("link type %d cannot carry %v", link, p.etype)
	}
	return f
}

// TestTruncated follows BPF: a load past the captured bytes rejects the
// packet at once, whatever not or or would have made of the test.
func TestTruncated(t *testing.T) {
	full := frameOrDie(t, packet.LinkEthernet, testPackets(t)["tcp4"])
	cut := full[:14+24+2] // IPv4 header with options and the source port only
	tests := []struct {
		expr string
		want bool
	}{
		{"src port 1234", true},
		{"src port 1", false},
		{"dst port 80", false},
		{"not dst port 81", false},
		{"port 1234", true}, // the source port matches before the destination is read
		{"port 1 or host 10.0.0.1", false},
		{"host 10.0.0.1 or port 1", true},
		{"tcp", true},
		{"not udp", true},
	}
	for _, tt := range tests {
		m, err := NewMatcher(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Match(packet.LinkEthernet, cut)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%q on a truncated packet = %v, want %v", tt.expr, got, tt.want)
		}
	}
	for _, n := range []int{0, 1, 13} {
		m, _ := NewMatcher("not port 80")
		if ok, err := m.Match(packet.LinkEthernet, full[:n]); ok || err != nil {
			t.Errorf("%d-byte frame: %v, %v", n, ok, err)
		}
	}
}

// TestLongPrograms covers jumps beyond the 255 instructions a conditional
// jump reaches, and the kernel's 4096 instruction limit.
func TestLongPrograms(t *testing.T) {
	var ports []string
	for p := 1000; p < 1030; p++ {
		ports = append(ports, fmt.Sprint(p))
	}
	expr := "port " + strings.Join(ports, " or ")
	prog, err := Compile(expr, packet.LinkEthernet, 9000)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 1000 {
		t.Fatalf("%d instructions: too short to test far jumps", len(prog))
	}
	checkProgram(t, prog)
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	udp4 := testPackets(t)["udp4"]
	for _, tt := range []struct {
		port uint16
		want int
	}{{999, 0}, {1000, 9000}, {1015, 9000}, {1029, 9000}, {1030, 0}} {
		data := append([]byte(nil), udp4.data...)
		binary.BigEndian.PutUint16(data[20:], tt.port) // source port after the 20-byte header
		n, err := vm.Run(frameOrDie(t, packet.LinkEthernet, l3{udp4.etype, data}))
		if err != nil || n != tt.want {
			t.Errorf("port %d: %d, %v; want %d", tt.port, n, err, tt.want)
		}
	}
	ports = ports[:0]
	for p := 1; p < 200; p++ {
		ports = append(ports, fmt.Sprint(p))
	}
	if _, err := Compile("port "+strings.Join(ports, " or "), packet.LinkEthernet, 100); err == nil ||
		!strings.Contains(err.Error(), "too long") {
		t.Errorf("199 ports: error %v, want too long", err)
	}
}

func TestCompileLinkTypes(t *testing.T) {
	for _, link := range []uint16{2, 9, 105, 127, 65535} {
		if _, err := Compile("tcp", link, 100); err == nil {
			t.Errorf("link type %d: no error", link)
		}
		m, _ := NewMatcher("tcp")
		_, err1 := m.Match(link, []byte{1, 2, 3})
		_, err2 := m.Match(link, []byte{1, 2, 3})
		if err1 == nil || err1 != err2 {
			t.Errorf("link type %d: Match errors %v, %v", link, err1, err2)
		}
	}
	for _, link := range []uint16{2, 105} {
		prog, err := Compile("", link, 77)
		if err != nil || len(prog) != 1 || prog[0] != (bpf.RetConstant{Val: 77}) {
			t.Errorf("empty expression on link type %d: %v, %v", link, prog, err)
		}
	}
	// Constant programs: ip6 on a raw IPv4 link rejects everything.
	prog, err := Compile("ip6", packet.LinkIPv4, 100)
	if err != nil || len(prog) != 1 || prog[0] != (bpf.RetConstant{Val: 0}) {
		t.Errorf("ip6 on IPv4 link: %v, %v", prog, err)
	}
}
