package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/net/bpf"
)

// test is one load and comparison: [off] (or [X+off] with X the IPv4 header
// length at hdr) masked with mask when masked, compared with val.
type test struct {
	indirect bool
	hdr      uint32
	off      uint32
	size     int
	masked   bool
	mask     uint32
	cond     bpf.JumpTest
	val      uint32
}

type opKind int

const (
	opTest opKind = iota
	opAnd
	opOr
	opNot
	opTrue
	opFalse
)

// cnode is the boolean tree of tests for one link type. Children are
// evaluated left to right with short circuits, in the order tcpdump's code
// generator uses, because a load past the end of the packet rejects the
// packet wherever it happens.
type cnode struct {
	op   opKind
	t    test
	l, r *cnode
}

var (
	cTrue  = &cnode{op: opTrue}
	cFalse = &cnode{op: opFalse}
)

// and folds a constant left operand only: the right one is evaluated after
// the left, so dropping it could drop a load that rejects the packet.
func and(l, r *cnode) *cnode {
	switch l.op {
	case opTrue:
		return r
	case opFalse:
		return cFalse
	}
	return &cnode{op: opAnd, l: l, r: r}
}

func or(l, r *cnode) *cnode {
	switch l.op {
	case opTrue:
		return cTrue
	case opFalse:
		return r
	}
	return &cnode{op: opOr, l: l, r: r}
}

func not(x *cnode) *cnode {
	switch x.op {
	case opTrue:
		return cFalse
	case opFalse:
		return cTrue
	}
	return &cnode{op: opNot, l: x}
}

func cmp(off uint32, size int, val uint32) *cnode {
	return &cnode{op: opTest, t: test{off: off, size: size, cond: bpf.JumpEqual, val: val}}
}

func mcmp(off uint32, size int, val, mask uint32) *cnode {
	if mask == 0xffffffff {
		return cmp(off, size, val)
	}
	return &cnode{op: opTest, t: test{off: off, size: size, masked: true, mask: mask, cond: bpf.JumpEqual, val: val}}
}

// Ethertypes and protocol numbers.
const (
	etherIP     = 0x0800
	etherARP    = 0x0806
	etherRARP   = 0x8035
	etherIPv6   = 0x86dd
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8
	etherQinQ   = 0x9100

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoFrag6  = 44
	protoICMPv6 = 58
	protoSCTP   = 132
)

type linkKind int

const (
	lkEther linkKind = iota
	lkSLL            // ethertype field, no vlan support
	lkRaw            // IPv4 or IPv6 by version nibble
	lkIPv4
	lkIPv6
	lkNull // 4-byte address family, byte order of the capturing host
	lkLoop // 4-byte address family, network byte order
)

// builder lowers a parsed expression for one link type.
type builder struct {
	link    uint16
	kind    linkKind
	typeOff uint32 // offset of the ethertype (ether, SLL)
	nlOff   uint32 // offset of the network header
	vlans   int    // vlan shift of the primitive being built
}

func newBuilder(link uint16) (*builder, error) {
	b := &builder{link: link}
	switch link {
	case packet.LinkEthernet:
		b.kind, b.typeOff, b.nlOff = lkEther, 12, 14
	case packet.LinkLinuxSLL:
		b.kind, b.typeOff, b.nlOff = lkSLL, 14, 16
	case packet.LinkLinuxSLL2:
		b.kind, b.typeOff, b.nlOff = lkSLL, 0, 20
	case packet.LinkRaw, 12, 14:
		b.kind = lkRaw
	case packet.LinkIPv4:
		b.kind = lkIPv4
	case packet.LinkIPv6:
		b.kind = lkIPv6
	case packet.LinkNull:
		b.kind, b.nlOff = lkNull, 4
	case packet.LinkLoop:
		b.kind, b.nlOff = lkLoop, 4
	default:
		return nil, fmt.Errorf("filter: link type %d is not supported", link)
	}
	return b, nil
}

// nl is the network header offset after the vlan tags parsed so far.
func (b *builder) nl() uint32 { return b.nlOff + 4*uint32(b.vlans) }

func (b *builder) build(n *node) (*cnode, error) {
	switch n.kind {
	case nAnd, nOr:
		l, err := b.build(n.l)
		if err != nil {
			return nil, err
		}
		r, err := b.build(n.r)
		if err != nil {
			return nil, err
		}
		if n.kind == nAnd {
			return and(l, r), nil
		}
		return or(l, r), nil
	case nNot:
		x, err := b.build(n.l)
		if err != nil {
			return nil, err
		}
		return not(x), nil
	}
	b.vlans = n.vlans
	switch n.kind {
	case nProto:
		return b.proto(n.proto), nil
	case nHost:
		return b.host4(n), nil
	case nHost6:
		return b.host6(n), nil
	case nPort:
		return b.port(n), nil
	case nVlan:
		return b.vlan(n)
	}
	return nil, fmt.Errorf("filter: internal error: node kind %d", n.kind)
}

// linktype tests that the network protocol is the given ethertype.
func (b *builder) linktype(ethertype uint32) *cnode {
	switch b.kind {
	case lkEther, lkSLL:
		return cmp(b.typeOff+4*uint32(b.vlans), 2, ethertype)
	case lkRaw:
		switch ethertype {
		case etherIP:
			return mcmp(0, 1, 0x40, 0xf0)
		case etherIPv6:
			return mcmp(0, 1, 0x60, 0xf0)
		}
	case lkIPv4:
		if ethertype == etherIP {
			return cTrue
		}
	case lkIPv6:
		if ethertype == etherIPv6 {
			return cTrue
		}
	case lkNull, lkLoop:
		return b.family(ethertype)
	}
	return cFalse
}

// family tests the 4-byte address family of BSD loopback headers. IPv6 has
// a different AF_INET6 on each BSD; Null headers are in the byte order of
// the capturing host, so both orders are accepted.
func (b *builder) family(ethertype uint32) *cnode {
	var afs []uint32
	switch ethertype {
	case etherIP:
		afs = []uint32{2}
	case etherIPv6:
		afs = []uint32{30, 24, 28} // Darwin, BSD, FreeBSD
	default:
		return cFalse
	}
	x := cFalse
	for i := len(afs) - 1; i >= 0; i-- {
		if b.kind == lkNull {
			x = or(cmp(0, 4, swap32(afs[i])), x)
		}
		x = or(cmp(0, 4, afs[i]), x)
	}
	return x
}

func swap32(v uint32) uint32 {
	var buf [4]byte
	binary.LittleEndian.PutUint32(buf[:], v)
	return binary.BigEndian.Uint32(buf[:])
}

func (b *builder) proto(name string) *cnode {
	switch name {
	case "ip":
		return b.linktype(etherIP)
	case "ip6":
		return b.linktype(etherIPv6)
	case "arp":
		return b.linktype(etherARP)
	case "rarp":
		return b.linktype(etherRARP)
	case "icmp":
		return b.ipProto(protoICMP)
	case "icmp6":
		return b.ip6Proto(protoICMPv6)
	}
	p := map[string]uint32{"tcp": protoTCP, "udp": protoUDP, "sctp": protoSCTP}[name]
	return or(b.ipProto(p), b.ip6Proto(p))
}

func (b *builder) ipProto(p uint32) *cnode {
	return and(b.linktype(etherIP), cmp(b.nl()+9, 1, p))
}

// ip6Proto checks the next header, and the one after a fragment header.
func (b *builder) ip6Proto(p uint32) *cnode {
	nl := b.nl()
	frag := and(cmp(nl+6, 1, protoFrag6), cmp(nl+40, 1, p))
	return and(b.linktype(etherIPv6), or(cmp(nl+6, 1, p), frag))
}

// hostop tests the address at srcOff/dstOff of the given protocol by direction.
func (b *builder) hostop(dir dirQual, ethertype uint32, one func(off uint32) *cnode, srcOff, dstOff uint32) *cnode {
	side := func(off uint32) *cnode { return and(b.linktype(ethertype), one(off)) }
	switch dir {
	case dirSrc:
		return side(srcOff)
	case dirDst:
		return side(dstOff)
	case dirAnd:
		return and(side(srcOff), side(dstOff))
	}
	return or(side(srcOff), side(dstOff))
}

func (b *builder) host4(n *node) *cnode {
	nl := b.nl()
	one := func(off uint32) *cnode { return mcmp(nl+off, 4, n.a4, n.m4) }
	ip := func() *cnode { return b.hostop(n.dir, etherIP, one, 12, 16) }
	arp := func(t uint32) *cnode { return b.hostop(n.dir, t, one, 14, 24) }
	switch n.proto {
	case "ip":
		return ip()
	case "arp":
		return arp(etherARP)
	case "rarp":
		return arp(etherRARP)
	}
	return or(or(ip(), arp(etherARP)), arp(etherRARP))
}

func (b *builder) host6(n *node) *cnode {
	nl := b.nl()
	one := func(off uint32) *cnode {
		x := cTrue
		for w := 3; w >= 0; w-- {
			a := binary.BigEndian.Uint32(n.a6[4*w:])
			m := binary.BigEndian.Uint32(n.m6[4*w:])
			x = and(mcmp(nl+off+uint32(4*w), 4, a, m), x)
		}
		return x
	}
	return b.hostop(n.dir, etherIPv6, one, 8, 24)
}

// port tests TCP, UDP and SCTP ports (or only the qualified protocol) over
// IPv6, then over IPv4 (first fragments only), as tcpdump does.
func (b *builder) port(n *node) *cnode {
	protos := []uint32{protoSCTP, protoTCP, protoUDP}
	switch n.proto {
	case "tcp":
		protos = []uint32{protoTCP}
	case "udp":
		protos = []uint32{protoUDP}
	case "sctp":
		protos = []uint32{protoSCTP}
	}
	nl := b.nl()
	v6, v4 := cFalse, cFalse
	for i := len(protos) - 1; i >= 0; i-- {
		p := protos[i]
		at6 := func(off uint32) *cnode { return portAtom(test{off: nl + 40 + off, size: 2}, n.lo, n.hi) }
		v6 = or(and(cmp(nl+6, 1, p), portDir(n.dir, at6)), v6)
		at4 := func(off uint32) *cnode {
			return portAtom(test{indirect: true, hdr: nl, off: nl + off, size: 2}, n.lo, n.hi)
		}
		notFrag := not(&cnode{op: opTest, t: test{off: nl + 6, size: 2, cond: bpf.JumpBitsSet, val: 0x1fff}})
		v4 = or(and(and(cmp(nl+9, 1, p), notFrag), portDir(n.dir, at4)), v4)
	}
	return or(and(b.linktype(etherIPv6), v6), and(b.linktype(etherIP), v4))
}

func portDir(dir dirQual, at func(off uint32) *cnode) *cnode {
	switch dir {
	case dirSrc:
		return at(0)
	case dirDst:
		return at(2)
	case dirAnd:
		return and(at(0), at(2))
	}
	return or(at(0), at(2))
}

// portAtom compares one port field with lo..hi.
func portAtom(t test, lo, hi uint16) *cnode {
	if lo == hi {
		t.cond, t.val = bpf.JumpEqual, uint32(lo)
		return &cnode{op: opTest, t: t}
	}
	ge, gt := t, t
	ge.cond, ge.val = bpf.JumpGreaterOrEqual, uint32(lo)
	gt.cond, gt.val = bpf.JumpGreaterThan, uint32(hi)
	return and(&cnode{op: opTest, t: ge}, not(&cnode{op: opTest, t: gt}))
}

// vlan tests for an 802.1Q, 802.1ad or QinQ tag (and its id); primitives
// after it look 4 bytes further, like tcpdump's.
func (b *builder) vlan(n *node) (*cnode, error) {
	if b.kind != lkEther {
		return nil, fmt.Errorf("filter: vlan is not supported for link type %d", b.link)
	}
	off := b.typeOff + 4*uint32(b.vlans)
	x := or(cmp(off, 2, ether8021Q), or(cmp(off, 2, ether8021AD), cmp(off, 2, etherQinQ)))
	if n.hasID {
		x = and(x, mcmp(b.nl(), 2, uint32(n.vlanID), 0x0fff))
	}
	return x, nil
}
