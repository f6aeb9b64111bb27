package live

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// dnsQuery is a query for web.test of type qtype.
func dnsQuery(id, qtype uint16) []byte {
	b := make([]byte, 12, 40)
	binary.BigEndian.PutUint16(b, id)
	b[2], b[5] = 0x01, 1
	b = append(b, "\x03web\x04test\x00"...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, qtype), 1)
}

// TestDNSOverUDPLive captures real DNS over UDP between two namespaces
// through the whole pipeline: answered queries are transactions with their
// rcode and a response time, a query repeated with the same id counts in
// retransmits, and the server's summary has transport udp.
func TestDNSOverUDPLive(t *testing.T) {
	requireNetns(t)
	a, b := newNetns(t), newNetns(t)
	_, ipB := vethPair(t, a, "dnsa", b, "dnsb", 53)
	var conn *net.UDPConn
	if err := inNetns(t, b, func() (err error) {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ipB), Port: 53})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { // answers NXDOMAIN for AAAA, NOERROR otherwise; drops the first query with id 3
		buf := make([]byte, 512)
		seen3 := false
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m := buf[:n]
			if binary.BigEndian.Uint16(m) == 3 && !seen3 {
				seen3 = true
				continue
			}
			m[2] |= 0x80
			if binary.BigEndian.Uint16(m[n-4:]) == 28 {
				m[3] = 3
			}
			_, _ = conn.WriteToUDP(m, from)
		}
	}()

	ctx, cancel := context.WithCancel(t.Context())
	src := openIn(t, ctx, a, Config{Interfaces: []string{"dnsa"}, BlockTimeout: 20 * time.Millisecond})
	var (
		mu      sync.Mutex
		records []*tcp.Record
		sums    []window.Summary
	)
	done := make(chan error, 1)
	go func() {
		_, err := capture.Run(ctx, src, capture.Config{Live: true,
			OnRecord: func(r *tcp.Record) { mu.Lock(); records = append(records, r); mu.Unlock() },
			OnWindow: func(s window.Summary) { mu.Lock(); sums = append(sums, s); mu.Unlock() }})
		done <- err
	}()

	var cl *net.UDPConn
	if err := inNetns(t, a, func() (err error) {
		cl, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(ipB), Port: 53})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ask := func(id, qtype uint16, tries int) {
		buf := make([]byte, 512)
		for range tries {
			if _, err := cl.Write(dnsQuery(id, qtype)); err != nil {
				t.Fatal(err)
			}
			_ = cl.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := cl.Read(buf); err == nil {
				return
			}
		}
		t.Fatalf("query %d: no answer", id)
	}
	time.Sleep(100 * time.Millisecond) // the ring is open before the first query
	ask(1, 1, 1)
	ask(2, 28, 1)
	ask(3, 33, 2)
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(records) != 1 {
		t.Fatalf("%d records, want the one UDP flow: %+v", len(records), records)
	}
	r := records[0]
	if r.Transport != "udp" || r.Protocol != "dns" || r.Retransmits != 1 || len(r.Transactions) != 3 {
		t.Fatalf("record %+v", r)
	}
	for i, want := range [][3]string{{"A", "NOERROR", "ok"}, {"AAAA", "NXDOMAIN", "ok"}, {"SRV", "NOERROR", "ok"}} {
		x := r.Transactions[i]
		if x.Operation == nil || *x.Operation != want[0] || *x.Status != want[1] || *x.Result != want[2] ||
			x.ResponseTime == nil || *x.ResponseTime <= 0 {
			t.Errorf("transaction %d: %+v, want %v", i, x, want)
		}
	}
	var udpTx uint64
	for _, s := range sums {
		if s.Transport == "udp" && s.Server.Port() == 53 {
			udpTx += s.Counters.Transactions
		}
	}
	if udpTx != 3 {
		t.Errorf("udp server summaries count %d transactions, want 3", udpTx)
	}
}
