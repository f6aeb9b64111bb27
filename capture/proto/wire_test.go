package proto

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Message builders shared by the parser tests.

// pgMsg builds a typed PostgreSQL message from body parts.
func pgMsg(typ byte, parts ...string) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

// pgStartupMsg builds a startup-phase packet with a request code.
func pgStartupMsg(code uint32, params ...string) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[4:], code)
	for _, p := range params {
		b = append(append(b, p...), 0)
	}
	if len(params) > 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func pgError(code string) []byte {
	return pgMsg('E', "SERROR\x00", "VERROR\x00", "C"+code+"\x00", "Mboom\x00", "\x00")
}

// myPacket builds a MySQL packet.
func myPacket(seq byte, payload ...[]byte) []byte {
	var p []byte
	for _, x := range payload {
		p = append(p, x...)
	}
	b := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	return append(b, p...)
}

func myERRPayload(code uint16) []byte {
	return append([]byte{0xff, byte(code), byte(code >> 8)}, "#42S02Table 'x' doesn't exist"...)
}

func TestPgStartup(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		code uint32
		ok   bool
	}{
		{"ssl", pgStartupMsg(pgSSLReq), pgSSLReq, true},
		{"startup", pgStartupMsg(pgProto30, "user", "bench"), pgProto30, true},
		{"cancel", append(pgStartupMsg(pgCancel), 0, 0, 0, 1, 0, 0, 0, 2), pgCancel, true},
		{"short", []byte{0, 0, 0, 8, 4}, 0, false},
		{"bad code", []byte{0, 0, 0, 8, 0, 2, 0, 0}, 0, false},
		{"bad length", []byte{0, 0, 0, 4, 0, 3, 0, 0}, 0, false},
		{"too long", []byte{0, 1, 0, 0, 0, 3, 0, 0}, 0, false},
		{"http", []byte("GET / HTTP/1.1\r\n"), 0, false},
	} {
		code, _, ok := pgStartup(tc.b)
		if code != tc.code || ok != tc.ok {
			t.Errorf("%s: pgStartup = %d, %v; want %d, %v", tc.name, code, ok, tc.code, tc.ok)
		}
	}
}

func TestPgMessages(t *testing.T) {
	parse := pgMsg('P', "P_1\x00", "SELECT 1\x00", "\x00\x00")
	typ, body, size, ok := pgNext(parse)
	if !ok || typ != 'P' || size != len(parse) {
		t.Fatalf("pgNext(Parse) = %q, %d, %v", typ, size, ok)
	}
	name, query, ok := pgParse(body)
	if !ok || string(name) != "P_1" || string(query) != "SELECT 1" {
		t.Errorf("pgParse = %q, %q, %v", name, query, ok)
	}
	// Cut by the capture: the size still comes from the header.
	_, body, size, ok = pgNext(parse[:12])
	if !ok || size != len(parse) || len(body) != 7 {
		t.Errorf("pgNext(cut) = body %d, size %d, %v", len(body), size, ok)
	}
	if name, query, ok = pgParse(body); !ok || string(name) != "P_1" || string(query) != "SEL" {
		t.Errorf("pgParse(cut) = %q, %q, %v", name, query, ok)
	}
	_, body, _, _ = pgNext(pgMsg('B', "\x00", "P_1\x00", "\x00\x00\x00\x00\x00\x00"))
	if stmt, ok := pgBind(body); !ok || string(stmt) != "P_1" {
		t.Errorf("pgBind = %q, %v", stmt, ok)
	}
	_, body, _, _ = pgNext(pgMsg('C', "S", "P_1\x00"))
	if kind, name, ok := pgClose(body); !ok || kind != 'S' || string(name) != "P_1" {
		t.Errorf("pgClose = %q, %q, %v", kind, name, ok)
	}
	if _, _, _, ok := pgNext([]byte{'Q', 0, 0, 0, 3}); ok {
		t.Error("pgNext accepted a length below 4")
	}
	if _, _, _, ok := pgNext([]byte{'Q', 0, 0}); ok {
		t.Error("pgNext accepted 3 bytes")
	}
}

func TestPgSQLState(t *testing.T) {
	for _, tc := range []struct {
		body   []byte
		code   string
		ok     bool
		server bool
	}{
		{pgError("42P01")[5:], "42P01", true, false},
		{pgError("22012")[5:], "22012", true, false},
		{pgError("23505")[5:], "23505", true, false},
		{pgError("55P03")[5:], "55P03", true, true},
		{pgError("40P01")[5:], "40P01", true, true},
		{pgError("53300")[5:], "53300", true, true},
		{pgError("57014")[5:], "57014", true, true},
		{pgError("08006")[5:], "08006", true, true},
		{pgError("58030")[5:], "58030", true, true},
		{pgError("XX000")[5:], "XX000", true, true},
		{pgError("28P01")[5:], "28P01", true, false},
		{[]byte("SERROR\x00C42P0"), "", false, false},      // cut
		{[]byte("SERROR\x00C4\x00\x00"), "", false, false}, // not 5 chars
		{[]byte("\x00"), "", false, false},
	} {
		code, ok := pgSQLState(tc.body)
		if ok != tc.ok || ok && string(code[:]) != tc.code {
			t.Errorf("pgSQLState(%q) = %q, %v; want %q, %v", tc.body, code, ok, tc.code, tc.ok)
		}
		if ok && pgServerClass(code) != tc.server {
			t.Errorf("pgServerClass(%s) = %v, want %v", code, !tc.server, tc.server)
		}
	}
}

func TestMySQLPackets(t *testing.T) {
	q := myPacket(0, []byte{myQuery}, []byte("SELECT 1"))
	seq, p, size, ok := myNext(q)
	if !ok || seq != 0 || size != len(q) || p[0] != myQuery || string(p[1:]) != "SELECT 1" {
		t.Fatalf("myNext = %d, %q, %d, %v", seq, p, size, ok)
	}
	if _, p, size, _ = myNext(q[:6]); size != len(q) || len(p) != 2 {
		t.Errorf("myNext(cut) = %q, %d", p, size)
	}
	if code, ok := myErrCode(myERRPayload(1146)); !ok || code != 1146 {
		t.Errorf("myErrCode = %d, %v", code, ok)
	}
	if _, ok := myErrCode([]byte{0x00, 1, 2}); ok {
		t.Error("myErrCode accepted an OK")
	}
	if id, ok := myPrepareOK([]byte{0, 7, 0, 0, 0, 1, 0, 2, 0, 0}); !ok || id != 7 {
		t.Errorf("myPrepareOK = %d, %v", id, ok)
	}
	greet := append([]byte{10}, "10.11.19-MariaDB\x00\x01\x02"...)
	if !myGreeting(greet) || myGreeting([]byte{10, 0}) || myGreeting([]byte{9, 'x', 0}) ||
		myGreeting(append([]byte{10}, "\x01bad\x00"...)) {
		t.Error("myGreeting")
	}
	for code, server := range map[uint16]bool{
		1146: false, 1062: false, 1064: false, 1045: false, 1213: true, 1205: true,
		1040: true, 1053: true, 1021: true, 1037: true, 1038: true, 1041: true, 1114: true,
	} {
		if myServerError(code) != server {
			t.Errorf("myServerError(%d) = %v", code, !server)
		}
	}
}

// dnsQuery builds a DNS message with gopacket.
func dnsQuery(t testing.TB, id uint16, qtype layers.DNSType, resp bool, rc layers.DNSResponseCode) []byte {
	d := &layers.DNS{ID: id, QR: resp, RD: true, ResponseCode: rc,
		Questions: []layers.DNSQuestion{{Name: []byte("web.corp.internal"), Type: qtype, Class: layers.DNSClassIN}}}
	if resp && rc == 0 && qtype == layers.DNSTypeA {
		d.Answers = []layers.DNSResourceRecord{{Name: []byte("web.corp.internal"), Type: layers.DNSTypeA,
			Class: layers.DNSClassIN, TTL: 60, IP: []byte{172, 20, 1, 10}}}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// TestDNSParseAgainstGopacket checks ParseDNS against gopacket's decoder.
func TestDNSParseAgainstGopacket(t *testing.T) {
	for _, tc := range []struct {
		qtype layers.DNSType
		resp  bool
		rc    layers.DNSResponseCode
	}{
		{layers.DNSTypeA, false, 0}, {layers.DNSTypeA, true, 0}, {layers.DNSTypeAAAA, true, 3},
		{layers.DNSTypeSRV, true, 2}, {layers.DNSTypeMX, true, 5}, {layers.DNSType(65), false, 0},
	} {
		b := dnsQuery(t, 0x1234, tc.qtype, tc.resp, tc.rc)
		var ref layers.DNS
		if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		m, ok := ParseDNS(b)
		if !ok || m.ID != ref.ID || m.Response != ref.QR || m.Rcode != uint8(ref.ResponseCode) ||
			m.QType != uint16(ref.Questions[0].Type) {
			t.Errorf("ParseDNS = %+v, %v; gopacket %d %v %d %d", m, ok, ref.ID, ref.QR, ref.ResponseCode, ref.Questions[0].Type)
		}
	}
	if _, ok := ParseDNS(make([]byte, 11)); ok {
		t.Error("ParseDNS accepted 11 bytes")
	}
	b := dnsQuery(t, 1, layers.DNSTypeA, false, 0)
	if m, ok := ParseDNS(b[:20]); !ok || m.QType != 0 {
		t.Errorf("ParseDNS(cut question) = %+v, %v", m, ok)
	}
}

func TestDNSNames(t *testing.T) {
	var buf [10]byte
	for typ, want := range map[uint16]string{1: "A", 28: "AAAA", 33: "SRV", 12: "PTR", 16: "TXT", 15: "MX",
		65: "TYPE65", 0: "TYPE0", 65535: "TYPE65535", 257: "CAA"} {
		if got := string(dnsTypeName(typ, &buf)); got != want {
			t.Errorf("dnsTypeName(%d) = %q, want %q", typ, got, want)
		}
	}
	for rc, want := range map[uint8]string{0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED", 15: "RCODE15"} {
		if got := string(dnsRcodeName(rc, &buf)); got != want {
			t.Errorf("dnsRcodeName(%d) = %q, want %q", rc, got, want)
		}
	}
}
