package proto

import (
	"encoding/binary"
	"strconv"
)

// TLS: the handshake is the connection's first transaction, ClientHello →
// the server's first flight. The ClientHello gives the server name (SNI),
// the ALPN protocols offered and the versions offered; the first flight
// gives the negotiated version (ServerHello's supported_versions, else its
// legacy version) or the plaintext alert the handshake ended in. Later turns
// are encrypted: they are timed without an operation. Only the captured
// bytes of each segment are read: a ClientHello longer than the snap length
// loses the extensions beyond it.

type tlsState struct {
	left  uint32  // bytes left of the server record being skipped
	hdrN  uint8   // bytes of a split server record header held in hdr
	hdr   [5]byte // the split record header
	phase uint8   // tp*
	_     uint8
	sni   uint16 // in Tables.SNI
	alpn  uint16 // in Tables.SNI: the protocols offered, comma-separated
	_     [4]byte
}

// tlsState.phase values.
const (
	tpHello  uint8 = iota // waiting for the ClientHello
	tpFlight              // reading the server's first flight
	tpDone                // the handshake is over: nothing more to read
)

const (
	recCCS       = 20
	recAlert     = 21
	recHandshake = 22
	recAppData   = 23
	maxRecord    = 1<<14 + 2048
)

// looksTLS accepts a TLS record header: a ClientHello from the client, any
// record from the server (or from a client picked up mid-stream).
func looksTLS(data []byte, client bool) Match {
	if len(data) < 5 || data[1] != 3 || data[2] > 4 || data[0] < recCCS || data[0] > recAppData {
		return NoMatch
	}
	if binary.BigEndian.Uint16(data[3:5]) > maxRecord {
		return NoMatch
	}
	if client && data[0] == recHandshake && len(data) > 5 && data[5] != 1 {
		return NoMatch
	}
	return Strong
}

func (s *tlsState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	switch s.phase {
	case tpHello:
		if len(data) < 5 || data[0] != recHandshake {
			s.phase = tpDone // picked up mid-stream
			return
		}
		c.setOp(t.Ops.IDString("handshake"))
		s.clientHello(t, data[5:min(len(data), 5+int(binary.BigEndian.Uint16(data[3:5])))])
		s.phase = tpFlight
	case tpFlight:
		if run {
			s.phase = tpDone // the client answers the first flight
		}
	}
}

// clientHello reads a ClientHello handshake message, as much as captured.
func (s *tlsState) clientHello(t *Tables, b []byte) {
	if len(b) < 4+2+32+1 || b[0] != 1 {
		return
	}
	b = b[4+2+32:] // type, length, legacy version, random
	b, ok := skip8(b)
	if !ok {
		return
	}
	if b, ok = skip16(b); !ok { // cipher suites
		return
	}
	if b, ok = skip8(b); !ok || len(b) < 2 { // compression methods
		return
	}
	b = b[2:]
	for len(b) >= 4 {
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		ext := b[4:min(len(b), 4+n)]
		switch typ {
		case 0: // server_name: list length, type 0, name length, name
			if len(ext) >= 5 && ext[2] == 0 {
				name := ext[5:min(len(ext), 5+int(binary.BigEndian.Uint16(ext[3:5])))]
				s.sni = t.SNI.ID(name)
			}
		case 16: // application_layer_protocol_negotiation
			s.alpn = alpnList(t, ext)
		}
		if 4+n > len(b) {
			return
		}
		b = b[4+n:]
	}
}

// alpnList interns the offered protocols as one comma-separated name.
func alpnList(t *Tables, ext []byte) uint16 {
	if len(ext) < 2 {
		return NoName
	}
	ext = ext[2:]
	var buf [MaxSNILen]byte
	out := buf[:0]
	for len(ext) > 0 {
		n := int(ext[0])
		if 1+n > len(ext) {
			break
		}
		if len(out) > 0 {
			out = appendCapped(out, []byte(","))
		}
		out = appendCapped(out, ext[1:1+n])
		ext = ext[1+n:]
	}
	return t.SNI.ID(out)
}

func skip8(b []byte) ([]byte, bool) {
	if len(b) < 1 || 1+int(b[0]) > len(b) {
		return b, false
	}
	return b[1+int(b[0]):], true
}

func skip16(b []byte) ([]byte, bool) {
	if len(b) < 2 || 2+int(binary.BigEndian.Uint16(b)) > len(b) {
		return b, false
	}
	return b[2+int(binary.BigEndian.Uint16(b)):], true
}

func (s *tlsState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	if s.phase != tpFlight {
		return false
	}
	unseen := n - len(data)
	for len(data) > 0 && s.phase == tpFlight {
		if s.left > 0 {
			k := min(uint32(len(data)), s.left)
			s.left -= k
			data = data[k:]
			continue
		}
		k := copy(s.hdr[s.hdrN:], data)
		s.hdrN += uint8(k)
		if s.hdrN < 5 {
			return false
		}
		body := data[k:]
		s.hdrN = 0
		typ, size := s.hdr[0], binary.BigEndian.Uint16(s.hdr[3:5])
		if s.hdr[1] != 3 || typ < recCCS || typ > recAppData || size > maxRecord {
			c.fail(t)
			return false
		}
		s.record(c, t, typ, body[:min(len(body), int(size))])
		s.left = uint32(size)
		data = body
	}
	if unseen > 0 && s.phase == tpFlight {
		if uint32(unseen) <= s.left {
			s.left -= uint32(unseen)
		} else {
			s.phase = tpDone // lost the record boundaries: the status stays as found
		}
	}
	return false
}

// record reads the captured start of one record of the server's first flight.
func (s *tlsState) record(c *Conn, t *Tables, typ byte, b []byte) {
	switch typ {
	case recHandshake:
		if len(b) >= 4+2 && b[0] == 2 { // ServerHello
			c.setStatus(t.Statuses.IDString(versionName(serverVersion(b[4:]))), OK)
		}
	case recAlert:
		if len(b) >= 2 {
			var buf [MaxStatusLen]byte
			name := append(append(buf[:0], "alert:"...), alertName(b[1])...)
			r := ClientError
			if b[1] == 80 { // internal_error
				r = ServerError
			}
			c.setStatus(t.Statuses.ID(name), r)
		}
		s.phase = tpDone
	default: // ChangeCipherSpec, application data: encrypted from here on
		s.phase = tpDone
	}
}

// serverVersion is the version a ServerHello (after its handshake header)
// chose: supported_versions when present, else the legacy version.
func serverVersion(b []byte) uint16 {
	v := binary.BigEndian.Uint16(b)
	if len(b) < 2+32+1 {
		return v
	}
	rest, ok := skip8(b[2+32:]) // session id
	if !ok || len(rest) < 2+1+2 {
		return v
	}
	rest = rest[3:] // cipher suite, compression
	rest = rest[2:min(len(rest), 2+int(binary.BigEndian.Uint16(rest)))]
	for len(rest) >= 4 {
		typ, n := binary.BigEndian.Uint16(rest), int(binary.BigEndian.Uint16(rest[2:]))
		if typ == 43 && n == 2 && len(rest) >= 6 {
			return binary.BigEndian.Uint16(rest[4:])
		}
		if 4+n > len(rest) {
			break
		}
		rest = rest[4+n:]
	}
	return v
}

// versionName is DESIGN.md's name of a TLS version ("TLS1.3").
func versionName(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL3.0"
	case 0x0301:
		return "TLS1.0"
	case 0x0302:
		return "TLS1.1"
	case 0x0303:
		return "TLS1.2"
	case 0x0304:
		return "TLS1.3"
	}
	return versionNames[v&0xff]
}

var versionNames = func() (n [256]string) {
	for i := range n {
		n[i] = "0x03" + strconv.FormatUint(uint64(0x100|i), 16)[1:]
	}
	return n
}()

// alertName is the RFC 8446 name of an alert description.
func alertName(d byte) string {
	if n := alertNames[d]; n != "" {
		return n
	}
	return alertNumbers[d]
}

var alertNames = [256]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
	45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
	109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
	112: "unrecognized_name", 113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
	115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
	121: "ech_required",
}

var alertNumbers = func() (n [256]string) {
	for i := range n {
		n[i] = strconv.Itoa(i)
	}
	return n
}()

// TLSNames returns the ids, in Tables.SNI, of a TLS connection's server
// name and of the ALPN protocols its client offered (NoName for none).
func (c *Conn) TLSNames() (sni, alpn uint16) {
	if c.proto != TLS {
		return NoName, NoName
	}
	s := c.st.tls()
	return s.sni, s.alpn
}
