package filter

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// Qualifiers of a primitive, as in tcpdump's grammar.
type dirQual int

const (
	dirDefault dirQual = iota // src or dst
	dirSrc
	dirDst
	dirOr  // "src or dst"
	dirAnd // "src and dst"
)

type addrQual int

const (
	addrDefault addrQual = iota // no keyword: a host
	addrHost
	addrNet
	addrPort
	addrPortRange
)

// qual is the qualifier set a primitive was written with; ok is false for
// tcpdump's "qerr": the context of a bare address that no qualifier precedes.
type qual struct {
	ok    bool
	proto string // "" or a protocol keyword
	dir   dirQual
	addr  addrQual
}

type nodeKind int

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nProto // ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6
	nHost  // IPv4 host or net
	nHost6 // IPv6 host or net
	nPort  // port or portrange
	nVlan
)

// node is one element of the parsed expression.
type node struct {
	kind   nodeKind
	l, r   *node // nAnd, nOr: both; nNot: l
	proto  string
	dir    dirQual
	net    bool // written as a net (display only)
	a4, m4 uint32
	a6, m6 [16]byte
	lo, hi uint16
	rng    bool // written as a portrange (display only)
	vlanID uint16
	hasID  bool
	vlans  int // vlan primitives before this one: each shifts the link offsets by 4
}

// Expr is a parsed filter expression, independent of the link type.
type Expr struct {
	src  string
	root *node // nil: matches everything
}

// String renders the tree in prefix form, e.g.
// "(or (host 10.0.0.1) (tcp dst port 80))". A primitive that follows n vlan
// primitives carries " @vlan<n>".
func (e *Expr) String() string {
	if e.root == nil {
		return "(all)"
	}
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

func (n *node) format(b *strings.Builder) {
	switch n.kind {
	case nAnd, nOr, nNot:
		b.WriteString([]string{"(and ", "(or ", "(not "}[n.kind])
		n.l.format(b)
		if n.r != nil {
			b.WriteByte(' ')
			n.r.format(b)
		}
		b.WriteByte(')')
		return
	}
	b.WriteByte('(')
	var words []string
	if n.proto != "" && n.kind != nProto {
		words = append(words, n.proto)
	}
	if d := []string{"", "src", "dst", "src or dst", "src and dst"}[n.dir]; d != "" {
		words = append(words, d)
	}
	switch n.kind {
	case nProto:
		words = append(words, n.proto)
	case nHost:
		words = append(words, hostWord(n.net), format4(n.a4, n.m4))
	case nHost6:
		words = append(words, hostWord(n.net), format6(n.a6, n.m6))
	case nPort:
		if !n.rng {
			words = append(words, fmt.Sprintf("port %d", n.lo))
		} else {
			words = append(words, fmt.Sprintf("portrange %d-%d", n.lo, n.hi))
		}
	case nVlan:
		words = append(words, "vlan")
		if n.hasID {
			words = append(words, fmt.Sprint(n.vlanID))
		}
	}
	b.WriteString(strings.Join(words, " "))
	if n.vlans > 0 {
		fmt.Fprintf(b, " @vlan%d", n.vlans)
	}
	b.WriteByte(')')
}

func hostWord(net bool) string {
	if net {
		return "net"
	}
	return "host"
}

func format4(a, m uint32) string {
	s := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String()
	if m == 0xffffffff {
		return s
	}
	if ones := bits.LeadingZeros32(^m); m<<ones == 0 {
		return fmt.Sprintf("%s/%d", s, ones)
	}
	return fmt.Sprintf("%s mask %s", s, format4(m, 0xffffffff))
}

func format6(a, m [16]byte) string {
	ones := 0
	for _, x := range m {
		ones += bits.OnesCount8(x)
	}
	s := netip.AddrFrom16(a).String()
	if ones == 128 {
		return s
	}
	return fmt.Sprintf("%s/%d", s, ones)
}
