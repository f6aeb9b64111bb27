package proto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// recorder logs every write of both ends of a pipe as a segment.
type recorder struct {
	mu   sync.Mutex
	segs []step
}

type recConn struct {
	net.Conn
	r   *recorder
	dir byte
}

func (c recConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	c.r.segs = append(c.r.segs, step{dir: c.dir, data: string(b)})
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

func testCert(t testing.TB) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api.test"},
		DNSNames: []string{"api.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsSession runs a real crypto/tls handshake and one request/response over
// a pipe and returns what each side wrote.
func tlsSession(t testing.TB, cc *tls.Config, sc *tls.Config) []step {
	t.Helper()
	a, b := net.Pipe()
	rec := &recorder{}
	client := tls.Client(recConn{a, rec, 'c'}, cc)
	server := tls.Server(recConn{b, rec, 's'}, sc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := server.Handshake(); err != nil {
			return
		}
		buf := make([]byte, 100)
		n, _ := server.Read(buf)
		server.Write(buf[:n])
	}()
	if err := client.Handshake(); err == nil {
		client.Write([]byte("ping"))
		buf := make([]byte, 100)
		client.Read(buf)
	}
	a.Close() // not client.Close: its close_notify would wait for a reader
	b.Close()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.segs
}

func TestTLSHandshakes(t *testing.T) {
	cert := testCert(t)
	tests := []struct {
		name   string
		cc, sc *tls.Config
		want   string
		sni    string
		alpn   string
	}{
		{"TLS 1.3", &tls.Config{ServerName: "api.test", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}},
			&tls.Config{Certificates: []tls.Certificate{cert}}, "handshake|TLS1.3|ok", "api.test", "h2,http/1.1"},
		{"TLS 1.2", &tls.Config{ServerName: "shop.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
			&tls.Config{Certificates: []tls.Certificate{cert}}, "handshake|TLS1.2|ok", "shop.test", ""},
		{"alert", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
			&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, "handshake|alert:protocol_version|client_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := tlsSession(t, tt.cc, tt.sc)
			got, c, tb := txnLog(t, 8443, segs...)
			if c.Protocol() != TLS || len(got) == 0 || got[0] != tt.want {
				t.Fatalf("protocol %s, transactions %q, want first %q", c.Protocol(), got, tt.want)
			}
			for _, g := range got[1:] {
				if g != "||" {
					t.Errorf("later turn named %q", g)
				}
			}
			sni, alpn := c.TLSNames()
			if tb.SNI.Name(sni) != tt.sni || tb.SNI.Name(alpn) != tt.alpn {
				t.Errorf("sni %q alpn %q, want %q %q", tb.SNI.Name(sni), tb.SNI.Name(alpn), tt.sni, tt.alpn)
			}
		})
	}
}

func TestTLSInternalErrorIsServerError(t *testing.T) {
	hello := "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
	got, c, _ := txnLog(t, 443, cl(hello), sv("\x15\x03\x03\x00\x02\x02\x50"))
	checkLog(t, got, c, TLS, "handshake|alert:internal_error|server_error")
}

func TestTLSMidStream(t *testing.T) {
	got, c, _ := txnLog(t, 443, cl("\x17\x03\x03\x00\x04abcd"), sv("\x17\x03\x03\x00\x02xy"), cl("\x17\x03\x03\x00\x01z"), sv("\x17\x03\x03\x00\x01w"))
	checkLog(t, got, c, TLS, "||", "||")
}
