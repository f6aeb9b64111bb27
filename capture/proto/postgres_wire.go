package proto

import "encoding/binary"

// PostgreSQL wire protocol 3.0: the framing and the few message bodies the
// postgres parser reads. Every function reads only what was captured and
// never panics on short or hostile input.

// Startup-phase request codes (the second int32 of a startup packet).
const (
	pgProto30   = 3 << 16
	pgProto32   = 3<<16 | 2
	pgCancel    = 80877102
	pgSSLReq    = 80877103
	pgGSSENCReq = 80877104
)

// pgMaxStartup is the server's own limit on a startup packet
// (MAX_STARTUP_PACKET_LENGTH); pgMaxMessage bounds any other message
// (PostgreSQL refuses messages of 1 GiB and more).
const (
	pgMaxStartup = 10000
	pgMaxMessage = 1 << 30
)

// pgStartup reads a startup-phase packet (no type byte): its request code
// and its whole size. ok is false unless at least the 8-byte header was
// captured and the length is plausible.
func pgStartup(b []byte) (code uint32, size int, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	n := binary.BigEndian.Uint32(b)
	if n < 8 || n > pgMaxStartup {
		return 0, 0, false
	}
	code = binary.BigEndian.Uint32(b[4:])
	switch code {
	case pgProto30, pgProto32, pgCancel, pgSSLReq, pgGSSENCReq:
	default:
		if code>>16 != 3 { // unknown protocol 3.x minors are still startups
			return 0, 0, false
		}
	}
	return code, int(n), true
}

// pgNext reads the header of the typed message at the start of b: its
// type, its body as far as captured, and its whole size (type byte
// included), which may exceed len(b). ok is false when fewer than 5 bytes
// are there or the length is impossible.
func pgNext(b []byte) (typ byte, body []byte, size int, ok bool) {
	if len(b) < 5 {
		return 0, nil, 0, false
	}
	n := binary.BigEndian.Uint32(b[1:])
	if n < 4 || n >= pgMaxMessage {
		return 0, nil, 0, false
	}
	size = 1 + int(n)
	return b[0], b[5:min(size, len(b))], size, true
}

// pgFrontendType reports whether t is a message type a client sends after
// the startup phase.
func pgFrontendType(t byte) bool {
	switch t {
	case 'Q', 'P', 'B', 'E', 'S', 'D', 'C', 'H', 'X', 'p', 'F', 'd', 'c', 'f':
		return true
	}
	return false
}

// pgBackendType reports whether t is a message type a server sends.
func pgBackendType(t byte) bool {
	switch t {
	case 'R', 'S', 'K', 'Z', 'E', 'N', 'C', 'T', 'D', '1', '2', '3', 'n', 't',
		's', 'I', 'G', 'H', 'W', 'A', 'd', 'c', 'V', 'v':
		return true
	}
	return false
}

// cstring splits b at its first NUL: the string and what follows it. ok is
// false when no NUL was captured.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// pgParse reads a Parse body: statement name and query text (the query
// may be cut by the capture; its start is what counts).
func pgParse(body []byte) (name, query []byte, ok bool) {
	name, rest, ok := cstring(body)
	if !ok {
		return nil, nil, false
	}
	query, _, _ = cstring(rest)
	return name, query, true
}

// pgBind reads the statement name of a Bind body (after the portal name).
func pgBind(body []byte) (stmt []byte, ok bool) {
	_, rest, ok := cstring(body)
	if !ok {
		return nil, false
	}
	stmt, _, ok = cstring(rest)
	return stmt, ok
}

// pgClose reads a Close body: 'S' for a statement, 'P' for a portal.
func pgClose(body []byte) (kind byte, name []byte, ok bool) {
	if len(body) < 1 {
		return 0, nil, false
	}
	name, _, ok = cstring(body[1:])
	return body[0], name, ok
}

// pgSQLState finds the SQLSTATE (field 'C') of an ErrorResponse body.
func pgSQLState(body []byte) (code [5]byte, ok bool) {
	for len(body) > 0 && body[0] != 0 {
		field := body[0]
		v, rest, found := cstring(body[1:])
		if !found {
			break
		}
		if field == 'C' {
			if len(v) != 5 {
				return code, false
			}
			copy(code[:], v)
			return code, true
		}
		body = rest
	}
	return code, false
}

// pgServerClass reports whether a SQLSTATE is the server's fault: classes
// 08 connection exception, 40 transaction rollback, 53 insufficient
// resources, 55 object not in prerequisite state (lock not available), 57
// operator intervention, 58 system error, XX internal error. Every other
// error is the client's.
func pgServerClass(code [5]byte) bool {
	switch string(code[:2]) {
	case "08", "40", "53", "55", "57", "58", "XX":
		return true
	}
	return false
}
