// Package decode turns one captured frame into a packet.Packet: it walks the
// link header (Ethernet with any number of VLAN tags, Linux cooked SLL and
// SLL2, raw IP, BSD loopback), the IPv4 or IPv6 header with its options and
// extension headers, and the TCP header with the options the tracker needs
// (MSS, window scale, SACK-permitted, timestamps), or the UDP header (for
// DNS; the UDP reason tells a datagram from a TCP segment).
//
// Decode reads the frame in place with encoding/binary and allocates nothing.
// The payload length always comes from the IP header, never from the
// captured length, because captures are cut by the snap length and TSO/GRO
// hand the capture point segments above the MTU. Only the link, IP and
// TCP/UDP headers (options included) have to be present in the captured bytes.
//
// It does not reassemble IP fragments (a TCP fragment gets the Fragment
// reason, to be counted and not timed; a UDP one is NotTCP), does not verify
// checksums, does not look into the payload (it only points Packet.Data at
// it), does not follow tunnels (GRE, IP-in-IP, VXLAN), and decodes nothing
// but TCP and UDP: every other frame gets a Reason saying why it was skipped.
package decode

import (
	"encoding/binary"
	"math/bits"

	"github.com/pastmon/pastmon/capture/packet"
)

// Link types that only the decoder needs: raw IP under its older DLT numbers.
const (
	linkRawBSD     uint16 = 12 // DLT_RAW on most BSDs
	linkRawOpenBSD uint16 = 14 // DLT_RAW on OpenBSD
)

const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8
	etherQinQ   = 0x9100

	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoESP      = 50
	protoAH       = 51
	protoNoNext   = 59
	protoDestOpts = 60
)

// Decode decodes one frame of the given link type into p. The caller sets
// p.TS and p.Iface; Decode keeps those two and resets every other field, so
// p can be reused for every packet. Only when it returns OK is p a complete
// TCP segment; with Fragment the addresses, V6 and Fragment are set.
// Fragment is only returned for fragments of TCP segments: fragments of
// other protocols are NotTCP. Raw IP is accepted under DLT 12 and 14 too.
//
// Malformed TCP options are tolerated: option parsing stops at the first
// option whose length is impossible, the options before it are kept and the
// result is still OK, since sequence numbers, flags and payload length (what
// the timings rest on) come from the fixed header, which is sound.
func Decode(link uint16, data []byte, p *packet.Packet) Reason {
	ts, iface := p.TS, p.Iface
	*p = packet.Packet{TS: ts, Iface: iface, WScale: -1}

	switch link {
	case packet.LinkEthernet:
		if len(data) < 14 {
			return Truncated
		}
		return etherType(binary.BigEndian.Uint16(data[12:14]), data[14:], p)
	case packet.LinkLinuxSLL:
		if len(data) < 16 {
			return Truncated
		}
		return etherType(binary.BigEndian.Uint16(data[14:16]), data[16:], p)
	case packet.LinkLinuxSLL2:
		if len(data) < 20 {
			return Truncated
		}
		return etherType(binary.BigEndian.Uint16(data[0:2]), data[20:], p)
	case packet.LinkRaw, linkRawBSD, linkRawOpenBSD:
		return rawIP(data, p)
	case packet.LinkIPv4:
		return ipv4(data, p)
	case packet.LinkIPv6:
		return ipv6(data, p)
	case packet.LinkNull, packet.LinkLoop:
		return loopback(data, p)
	}
	return UnknownLink
}

// etherType dispatches on an EtherType, first skipping any number of
// 802.1Q, 802.1ad and old QinQ tags; data starts after the type field.
func etherType(typ uint16, data []byte, p *packet.Packet) Reason {
	for typ == ether8021Q || typ == ether8021AD || typ == etherQinQ {
		if len(data) < 4 {
			return Truncated
		}
		typ = binary.BigEndian.Uint16(data[2:4])
		data = data[4:]
	}
	switch typ {
	case etherIPv4:
		return ipv4(data, p)
	case etherIPv6:
		return ipv6(data, p)
	}
	return NotIP
}

func rawIP(data []byte, p *packet.Packet) Reason {
	if len(data) < 1 {
		return Truncated
	}
	switch data[0] >> 4 {
	case 4:
		return ipv4(data, p)
	case 6:
		return ipv6(data, p)
	}
	return NotIP
}

// loopback reads the 4-byte address family of DLT_NULL (host byte order of
// the capturing machine) and DLT_LOOP (network order); both orders are
// accepted for both, since no family value is ambiguous when swapped.
func loopback(data []byte, p *packet.Packet) Reason {
	if len(data) < 4 {
		return Truncated
	}
	family := binary.BigEndian.Uint32(data[0:4])
	if family > 0xffff {
		family = bits.ReverseBytes32(family)
	}
	switch family {
	case 2: // AF_INET everywhere
		return ipv4(data[4:], p)
	case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
		return ipv6(data[4:], p)
	}
	return NotIP
}

// ipv4 decodes an IPv4 header and the TCP segment in it. A total length of
// 0, which some captures of TSO segments carry, falls back to the captured
// length; that is the only case in which the capture decides the payload.
func ipv4(data []byte, p *packet.Packet) Reason {
	if len(data) < 20 {
		return Truncated
	}
	if data[0]>>4 != 4 {
		return BadIPHeader
	}
	ihl := int(data[0]&0x0f) * 4
	if ihl < 20 {
		return BadIPHeader
	}
	if len(data) < ihl {
		return Truncated
	}
	total := int(binary.BigEndian.Uint16(data[2:4]))
	if total == 0 {
		total = len(data)
	}
	if total < ihl {
		return BadIPHeader
	}
	copy(p.Src[:4], data[12:16])
	copy(p.Dst[:4], data[16:20])
	frag := binary.BigEndian.Uint16(data[6:8])&0x3fff != 0 // MF or offset
	if data[9] != protoTCP {
		if data[9] == protoUDP && !frag {
			return udp(data[ihl:], total-ihl, p)
		}
		return NotTCP
	}
	if frag {
		p.Fragment = true
		return Fragment
	}
	return tcp(data[ihl:], total-ihl, p)
}

// ipv6 decodes an IPv6 header, walks its extension headers and decodes the
// TCP segment behind them. A payload length of 0 (jumbogram, or a TSO
// capture) falls back to the captured length, as for IPv4.
func ipv6(data []byte, p *packet.Packet) Reason {
	if len(data) < 40 {
		return Truncated
	}
	if data[0]>>4 != 6 {
		return BadIPHeader
	}
	p.V6 = true
	copy(p.Src[:], data[8:24])
	copy(p.Dst[:], data[24:40])
	payload := int(binary.BigEndian.Uint16(data[4:6]))
	if payload == 0 {
		payload = len(data) - 40
	}
	next := data[6]
	data = data[40:]
	for {
		var n int
		switch next {
		case protoTCP:
			return tcp(data, payload, p)
		case protoUDP:
			return udp(data, payload, p)
		case protoHopByHop, protoRouting, protoDestOpts:
			if len(data) < 2 {
				return Truncated
			}
			n = (int(data[1]) + 1) * 8
		case protoAH:
			if len(data) < 2 {
				return Truncated
			}
			n = (int(data[1]) + 2) * 4
		case protoFragment:
			if len(data) < 8 {
				return Truncated
			}
			if binary.BigEndian.Uint16(data[2:4])&0xfff9 != 0 { // offset or M
				if data[0] != protoTCP {
					return NotTCP
				}
				p.Fragment = true
				return Fragment
			}
			n = 8 // atomic fragment: the whole packet, decode on
		default: // ESP, no next header, ICMPv6, ...
			return NotTCP
		}
		if n > payload {
			return BadIPHeader
		}
		if len(data) < n {
			return Truncated
		}
		next = data[0]
		data = data[n:]
		payload -= n
	}
}

// tcp decodes a TCP header; seg is the segment length the IP header gives.
func tcp(data []byte, seg int, p *packet.Packet) Reason {
	if len(data) < 20 {
		return Truncated
	}
	off := int(data[12]>>4) * 4
	if off < 20 || seg < off {
		return BadTCPHeader
	}
	if len(data) < off {
		return Truncated
	}
	p.SrcPort = binary.BigEndian.Uint16(data[0:2])
	p.DstPort = binary.BigEndian.Uint16(data[2:4])
	p.Seq = binary.BigEndian.Uint32(data[4:8])
	p.Ack = binary.BigEndian.Uint32(data[8:12])
	p.Flags = data[13]
	p.Window = binary.BigEndian.Uint16(data[14:16])
	p.Payload = uint32(seg - off)
	p.Data = data[off:min(len(data), seg)]
	if off > 20 {
		options(data[20:off], p)
	}
	return OK
}

// udp decodes a UDP header; seg is the datagram length the IP header
// gives. The UDP length field decides the payload when it fits in seg
// (Ethernet pads short frames); 0 or a larger one (GSO, jumbograms) falls
// back to seg.
func udp(data []byte, seg int, p *packet.Packet) Reason {
	if len(data) < 8 {
		return Truncated
	}
	if seg < 8 {
		return BadUDPHeader
	}
	if n := int(binary.BigEndian.Uint16(data[4:6])); n >= 8 && n <= seg {
		seg = n
	}
	p.SrcPort = binary.BigEndian.Uint16(data[0:2])
	p.DstPort = binary.BigEndian.Uint16(data[2:4])
	p.Payload = uint32(seg - 8)
	p.Data = data[8:min(len(data), seg)]
	return UDP
}

// options reads the TCP options the tracker uses. An option with a known
// kind but an unexpected length is skipped; an impossible length ends the
// walk (see Decode).
func options(opt []byte, p *packet.Packet) {
	// The usual options of an established connection first: NOP, NOP,
	// timestamps (RFC 7323's recommended layout).
	if len(opt) >= 12 && binary.BigEndian.Uint32(opt) == 0x0101080a {
		p.HasTS = true
		p.TSval = binary.BigEndian.Uint32(opt[4:8])
		p.TSecr = binary.BigEndian.Uint32(opt[8:12])
		opt = opt[12:]
	}
	for len(opt) > 0 {
		kind := opt[0]
		if kind == 0 { // end of option list
			return
		}
		if kind == 1 { // no-op
			opt = opt[1:]
			continue
		}
		if len(opt) < 2 {
			return
		}
		n := int(opt[1])
		if n < 2 || n > len(opt) {
			return
		}
		switch {
		case kind == 2 && n == 4:
			p.MSS = binary.BigEndian.Uint16(opt[2:4])
		case kind == 3 && n == 3:
			p.WScale = int8(min(opt[2], 14)) // RFC 7323: larger shifts mean 14
		case kind == 4 && n == 2:
			p.SACKOK = true
		case kind == 8 && n == 10:
			p.HasTS = true
			p.TSval = binary.BigEndian.Uint32(opt[2:6])
			p.TSecr = binary.BigEndian.Uint32(opt[6:10])
		}
		opt = opt[n:]
	}
}
