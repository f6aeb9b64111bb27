package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

// Synthetic captures with exact timestamps for the SQL and DNS rules of
// DESIGN.md's table: every turn below is request (client) at d, response
// (server) at d+rt; the test checks each transaction's operation, status,
// result and response_time.

// turn is one request/response of a scripted connection.
type turn struct {
	req, resp []byte
	rt        time.Duration // request's last segment → response's first
	op        string        // expected
	status    string
	result    string
}

// playConn plays a handshake, the turns 100 ms apart and a FIN exchange on
// one connection; banner, when set, is sent by the server first.
func playConn(c *synth.Capture, client, server string, banner []byte, turns []turn) {
	k := c.Conn(client, server)
	base := 10 * time.Millisecond
	k.Send(at(base), synth.Client, packet.SYN, 0)
	k.Send(at(base+ms(0.1)), synth.Server, packet.SYN|packet.ACK, 0)
	k.Send(at(base+ms(0.2)), synth.Client, packet.ACK, 0)
	d := base + ms(1)
	if banner != nil {
		k.SendData(at(d), synth.Server, packet.PSH|packet.ACK, banner)
		d += ms(1)
	}
	for _, tn := range turns {
		d += 100 * time.Millisecond
		k.SendData(at(d), synth.Client, packet.PSH|packet.ACK, tn.req)
		if tn.resp != nil {
			k.SendData(at(d+tn.rt), synth.Server, packet.PSH|packet.ACK, tn.resp)
			d += tn.rt
		}
	}
	d += 100 * time.Millisecond
	k.Send(at(d), synth.Client, packet.FIN|packet.ACK, 0)
	k.Send(at(d+ms(0.1)), synth.Server, packet.FIN|packet.ACK, 0)
	k.Send(at(d+ms(0.2)), synth.Client, packet.ACK, 0)
}

// runRecords runs c and returns its records by client and its summaries.
func runRecords(t *testing.T, c *synth.Capture) (map[string]*tcp.Record, []window.Summary) {
	t.Helper()
	recs := map[string]*tcp.Record{}
	var sums []window.Summary
	cfg := Config{
		OnRecord: func(r *tcp.Record) { recs[r.Client.String()+"/"+r.Transport] = r },
		OnWindow: func(s window.Summary) { sums = append(sums, s) },
	}
	if _, err := Run(context.Background(), writeSynth(t, c), cfg); err != nil {
		t.Fatal(err)
	}
	return recs, sums
}

func checkConn(t *testing.T, name string, r *tcp.Record, protocol string, turns []turn) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: no record", name)
	}
	if r.Protocol != protocol {
		t.Errorf("%s: protocol %q, want %s", name, r.Protocol, protocol)
	}
	var want []turn
	for _, tn := range turns {
		if tn.resp != nil {
			want = append(want, tn)
		}
	}
	var got []tcp.Transaction
	for _, x := range r.Transactions {
		if x.ResponseTime != nil {
			got = append(got, x)
		}
	}
	if len(got) != len(want) {
		for _, x := range r.Transactions {
			t.Logf("%s: %s %s %s %v", name, str(x.Operation), str(x.Status), str(x.Result), x.ResponseTime)
		}
		t.Fatalf("%s: %d answered transactions, want %d", name, len(got), len(want))
	}
	for i, x := range got {
		w := want[i]
		if str(x.Operation) != w.op || str(x.Status) != w.status || str(x.Result) != w.result ||
			*x.ResponseTime != float64(w.rt.Microseconds()) {
			t.Errorf("%s turn %d: %s %s %s %v µs, want %s %s %s %d µs", name, i, str(x.Operation), str(x.Status), str(x.Result),
				*x.ResponseTime, w.op, w.status, w.result, w.rt.Microseconds())
		}
	}
}

// PostgreSQL messages.

func pgM(typ byte, parts ...string) []byte {
	body := strings.Join(parts, "")
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func pgStartupPkt(code uint32, params string) []byte {
	b := make([]byte, 8, 8+len(params))
	binary.BigEndian.PutUint32(b[4:], code)
	b = append(b, params...)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func pgErr(code string) []byte {
	return pgM('E', "SERROR\x00VERROR\x00C"+code+"\x00Mfailed\x00\x00")
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func pgBind(stmt string) []byte {
	return cat(pgM('B', "\x00", stmt+"\x00", "\x00\x00\x00\x00\x00\x00"), pgM('D', "P\x00"), pgM('E', "\x00\x00\x00\x00\x00"), pgM('S'))
}

func TestSynthPostgres(t *testing.T) {
	ready := pgM('Z', "I")
	done := cat(pgM('2'), pgM('n'), pgM('C', "UPDATE 1\x00"), ready)
	turns := []turn{
		{pgStartupPkt(80877103, ""), []byte("N"), ms(0.05), "STARTUP", "OK", "ok"},
		{pgStartupPkt(3<<16, "user\x00bench\x00\x00"), pgM('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00"), ms(0.3), "STARTUP", "OK", "ok"},
		{pgM('p', "SCRAM-SHA-256\x00\x00\x00\x00\x04abcd"), pgM('R', "\x00\x00\x00\x0bxyz"), ms(2), "STARTUP", "OK", "ok"},
		{pgM('p', "proof"), cat(pgM('R', "\x00\x00\x00\x00"), pgM('S', "a\x00b\x00"), pgM('K', "12345678"), ready), ms(1.5), "STARTUP", "OK", "ok"},
		// Prepared by name, executed later by name.
		{cat(pgM('P', "P_1\x00", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2\x00", "\x00\x00"), pgM('S')), cat(pgM('1'), ready), ms(0.4), "PREPARE", "OK", "ok"},
		{cat(pgM('P', "P_2\x00", "select abalance from pgbench_accounts where aid = $1\x00", "\x00\x00"), pgM('S')), cat(pgM('1'), ready), ms(0.4), "PREPARE", "OK", "ok"},
		{pgBind("P_1"), done, ms(3.25), "UPDATE", "OK", "ok"},
		{pgBind("P_2"), cat(pgM('2'), pgM('T', "\x00\x00"), pgM('D', "\x00\x00"), pgM('C', "SELECT 1\x00"), ready), ms(0.75), "SELECT", "OK", "ok"},
		{pgBind("P_1"), cat(pgErr("40P01"), ready), ms(12), "UPDATE", "40P01", "server_error"},
		// SQLSTATE classes.
		{pgM('Q', "SELECT * FROM missing_table\x00"), cat(pgErr("42P01"), ready), ms(0.5), "SELECT", "42P01", "client_error"},
		{pgM('Q', "SELECT 10/0\x00"), cat(pgErr("22012"), ready), ms(0.5), "SELECT", "22012", "client_error"},
		{pgM('Q', "UPDATE pgbench_branches SET bbalance = 0 WHERE bid = 1\x00"), cat(pgErr("55P03"), ready), ms(50), "UPDATE", "55P03", "server_error"},
		{pgM('Q', "select pg_sleep(10)\x00"), cat(pgErr("57014"), ready), ms(1000), "SELECT", "57014", "server_error"},
		{pgM('Q', "INSERT INTO mix_keys VALUES ('a', 2)\x00"), cat(pgErr("23505"), ready), ms(0.9), "INSERT", "23505", "client_error"},
		{pgM('Q', "SELECT 1\x00"), cat(pgErr("53300"), ready), ms(0.2), "SELECT", "53300", "server_error"},
		{pgM('X'), nil, 0, "", "", ""},
	}
	var c synth.Capture
	playConn(&c, "10.0.0.1:40000", "10.0.0.2:5432", nil, turns)
	// The same on a port nothing says is PostgreSQL.
	playConn(&c, "10.0.0.1:40001", "10.0.0.2:15432", nil, turns)
	recs, sums := runRecords(t, &c)
	checkConn(t, "postgres", recs["10.0.0.1:40000/"], "postgres", turns)
	checkConn(t, "postgres on 15432", recs["10.0.0.1:40001/"], "postgres", turns)
	for _, s := range sums {
		if s.Server.Port() != 5432 {
			continue
		}
		if s.Protocol != "postgres" || s.Counters.ServerErrors != 4 || s.Counters.ClientErrors != 3 {
			t.Errorf("summary: protocol %q, server_errors %d, client_errors %d", s.Protocol, s.Counters.ServerErrors, s.Counters.ClientErrors)
		}
		for _, o := range s.Operations {
			if o.Name == "UPDATE" && (o.Count != 3 || o.OK != 1 || o.ServerError != 2) {
				t.Errorf("UPDATE: %+v", o)
			}
		}
	}
}

// MySQL packets.

func myPkt(seq byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return append([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}, p...)
}

func myCmdPkt(cmd byte, arg string) []byte { return myPkt(0, []byte{cmd}, []byte(arg)) }

func myExec(id uint32) []byte {
	b := []byte{0x17, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], id)
	return myPkt(0, b)
}

func myErrPkt(code uint16) []byte {
	return myPkt(1, []byte{0xff, byte(code), byte(code >> 8)}, []byte("#HY000failed"))
}

func TestSynthMySQL(t *testing.T) {
	ok := myPkt(1, []byte{0, 1, 0, 2, 0, 0, 0})
	prepOK := func(id uint32) []byte {
		b := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], id)
		return myPkt(1, b)
	}
	rows := cat(myPkt(1, []byte{1}), myPkt(2, []byte("\x03def\x00\x00\x00\x011\x00\x0c?\x00")), myPkt(3, []byte{0xfe, 0, 0, 2, 0}),
		myPkt(4, []byte("\x011")), myPkt(5, []byte{0xfe, 0, 0, 2, 0}))
	greeting := myPkt(0, []byte{10}, []byte("10.11.19-MariaDB\x00"), make([]byte, 40))
	turns := []turn{
		{myPkt(1, []byte{0x85, 0xa6, 0xff, 0x01}, make([]byte, 60)), myPkt(2, []byte{0, 0, 0, 2, 0, 0, 0}), ms(0.6), "LOGIN", "OK", "ok"},
		{myCmdPkt(0x02, "bench"), ok, ms(0.1), "USE", "OK", "ok"},
		{myCmdPkt(0x03, "SELECT * FROM no_such_orders"), myErrPkt(1146), ms(0.3), "SELECT", "1146", "client_error"},
		{myCmdPkt(0x03, "INSERT INTO mix_orders VALUES (10, 0)"), myErrPkt(1062), ms(0.4), "INSERT", "1062", "client_error"},
		{myCmdPkt(0x03, "SELECTT 1"), myErrPkt(1064), ms(0.2), "SELECTT", "1064", "client_error"},
		{myCmdPkt(0x03, "UPDATE mix_orders SET qty = 1"), myErrPkt(1213), ms(7), "UPDATE", "1213", "server_error"},
		{myCmdPkt(0x03, "UPDATE mix_orders SET qty = 2"), myErrPkt(1205), ms(50), "UPDATE", "1205", "server_error"},
		{myCmdPkt(0x03, "SELECT 1"), myErrPkt(1040), ms(0.1), "SELECT", "1040", "server_error"},
		{myCmdPkt(0x0e, ""), ok, ms(0.05), "PING", "OK", "ok"},
		// Prepared, then executed by statement id.
		{myCmdPkt(0x16, "INSERT INTO mix_stock_ps VALUES (?, ?, ?)"), prepOK(5), ms(0.3), "PREPARE", "OK", "ok"},
		{myCmdPkt(0x16, "SELECT name FROM mix_stock_ps WHERE id = ?"), prepOK(6), ms(0.3), "PREPARE", "OK", "ok"},
		{myExec(5), ok, ms(1.1), "INSERT", "OK", "ok"},
		{myExec(6), rows, ms(0.8), "SELECT", "OK", "ok"},
		{myExec(5), myErrPkt(1062), ms(0.9), "INSERT", "1062", "client_error"},
		{myCmdPkt(0x16, "SELEC ?"), myErrPkt(1064), ms(0.2), "PREPARE", "1064", "client_error"},
		{myCmdPkt(0x03, "SELECT @@version"), rows, ms(0.35), "SELECT", "OK", "ok"},
		{myCmdPkt(0x01, ""), nil, 0, "", "", ""},
	}
	var c synth.Capture
	playConn(&c, "10.0.0.1:41000", "10.0.0.2:3306", greeting, turns)
	playConn(&c, "[fd10::1]:41001", "[fd10::2]:13306", greeting, turns)
	recs, sums := runRecords(t, &c)
	checkConn(t, "mysql", recs["10.0.0.1:41000/"], "mysql", turns)
	checkConn(t, "mysql on 13306 over IPv6", recs["[fd10::1]:41001/"], "mysql", turns)
	for _, s := range sums {
		if s.Server.Port() == 3306 && (s.Counters.ServerErrors != 3 || s.Counters.ClientErrors != 5) {
			t.Errorf("summary: server_errors %d, client_errors %d", s.Counters.ServerErrors, s.Counters.ClientErrors)
		}
	}
}

// DNS.

func dnsPkt(t *testing.T, id uint16, qtype layers.DNSType, resp bool, rc layers.DNSResponseCode) []byte {
	d := &layers.DNS{ID: id, QR: resp, RD: true, ResponseCode: rc,
		Questions: []layers.DNSQuestion{{Name: []byte("web.corp.internal"), Type: qtype, Class: layers.DNSClassIN}}}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func TestSynthDNS(t *testing.T) {
	var c synth.Capture
	srv := "10.0.0.2:53"
	type want struct {
		client, op, status, result string
		at                         time.Duration
		rt                         *float64
	}
	f := func(v float64) *float64 { return &v }
	var wants []want
	udp := func(d time.Duration, client, srv string, id uint16, qt layers.DNSType, rc layers.DNSResponseCode, rt time.Duration, op, status, result string) {
		c.UDP(at(d), client, srv, dnsPkt(t, id, qt, false, 0))
		w := want{client, op, status, result, d, nil}
		if rt > 0 {
			c.UDP(at(d+rt), srv, client, dnsPkt(t, id, qt, true, rc))
			w.rt = f(float64(rt.Microseconds()))
		}
		wants = append(wants, w)
	}
	udp(ms(10), "10.0.0.1:50000", srv, 1, layers.DNSTypeA, 0, ms(0.297), "A", "NOERROR", "ok")
	udp(ms(20), "10.0.0.1:50001", srv, 2, layers.DNSTypeAAAA, layers.DNSResponseCodeNXDomain, ms(0.41), "AAAA", "NXDOMAIN", "ok")
	udp(ms(30), "10.0.0.1:50002", srv, 3, layers.DNSTypeTXT, layers.DNSResponseCodeServFail, ms(2.5), "TXT", "SERVFAIL", "server_error")
	udp(ms(40), "10.0.0.1:50003", srv, 4, layers.DNSTypeMX, layers.DNSResponseCodeRefused, ms(0.2), "MX", "REFUSED", "client_error")
	udp(ms(50), "[fd10::1]:50004", "[fd10::2]:53", 5, layers.DNSTypeSRV, 0, ms(0.3), "SRV", "NOERROR", "ok")
	// Unanswered: TIMEOUT, no timing.
	udp(ms(60), "10.0.0.1:50005", srv, 6, layers.DNSTypePTR, 0, 0, "PTR", "TIMEOUT", "server_error")
	// Repeated with the same id 1 s later, then answered: one transaction
	// timed from the first query, and a retransmit.
	c.UDP(at(ms(1070)), "10.0.0.1:50006", srv, dnsPkt(t, 7, layers.DNSType(65), false, 0))
	udp(ms(70), "10.0.0.1:50006", srv, 7, layers.DNSType(65), 0, ms(1000.5), "TYPE65", "NOERROR", "ok")
	// DNS over TCP: two queries on one connection.
	tcpMsg := func(m []byte) []byte { return append([]byte{byte(len(m) >> 8), byte(len(m))}, m...) }
	tcpTurns := []turn{
		{tcpMsg(dnsPkt(t, 8, layers.DNSTypeA, false, 0)), tcpMsg(dnsPkt(t, 8, layers.DNSTypeA, true, 0)), ms(0.35), "A", "NOERROR", "ok"},
		{tcpMsg(dnsPkt(t, 9, layers.DNSTypeAAAA, false, 0)), tcpMsg(dnsPkt(t, 9, layers.DNSTypeAAAA, true, layers.DNSResponseCodeServFail)), ms(4), "AAAA", "SERVFAIL", "server_error"},
	}
	playConn(&c, "10.0.0.1:50100", srv, nil, tcpTurns)

	recs, sums := runRecords(t, &c)
	checkConn(t, "dns/tcp", recs["10.0.0.1:50100/"], "dns", tcpTurns)
	for _, w := range wants {
		r := recs[w.client+"/udp"]
		if r == nil {
			t.Errorf("%s: no udp record", w.client)
			continue
		}
		if len(r.Transactions) != 1 || r.Protocol != "dns" {
			t.Errorf("%s: %+v", w.client, r)
			continue
		}
		x := r.Transactions[0]
		got := fmt.Sprintf("%s %s %s %v", str(x.Operation), str(x.Status), str(x.Result), x.RequestAt.Equal(at(w.at)))
		if exp := fmt.Sprintf("%s %s %s true", w.op, w.status, w.result); got != exp {
			t.Errorf("%s: %s, want %s", w.client, got, exp)
		}
		if (x.ResponseTime == nil) != (w.rt == nil) || w.rt != nil && (*x.ResponseTime != *w.rt || *x.TransferTime != *w.rt) {
			t.Errorf("%s: response_time %v, transfer_time %v, want %v", w.client, x.ResponseTime, x.TransferTime, w.rt)
		}
	}
	if r := recs["10.0.0.1:50006/udp"]; r == nil || r.Retransmits != 1 {
		t.Errorf("repeated query: %+v", r)
	}
	checkDNSSummaries(t, sums, srv)
}

// checkDNSSummaries checks TestSynthDNS's summaries of its IPv4 server, over
// UDP and over TCP.
func checkDNSSummaries(t *testing.T, sums []window.Summary, srv string) {
	var udpSum, tcpSum *window.Summary
	for i := range sums {
		if sums[i].Server.String() == srv {
			if sums[i].Transport == "udp" {
				udpSum = &sums[i]
			} else {
				tcpSum = &sums[i]
			}
		}
	}
	if udpSum == nil || tcpSum == nil {
		t.Fatalf("summaries: udp %v tcp %v", udpSum != nil, tcpSum != nil)
	}
	if c := udpSum.Counters; c.Connections != 6 || c.Transactions != 6 || c.Retransmits != 1 || c.Unanswered != 1 || c.ServerErrors != 2 || c.ClientErrors != 1 {
		t.Errorf("udp counters %+v", c)
	}
	if udpSum.Statuses["TIMEOUT"] != 1 || tcpSum.Protocol != "dns" || tcpSum.Counters.Transactions != 2 {
		t.Errorf("udp statuses %v, tcp %+v", udpSum.Statuses, tcpSum.Counters)
	}
}
