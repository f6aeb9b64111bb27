package decode

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/packet"
)

// TestDecodeUDP checks UDP datagrams over IPv4 and IPv6 against gopacket:
// ports, payload length from the headers (not the capture), and the
// captured payload bytes.
func TestDecodeUDP(t *testing.T) {
	payload := bytes.Repeat([]byte("dns!"), 25)
	build := func(v6 bool, extra []byte) []byte {
		u := &layers.UDP{SrcPort: 34170, DstPort: 53}
		eth := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
		var ip gopacket.SerializableLayer
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			i := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src6, DstIP: dst6}
			_ = u.SetNetworkLayerForChecksum(i)
			ip = i
		} else {
			i := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src4, DstIP: dst4}
			_ = u.SetNetworkLayerForChecksum(i)
			ip = i
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, u, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		return append(bytes.Clone(buf.Bytes()), extra...)
	}
	for _, v6 := range []bool{false, true} {
		for _, tc := range []struct {
			name  string
			frame []byte
			data  int // captured payload bytes expected
		}{
			{"whole", build(v6, nil), len(payload)},
			{"ethernet padding", build(v6, make([]byte, 20)), len(payload)},
			{"snaplen cut", build(v6, nil)[:14+ipLen(v6)+8+30], 30},
		} {
			ref := gopacket.NewPacket(build(v6, nil), layers.LayerTypeEthernet, gopacket.Default)
			u := ref.Layer(layers.LayerTypeUDP).(*layers.UDP)
			var p packet.Packet
			r := Decode(packet.LinkEthernet, tc.frame, &p)
			if r != UDP || p.V6 != v6 || p.SrcPort != uint16(u.SrcPort) || p.DstPort != uint16(u.DstPort) ||
				p.Payload != uint32(len(u.Payload)) || !bytes.Equal(p.Data, u.Payload[:tc.data]) {
				t.Errorf("v6 %v %s: %v %+v", v6, tc.name, r, p)
			}
		}
	}
	// An IP payload shorter than a UDP header.
	f := build(false, nil)
	f[14+2], f[14+3] = 0, 24
	var p packet.Packet
	if r := Decode(packet.LinkEthernet, f, &p); r != BadUDPHeader {
		t.Errorf("short IP payload: %v", r)
	}
	if r := Decode(packet.LinkEthernet, f[:14+20+4], &p); r != Truncated {
		t.Errorf("cut UDP header: %v", r)
	}
}

func ipLen(v6 bool) int {
	if v6 {
		return 40
	}
	return 20
}
