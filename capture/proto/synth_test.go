package proto_test

// Synthetic captures (package synth: gopacket layers, exact timestamps) run
// through the whole pipeline, as pastmon analyze runs them, pin DESIGN.md's
// rules for HTTP, TLS and Redis: what each transaction is called, and that
// its timings are the turn's, exactly.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

var t0 = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

const (
	syn    = packet.SYN
	synAck = packet.SYN | packet.ACK
	ack    = packet.ACK
	psh    = packet.PSH | packet.ACK
	fin    = packet.FIN | packet.ACK
)

// handshake opens k at ms: SYN, SYN/ACK 0.1 ms later, ACK 1 ms later.
func handshake(k *synth.Conn, ms float64) {
	k.Send(at(ms), synth.Client, syn, 0)
	k.Send(at(ms+0.1), synth.Server, synAck, 0)
	k.Send(at(ms+1.1), synth.Client, ack, 0)
}

type synthRun struct {
	records []*tcp.Record
	windows []window.Summary
}

func runCapture(t *testing.T, c *synth.Capture, noProtocols bool) synthRun {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var r synthRun
	cfg := capture.Config{
		NoProtocols: noProtocols,
		OnRecord:    func(rec *tcp.Record) { r.records = append(r.records, rec) },
		OnWindow:    func(s window.Summary) { r.windows = append(r.windows, s) },
	}
	if _, err := capture.Run(t.Context(), src, cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

func val(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// txns formats a record's transactions as "op|status|result rt tt".
func txns(r *tcp.Record) []string {
	var out []string
	for _, tx := range r.Transactions {
		out = append(out, fmt.Sprintf("%s|%s|%s %s %s", str(tx.Operation), str(tx.Status), str(tx.Result), val(tx.ResponseTime), val(tx.TransferTime)))
	}
	return out
}

func expect(t *testing.T, r *tcp.Record, protocol string, want ...string) {
	t.Helper()
	if r.Protocol != protocol {
		t.Errorf("%s: protocol %q, want %q", r.Client, r.Protocol, protocol)
	}
	if got := txns(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: transactions\n%s\nwant\n%s", r.Client, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSynthHTTP(t *testing.T) {
	var c synth.Capture
	s, cl, sv := synth.Server, synth.Client, psh
	// Status classes, templating, keep-alive, HEAD, Content-Length and
	// chunked bodies, a response across segments.
	a := c.Conn("10.0.0.1:40000", "10.0.0.2:80")
	handshake(a, 0)
	a.SendData(at(2), cl, sv, []byte("GET /users/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"))
	a.SendData(at(5), s, sv, []byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"))
	a.SendData(at(7), s, sv, []byte("56789"))
	a.SendData(at(10), cl, sv, []byte("HEAD /products/0f8fad5b-d9cb-469f-a165-70867728950e HTTP/1.1\r\n\r\n"))
	a.SendData(at(12), s, sv, []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 999\r\n\r\n"))
	a.SendData(at(20), cl, sv, []byte("GET /obj/00112233445566778899aabbccddeeff/stream HTTP/1.1\r\n\r\n"))
	a.SendData(at(21), s, sv, []byte("HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"))
	a.SendData(at(24), s, sv, []byte("0\r\n\r\n"))
	a.Send(at(30), cl, fin, 0)
	a.Send(at(30.1), s, fin, 0)
	// 100 Continue: the request ends with its body, the 100 is no response.
	b := c.Conn("10.0.0.1:40001", "10.0.0.2:80")
	handshake(b, 100)
	b.SendData(at(102), cl, sv, []byte("POST /put HTTP/1.1\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n"))
	b.SendData(at(103), s, sv, []byte("HTTP/1.1 100 Continue\r\n\r\n"))
	b.SendData(at(106), cl, sv, []byte("abcdef"))
	b.SendData(at(110), s, sv, []byte("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
	// Pipelining: one turn, named by its first request; Connection: close.
	p := c.Conn("10.0.0.1:40002", "10.0.0.2:80")
	handshake(p, 200)
	p.SendData(at(202), cl, sv, []byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"))
	p.SendData(at(204), s, sv, []byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"))
	p.SendData(at(205), s, sv, []byte("HTTP/1.1 this is body, not a response"))
	p.Send(at(206), s, fin, 0)
	// Another port.
	o := c.Conn("10.0.0.1:40003", "10.0.0.3:9999")
	handshake(o, 300)
	o.SendData(at(302), cl, sv, []byte("DELETE /items/7 HTTP/1.1\r\n\r\n"))
	o.SendData(at(303.5), s, sv, []byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
	// Picked up mid-stream: the end of a response, then a request.
	m := c.Conn("10.0.0.1:40004", "10.0.0.2:8080")
	m.SendData(at(400), s, sv, []byte("tail of a body"))
	m.SendData(at(402), cl, sv, []byte("GET /health HTTP/1.1\r\n\r\n"))
	m.SendData(at(403), s, sv, []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	m.SendData(at(410), cl, sv, []byte("GET /health HTTP/1.1\r\n\r\n"))
	m.SendData(at(411), s, sv, []byte("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"))

	r := runCapture(t, &c, false)
	byClient := map[string]*tcp.Record{}
	for _, rec := range r.records {
		byClient[rec.Client.String()] = rec
	}
	expect(t, byClient["10.0.0.1:40000"], "http",
		"GET /users/:id|200|ok 3000 5000", "HEAD /products/:id|404|client_error 2000 2000",
		"GET /obj/:id/stream|503|server_error 1000 4000")
	expect(t, byClient["10.0.0.1:40001"], "http", "POST /put|201|ok 4000 4000")
	expect(t, byClient["10.0.0.1:40002"], "http", "GET /a|200|ok 2000 3000") // the FIN carries no payload
	expect(t, byClient["10.0.0.1:40003"], "http", "DELETE /items/:id|401|client_error 1500 1500")
	expect(t, byClient["10.0.0.1:40004"], "http", "GET /health|204|ok 1000 1000", "GET /health|500|server_error 1000 1000")

	// Without the parsers, the 100 Continue would have ended the request:
	// that is the one timing the HTTP rules change.
	plain := runCapture(t, &c, true)
	for _, rec := range plain.records {
		if rec.Client.String() == "10.0.0.1:40001" {
			expect(t, rec, "tcp", "<null>|<null>|<null> 1000 1000", "<null>|<null>|<null> 4000 4000")
		}
	}
	checkBreakdown(t, r.windows, "10.0.0.2:80", "GET /a=1 GET /obj/:id/stream=1 GET /users/:id=1 HEAD /products/:id=1 POST /put=1",
		map[string]uint64{"200": 2, "201": 1, "404": 1, "503": 1}, 1, 1)
}

// checkBreakdown compares a server's summed breakdown to what the capture holds.
func checkBreakdown(t *testing.T, windows []window.Summary, server, ops string, statuses map[string]uint64, ce, se uint64) {
	t.Helper()
	var total *window.Summary
	for i := range windows {
		if windows[i].Server.String() != server {
			continue
		}
		if total == nil {
			total = &windows[i]
		} else if err := total.Merge(&windows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if total == nil {
		t.Fatalf("no summary of %s", server)
	}
	var got []string
	for _, o := range total.Operations {
		got = append(got, fmt.Sprintf("%s=%d", o.Name, o.Count))
	}
	// Equal counts come sorted by name.
	if strings.Join(got, " ") != ops || fmt.Sprint(total.Statuses) != fmt.Sprint(statuses) || total.ClientErrors != ce || total.ServerErrors != se {
		t.Errorf("%s: operations %s, statuses %v, errors %d/%d; want %s, %v, %d/%d", server, strings.Join(got, " "),
			total.Statuses, total.ClientErrors, total.ServerErrors, ops, statuses, ce, se)
	}
}

// TestSynthSnaplen: a request cut by the snap length keeps the segments of
// its URI that were captured; the response's status line is there, and
// every timing is the same as with full frames.
func TestSynthSnaplen(t *testing.T) {
	var c synth.Capture
	c.Snap = 14 + 20 + 20 + 30 // Ethernet, IPv4, TCP, 30 bytes of payload
	k := c.Conn("10.0.0.1:40000", "10.0.0.2:80")
	handshake(k, 0)
	k.SendData(at(2), synth.Client, psh, []byte("GET /api/v2/accounts/42/invoices/7 HTTP/1.1\r\nHost: a\r\n\r\n"))
	k.SendData(at(4), synth.Server, psh, []byte("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"))
	k.SendData(at(10), synth.Client, psh, []byte("GET /b HTTP/1.1\r\n\r\n"))
	k.SendData(at(13), synth.Server, psh, []byte("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("x", 1400)))
	k.SendData(at(14), synth.Server, psh, []byte(strings.Repeat("x", 1400)))
	r := runCapture(t, &c, false)
	// "GET /api/v2/accounts/42/invoic": 30 bytes; "invoic" may be cut.
	expect(t, r.records[0], "http", "GET /api/v2/accounts/:id/…|302|ok 2000 2000", "GET /b|200|ok 3000 4000")
}

func TestSynthRedis(t *testing.T) {
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", "10.0.0.2:6379")
	handshake(k, 0)
	cmds := []struct{ req, resp string }{
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "+OK\r\n"},
		{"*3\r\n$4\r\nSADD\r\n$1\r\nk\r\n$1\r\nx\r\n", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "$1\r\nv\r\n"},
		{"*1\r\n$6\r\nLRANGE\r\n", "-OOM command not allowed\r\n"},
		{"PING\r\n", "+PONG\r\n"},
		{"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", "!10\r\nNOPROTO x\r\n"},
	}
	for i, cmd := range cmds {
		base := 10 * float64(i+1)
		k.SendData(at(base), synth.Client, psh, []byte(cmd.req))
		k.SendData(at(base+0.25), synth.Server, psh, []byte(cmd.resp))
	}
	// Redis on another port.
	o := c.Conn("10.0.0.1:40001", "10.0.0.3:7001")
	handshake(o, 100)
	o.SendData(at(102), synth.Client, psh, []byte("*1\r\n$4\r\nPING\r\n"))
	o.SendData(at(102.5), synth.Server, psh, []byte("+PONG\r\n"))
	r := runCapture(t, &c, false)
	expect(t, r.records[0], "redis", "SET|OK|ok 250 250", "SADD|WRONGTYPE|client_error 250 250", "GET|OK|ok 250 250",
		"LRANGE|OOM|server_error 250 250", "PING|OK|ok 250 250", "HELLO|NOPROTO|client_error 250 250")
	expect(t, r.records[1], "redis", "PING|OK|ok 500 500")
}

// tlsFlight is one TLS session between crypto/tls ends, as each side wrote it.
func tlsFlight(t *testing.T, cc, sc *tls.Config) (writes []struct {
	client bool
	data   []byte
}) {
	t.Helper()
	a, b := net.Pipe()
	var mu sync.Mutex
	rec := func(client bool, p []byte) {
		mu.Lock()
		writes = append(writes, struct {
			client bool
			data   []byte
		}{client, append([]byte(nil), p...)})
		mu.Unlock()
	}
	client := tls.Client(writer{a, func(p []byte) { rec(true, p) }}, cc)
	server := tls.Server(writer{b, func(p []byte) { rec(false, p) }}, sc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if server.Handshake() == nil {
			buf := make([]byte, 64)
			n, _ := server.Read(buf)
			server.Write(buf[:n])
		}
	}()
	if client.Handshake() == nil {
		client.Write([]byte("ping"))
		client.Read(make([]byte, 64))
	}
	a.Close()
	b.Close()
	<-done
	return writes
}

type writer struct {
	net.Conn
	rec func([]byte)
}

func (w writer) Write(p []byte) (int, error) { w.rec(p); return w.Conn.Write(p) }

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestSynthTLS: TLS 1.2, TLS 1.3 and a handshake alert from real crypto/tls
// bytes; the handshake is the first transaction, timed ClientHello → the
// server's first flight; later turns have no operation.
func TestSynthTLS(t *testing.T) {
	cert := selfSigned(t)
	cases := []struct {
		name, client, server string
		cc, sc               *tls.Config
		first, sni           string
	}{
		{"TLS 1.3", "10.0.0.1:40000", "10.0.0.2:443", &tls.Config{ServerName: "api.test", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}},
			&tls.Config{Certificates: []tls.Certificate{cert}}, "handshake|TLS1.3|ok", "api.test"},
		{"TLS 1.2 on another port", "10.0.0.1:40001", "10.0.0.2:9443", &tls.Config{ServerName: "shop.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
			&tls.Config{Certificates: []tls.Certificate{cert}}, "handshake|TLS1.2|ok", "shop.test"},
		{"alert", "10.0.0.1:40002", "10.0.0.2:443", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
			&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, "handshake|alert:protocol_version|client_error", ""},
	}
	var c synth.Capture
	for i, tc := range cases {
		k := c.Conn(tc.client, tc.server)
		base := 1000 * float64(i)
		handshake(k, base)
		ms := base + 2
		for _, w := range tlsFlight(t, tc.cc, tc.sc) {
			side := synth.Server
			if w.client {
				side = synth.Client
			}
			for len(w.data) > 0 { // at most 1400 bytes a segment, 1 ms apart
				n := min(len(w.data), 1400)
				k.SendData(at(ms), side, psh, w.data[:n])
				w.data = w.data[n:]
				ms++
			}
		}
	}
	r := runCapture(t, &c, false)
	byClient := map[string]*tcp.Record{}
	for _, rec := range r.records {
		byClient[rec.Client.String()] = rec
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := byClient[tc.client]
			got := txns(rec)
			if rec.Protocol != "tls" || len(got) == 0 || !strings.HasPrefix(got[0], tc.first+" 1000 ") {
				t.Fatalf("protocol %s, transactions %q; want first %s timed 1000 µs", rec.Protocol, got, tc.first)
			}
			for _, g := range got[1:] {
				if !strings.HasPrefix(g, "<null>|<null>|<null> ") {
					t.Errorf("later turn %s", g)
				}
			}
			if str(rec.SNI) != tc.sni && !(tc.sni == "" && rec.SNI == nil) {
				t.Errorf("sni %s, want %q", str(rec.SNI), tc.sni)
			}
		})
	}
	if rec := byClient["10.0.0.1:40000"]; rec.ALPN != "h2,http/1.1" {
		t.Errorf("alpn %q", rec.ALPN)
	}
}
