package proto

import "encoding/binary"

// DNS messages (RFC 1035): the header and the first question, which is all
// the dns parser needs; answers are never read.

// DNSMessage is what a DNS message says about its transaction.
type DNSMessage struct {
	ID       uint16
	Response bool   // QR
	Opcode   uint8  // 0 query
	Rcode    uint8  // header rcode (4 bits; the EDNS extension is not read)
	QType    uint16 // type of the first question; 0 when none was captured
}

// dnsHeaderLen is the size of the fixed header.
const dnsHeaderLen = 12

// ParseDNS reads the header and the type of the first question of a DNS
// message (a UDP payload, or a TCP one after the length). ok is false for
// fewer than 12 bytes; a question cut by the capture or malformed leaves
// QType 0. It allocates nothing.
func ParseDNS(b []byte) (m DNSMessage, ok bool) {
	if len(b) < dnsHeaderLen {
		return m, false
	}
	m.ID = binary.BigEndian.Uint16(b)
	m.Response = b[2]&0x80 != 0
	m.Opcode = b[2] >> 3 & 0x0f
	m.Rcode = b[3] & 0x0f
	if binary.BigEndian.Uint16(b[4:]) == 0 {
		return m, true
	}
	if i := dnsSkipName(b, dnsHeaderLen); i > 0 && i+4 <= len(b) {
		m.QType = binary.BigEndian.Uint16(b[i:])
	}
	return m, true
}

// StrictDNSQuery reports whether b is a standard query and nothing else: one
// question with a known class, no answers or authorities, at most one
// additional record (EDNS), and no bytes beyond the question when there is
// none. It tells DNS from other UDP traffic on ports other than 53.
func StrictDNSQuery(b []byte) bool {
	if len(b) < dnsHeaderLen+5 || b[2]&0xf8 != 0 || b[4] != 0 || b[5] != 1 ||
		b[6]|b[7]|b[8]|b[9]|b[10] != 0 || b[11] > 1 {
		return false
	}
	i := dnsSkipName(b, dnsHeaderLen)
	if i < 0 || i+4 > len(b) {
		return false
	}
	switch binary.BigEndian.Uint16(b[i+2:]) { // class
	case 1, 3, 4, 254, 255: // IN, CH, HS, NONE, ANY
	default:
		return false
	}
	if b[11] == 0 {
		return i+4 == len(b)
	}
	return i+4+11 <= len(b) && b[i+4] == 0 && binary.BigEndian.Uint16(b[i+5:]) == 41 // root name, OPT
}

// dnsSkipName returns the offset just past the name at b[i:], or -1 when
// it is malformed or cut. A compression pointer ends a name (questions
// rarely carry one, but they may).
func dnsSkipName(b []byte, i int) int {
	for n := 0; n < 128; n++ { // at most 127 labels fit in 255 bytes
		if i >= len(b) {
			return -1
		}
		l := int(b[i])
		switch {
		case l == 0:
			return i + 1
		case l&0xc0 == 0xc0:
			if i+2 > len(b) {
				return -1
			}
			return i + 2
		case l&0xc0 != 0:
			return -1 // extended label types are obsolete
		}
		i += 1 + l
	}
	return -1
}

// dnsTypeNames names the query types; others are TYPEn (RFC 3597).
var dnsTypeNames = [...]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX",
	16: "TXT", 17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA",
	29: "LOC", 33: "SRV", 35: "NAPTR", 36: "KX", 37: "CERT", 39: "DNAME",
	41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG",
	47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM",
	52: "TLSA", 53: "SMIMEA", 55: "HIP", 59: "CDS", 60: "CDNSKEY",
	61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 99: "SPF", 249: "TKEY",
	250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
}

// dnsTypeName writes the name of a query type into buf and returns it.
func dnsTypeName(t uint16, buf *[10]byte) []byte {
	if int(t) < len(dnsTypeNames) && dnsTypeNames[t] != "" {
		return append(buf[:0], dnsTypeNames[t]...)
	}
	b := append(buf[:0], "TYPE"...)
	return appendUint(b, uint64(t))
}

// appendUint appends the decimal digits of v to b.
func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// dnsRcodeNames are the rcode names of RFC 6895's registry.
var dnsRcodeNames = [...]string{
	0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
	5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
	10: "NOTZONE", 11: "DSOTYPENI",
}

// dnsRcodeName names an rcode; unnamed ones are RCODEn.
func dnsRcodeName(rc uint8, buf *[10]byte) []byte {
	if int(rc) < len(dnsRcodeNames) && dnsRcodeNames[rc] != "" {
		return append(buf[:0], dnsRcodeNames[rc]...)
	}
	return appendUint(append(buf[:0], "RCODE"...), uint64(rc))
}

// dnsServerError reports whether an rcode is the server's fault: SERVFAIL
// (TIMEOUT, which is no rcode, is too). NOERROR and NXDOMAIN are ok, every
// other rcode is the client's.
func dnsServerError(rc uint8) bool { return rc == 2 }
