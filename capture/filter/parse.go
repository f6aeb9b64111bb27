package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parser is a recursive-descent rendering of tcpdump's yacc grammar for the
// supported subset. Like tcpdump, "and" and "or" have the same precedence and
// associate to the left, and a bare address after "and"/"or" takes the
// qualifiers of the primitive before it ("host a or b", "port 80 or 443").
type parser struct {
	toks  []token
	i     int
	vlans int // vlan primitives parsed so far
	depth int // nesting of parentheses and negations
}

// maxDepth bounds nesting, so that no expression exhausts the stack.
const maxDepth = 200

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		t := p.peek()
		return fmt.Errorf("filter: expression nested more than %d deep at %q (position %d)", maxDepth, t.text, t.pos)
	}
	return nil
}

// Parse checks expr and returns its tree. An empty expression matches
// everything.
func Parse(expr string) (*Expr, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	e := &Expr{src: expr}
	if toks[0].kind == tEOF {
		return e, nil
	}
	p := &parser{toks: toks}
	root, _, err := p.expr(qual{})
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, syntaxError(t)
	}
	e.root = root
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(k int) token {
	if p.i+k >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i+k]
}
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func syntaxError(t token) error {
	if t.kind == tEOF {
		return fmt.Errorf("filter: syntax error at end of expression (position %d)", t.pos)
	}
	return fmt.Errorf("filter: syntax error at %q (position %d)", t.text, t.pos)
}

func errAt(t token, format string, args ...any) error {
	return fmt.Errorf("filter: %s at %q (position %d)", fmt.Sprintf(format, args...), t.text, t.pos)
}

func (p *parser) expect(k tokKind) error {
	if t := p.peek(); t.kind != k {
		return syntaxError(t)
	}
	p.next()
	return nil
}

// expr: term { (and|or) (term|id) }. inh is the qualifier set of what
// precedes, handed to a parenthesised term as tcpdump does.
func (p *parser) expr(inh qual) (*node, qual, error) {
	left, q, err := p.term(inh)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		if t.kind != tAnd && t.kind != tOr {
			return left, q, nil
		}
		p.next()
		var right *node
		if p.idAhead() {
			right, q, err = p.id(q)
		} else {
			right, q, err = p.term(q)
		}
		if err != nil {
			return nil, q, err
		}
		kind := nAnd
		if t.kind == tOr {
			kind = nOr
		}
		left = &node{kind: kind, l: left, r: right}
	}
}

// idAhead reports whether a bare address (an id in tcpdump's grammar), not a
// term, starts at the current token.
func (p *parser) idAhead() bool {
	for k := 0; ; k++ {
		switch p.peekAt(k).kind {
		case tNot, tLParen:
			continue
		case tNum, tHID, tHID6, tID:
			return true
		default:
			return false
		}
	}
}

var protoNames = map[string]bool{
	"ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true,
	"sctp": true, "icmp": true, "icmp6": true,
}

func (p *parser) term(inh qual) (*node, qual, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, inh, err
	}
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, q, err := p.term(inh)
		if err != nil {
			return nil, q, err
		}
		return &node{kind: nNot, l: x}, q, nil
	case tLParen:
		p.next()
		x, _, err := p.expr(inh)
		if err != nil {
			return nil, inh, err
		}
		return x, inh, p.expect(tRParen)
	case tKeyword:
		switch {
		case t.text == "vlan":
			return p.vlan()
		case protoNames[t.text]:
			p.next()
			if !p.headAhead() {
				return &node{kind: nProto, proto: t.text, vlans: p.vlans}, qual{}, nil
			}
			return p.head(t.text)
		case p.headAhead():
			return p.head("")
		}
	case tID:
		if unsupported[t.text] {
			return nil, qual{}, fmt.Errorf("filter: %q is not supported (position %d)", t.text, t.pos)
		}
	}
	return nil, qual{}, syntaxError(t)
}

func (p *parser) headAhead() bool {
	switch p.peek().text {
	case "src", "dst", "host", "net", "port", "portrange":
		return p.peek().kind == tKeyword
	}
	return false
}

// head: [proto] [src|dst|src or dst|src and dst] [host|net|port|portrange] id
func (p *parser) head(proto string) (*node, qual, error) {
	q := qual{ok: true, proto: proto}
	switch p.peek().text {
	case "src", "dst":
		first := p.next().text
		q.dir = dirSrc
		if first == "dst" {
			q.dir = dirDst
		}
		other := map[string]string{"src": "dst", "dst": "src"}[first]
		if c := p.peek(); (c.kind == tOr || c.kind == tAnd) && p.peekAt(1).kind == tKeyword && p.peekAt(1).text == other {
			q.dir = dirOr
			if c.kind == tAnd {
				q.dir = dirAnd
			}
			p.next()
			p.next()
		}
	}
	if t := p.peek(); t.kind == tKeyword {
		switch t.text {
		case "host":
			q.addr = addrHost
		case "net":
			q.addr = addrNet
		case "port":
			q.addr = addrPort
		case "portrange":
			q.addr = addrPortRange
		}
		if q.addr != addrDefault {
			p.next()
		}
	}
	return p.id(q)
}

// vlan: "vlan" [number]
func (p *parser) vlan() (*node, qual, error) {
	p.next()
	n := &node{kind: nVlan, vlans: p.vlans}
	p.vlans++
	var t token
	switch {
	case p.peek().kind == tNum:
		t = p.next()
	case p.peek().kind == tLParen && p.peekAt(1).kind == tNum && p.peekAt(2).kind == tRParen:
		p.next()
		t = p.next()
		p.next()
	default:
		return n, qual{}, nil
	}
	if t.num > 4095 {
		return nil, qual{}, errAt(t, "VLAN tag %d greater than maximum 4095", t.num)
	}
	n.vlanID, n.hasID = uint16(t.num), true
	return n, qual{}, nil
}

// id: not id | ( id {and|or id} ) | number | address[/len | mask m] | name
func (p *parser) id(q qual) (*node, qual, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, q, err
	}
	t := p.peek()
	if !q.ok && (t.kind == tNum || t.kind == tHID || t.kind == tHID6 || t.kind == tID) {
		return nil, q, syntaxError(t)
	}
	switch t.kind {
	case tNot:
		p.next()
		x, q, err := p.id(q)
		if err != nil {
			return nil, q, err
		}
		return &node{kind: nNot, l: x}, q, nil
	case tLParen:
		p.next()
		x, q, err := p.idList(q)
		if err != nil {
			return nil, q, err
		}
		return x, q, p.expect(tRParen)
	case tNum:
		p.next()
		n, err := p.number(q, t)
		return n, q, err
	case tHID:
		p.next()
		n, err := p.addr4(q, t)
		return n, q, err
	case tHID6:
		p.next()
		n, err := p.addr6(q, t)
		return n, q, err
	case tID:
		p.next()
		n, err := p.name(q, t)
		return n, q, err
	}
	return nil, q, syntaxError(t)
}

func (p *parser) idList(q qual) (*node, qual, error) {
	left, q, err := p.id(q)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		if t.kind != tAnd && t.kind != tOr {
			return left, q, nil
		}
		p.next()
		right, q2, err := p.id(q)
		if err != nil {
			return nil, q2, err
		}
		q = q2
		kind := nAnd
		if t.kind == tOr {
			kind = nOr
		}
		left = &node{kind: kind, l: left, r: right}
	}
}

// number is a bare number: a port, or an IPv4 address/net written as one
// 32-bit number, as tcpdump reads it.
func (p *parser) number(q qual, t token) (*node, error) {
	switch q.addr {
	case addrPort, addrPortRange:
		return p.port(q, t, t.num, t.num)
	}
	v, m := t.num, uint32(0xffffffff)
	if q.addr == addrNet {
		v, m = promoteNet(v, m)
	}
	return p.host4(q, t, v, m)
}

// promoteNet turns a short net number into a network: "net 10" is 10/8.
func promoteNet(v, m uint32) (uint32, uint32) {
	for v != 0 && v&0xff000000 == 0 {
		v <<= 8
		m <<= 8
	}
	return v, m
}

func modifierError(t token, q qual, what string) error {
	word := map[addrQual]string{addrPort: "port", addrPortRange: "portrange"}[q.addr]
	return errAt(t, "'%s' modifier applied to %s", word, what)
}

// addr4 is a dotted IPv4 address, optionally with /len or "mask M".
func (p *parser) addr4(q qual, t token) (*node, error) {
	if q.addr == addrPort || q.addr == addrPortRange {
		return nil, modifierError(t, q, "IP address")
	}
	v, vlen, err := atoin(t)
	if err != nil {
		return nil, err
	}
	switch c := p.peek(); {
	case c.kind == tSlash:
		p.next()
		lt := p.next()
		if lt.kind != tNum {
			return nil, syntaxError(lt)
		}
		if lt.num > 32 {
			return nil, errAt(lt, "mask length must be <= 32")
		}
		m := uint32(0)
		if lt.num > 0 {
			m = 0xffffffff << (32 - lt.num)
		}
		return p.masked4(q, t, v<<(32-vlen), m)
	case c.kind == tKeyword && c.text == "mask":
		p.next()
		mt := p.next()
		if mt.kind != tHID {
			return nil, syntaxError(mt)
		}
		m, mlen, err := atoin(mt)
		if err != nil {
			return nil, err
		}
		return p.masked4(q, t, v<<(32-vlen), m<<(32-mlen))
	}
	m := uint32(0xffffffff)
	if q.addr == addrNet {
		v, m = promoteNet(v, m)
	} else {
		v, m = v<<(32-vlen), m<<(32-vlen)
	}
	return p.host4(q, t, v, m)
}

func (p *parser) masked4(q qual, t token, v, m uint32) (*node, error) {
	if v&^m != 0 {
		return nil, errAt(t, "non-network bits set")
	}
	if q.addr != addrNet {
		return nil, errAt(t, "mask syntax for networks only")
	}
	return p.host4(q, t, v, m)
}

// atoin reads a dotted address of 1 to 4 parts; it returns the value of the
// parts given and their length in bits ("10.1" is 0x0a01, 16).
func atoin(t token) (uint32, uint32, error) {
	var v, n uint32
	for _, part := range strings.Split(t.text, ".") {
		x, err := parseDecimalByte(part)
		if err != nil {
			return 0, 0, errAt(t, "invalid IPv4 address")
		}
		v = v<<8 | x
		n += 8
	}
	return v, n, nil
}

func parseDecimalByte(s string) (uint32, error) {
	if !isDigits(s) || len(s) > 3 {
		return 0, errors.New("not a byte")
	}
	var x uint32
	for i := 0; i < len(s); i++ {
		x = x*10 + uint32(s[i]-'0')
	}
	if x > 255 {
		return 0, errors.New("not a byte")
	}
	return x, nil
}

func (p *parser) host4(q qual, t token, v, m uint32) (*node, error) {
	switch q.proto {
	case "", "ip", "arp", "rarp":
	case "ip6":
		return nil, errAt(t, "'ip6' modifier applied to ip host")
	default:
		return nil, errAt(t, "'%s' modifier applied to %s", q.proto, hostWord(q.addr == addrNet))
	}
	return &node{kind: nHost, proto: q.proto, dir: q.dir, net: q.addr == addrNet, a4: v, m4: m, vlans: p.vlans}, nil
}

// addr6 is an IPv6 address, optionally with /len.
func (p *parser) addr6(q qual, t token) (*node, error) {
	if q.addr == addrPort || q.addr == addrPortRange {
		return nil, modifierError(t, q, "IP address")
	}
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" || !strings.Contains(t.text, ":") {
		return nil, errAt(t, "invalid IPv6 address")
	}
	bitsLen := uint32(128)
	if p.peek().kind == tSlash {
		p.next()
		lt := p.next()
		if lt.kind != tNum {
			return nil, syntaxError(lt)
		}
		if lt.num > 128 {
			return nil, errAt(lt, "mask length must be <= 128")
		}
		bitsLen = lt.num
	}
	var m [16]byte
	for i := uint32(0); i < bitsLen; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	addr := a.As16()
	for i := range addr {
		if addr[i]&^m[i] != 0 {
			return nil, errAt(t, "non-network bits set")
		}
	}
	if q.addr != addrNet && bitsLen != 128 {
		return nil, errAt(t, "mask syntax for networks only")
	}
	switch q.proto {
	case "", "ip6":
	default:
		return nil, errAt(t, "'%s' modifier applied to ip6 %s", q.proto, hostWord(q.addr == addrNet))
	}
	return &node{kind: nHost6, proto: q.proto, dir: q.dir, net: q.addr == addrNet, a6: addr, m6: m, vlans: p.vlans}, nil
}

// name is a word that is neither a keyword nor an address: a port range
// "A-B", or a host or service name, which this package does not resolve.
func (p *parser) name(q qual, t token) (*node, error) {
	switch q.addr {
	case addrPortRange:
		a, b, ok := strings.Cut(t.text, "-")
		if ok && isDigits(a) && isDigits(b) && len(a) <= 5 && len(b) <= 5 {
			lo, _ := strconv.ParseUint(a, 10, 32)
			hi, _ := strconv.ParseUint(b, 10, 32)
			if lo > hi {
				lo, hi = hi, lo
			}
			return p.port(q, t, uint32(lo), uint32(hi))
		}
		return nil, errAt(t, "service names are not supported; use a port number")
	case addrPort:
		return nil, errAt(t, "service names are not supported; use a port number")
	}
	if unsupported[t.text] || keywords[t.text] {
		return nil, syntaxError(t)
	}
	return nil, errAt(t, "hostnames are not supported; use an address")
}

func (p *parser) port(q qual, t token, lo, hi uint32) (*node, error) {
	word := map[addrQual]string{addrPort: "port", addrPortRange: "portrange"}[q.addr]
	switch q.proto {
	case "", "tcp", "udp", "sctp":
	default:
		return nil, errAt(t, "illegal qualifier of '%s'", word)
	}
	if hi > 65535 {
		return nil, errAt(t, "illegal port number %d > 65535", hi)
	}
	return &node{kind: nPort, proto: q.proto, dir: q.dir, lo: uint16(lo), hi: uint16(hi), rng: q.addr == addrPortRange, vlans: p.vlans}, nil
}
