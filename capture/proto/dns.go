package proto

// DNS over TCP (RFC 1035 4.2.2: each message behind a 2-byte length). A
// turn is named by the query type of its first query and given the rcode of
// its first response (DESIGN.md's classes: NOERROR and NXDOMAIN ok, SERVFAIL
// server_error, the others client_error). UDP flows use the same naming
// (DNSTxn) from their own tracker.

// dnsState is the framing position of each direction.
type dnsState struct {
	skip  [2]uint32 // bytes of a message begun in an earlier segment
	flags uint8
}

const (
	dnsLost0 uint8 = 1 << iota // client framing lost until its next run
	dnsLost1
	dnsSplit0 // the client's last segment ended with a length prefix
	dnsSplit1
)

// looksDNS recognises a length-prefixed DNS query (client) or response
// (server) with one question: Strong when the length matches the captured
// bytes, Weak when the capture or the segment ends first.
func looksDNS(data []byte, client bool) Match {
	if len(data) < 2+dnsHeaderLen {
		return NoMatch
	}
	l := int(data[0])<<8 | int(data[1])
	m, ok := ParseDNS(data[2:min(len(data), 2+l)])
	if !ok || l < dnsHeaderLen+5 || m.Response == client || m.Opcode != 0 {
		return NoMatch
	}
	counts := data[2+4 : 2+12]
	if counts[0] != 0 || counts[1] != 1 { // one question
		return NoMatch
	}
	if client && (counts[2]|counts[3]|counts[4]|counts[5] != 0) {
		return NoMatch // a query has no answers or authorities
	}
	switch {
	case 2+l == len(data) && m.QType != 0:
		return Strong
	case 2+l > len(data):
		return Weak
	}
	return NoMatch
}

// DNSTxn names a DNS transaction: its query type as operation and, when
// answered, the response's rcode as status, with its result. Without an answer
// (answered false) the status is TIMEOUT, a server_error.
func DNSTxn(t *Tables, qtype uint16, answered bool, rcode uint8) (op, status uint16, r Result) {
	var buf [10]byte
	op = t.Ops.ID(dnsTypeName(qtype, &buf))
	if !answered {
		return op, t.Statuses.IDString("TIMEOUT"), ServerError
	}
	return op, t.Statuses.ID(dnsRcodeName(rcode, &buf)), dnsResult(rcode)
}

// dnsResult is the result class of an rcode.
func dnsResult(rc uint8) Result {
	switch {
	case rc == 0 || rc == 3:
		return OK
	case dnsServerError(rc):
		return ServerError
	}
	return ClientError
}

func (s *dnsState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	s.messages(c, t, data, n, run, 0)
}

func (s *dnsState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	s.messages(c, t, data, n, run, 1)
	return false
}

// messages walks the length-prefixed messages of a segment of direction dir.
func (s *dnsState) messages(c *Conn, t *Tables, data []byte, n int, run bool, dir int) {
	lost, split := dnsLost0<<dir, dnsSplit0<<dir
	if s.flags&lost != 0 {
		if !run {
			return
		}
		s.flags &^= lost | split
		s.skip[dir] = 0
	}
	off := 0
	if s.flags&split != 0 { // the previous segment ended with a length prefix
		s.flags &^= split
		l := int(s.skip[dir])
		s.skip[dir] = 0
		if !s.message(c, t, data[:min(len(data), l)], dir) {
			return
		}
		off = l
	}
	off += int(s.skip[dir])
	s.skip[dir] = 0
	for off < n {
		if len(data)-off < 2 {
			s.flags |= lost
			return
		}
		l := int(data[off])<<8 | int(data[off+1])
		if l < dnsHeaderLen {
			c.fail(t)
			return
		}
		if off+2 == n {
			s.flags |= split
			s.skip[dir] = uint32(l)
			return
		}
		if !s.message(c, t, data[off+2:min(len(data), off+2+l)], dir) {
			return
		}
		off += 2 + l
	}
	s.skip[dir] = uint32(off - n)
}

// message names the transaction from one message of direction dir; false
// means the connection is not DNS after all.
func (s *dnsState) message(c *Conn, t *Tables, b []byte, dir int) bool {
	m, ok := ParseDNS(b)
	var buf [10]byte
	switch {
	case !ok: // header cut by the capture: the message stays unread
	case dir == 0 && !m.Response:
		if m.QType != 0 {
			c.setOp(t.Ops.ID(dnsTypeName(m.QType, &buf)))
		}
	case dir == 1 && m.Response:
		c.setStatus(t.Statuses.ID(dnsRcodeName(m.Rcode, &buf)), dnsResult(m.Rcode))
	default:
		c.fail(t)
		return false
	}
	return true
}
