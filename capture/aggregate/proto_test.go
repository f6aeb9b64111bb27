package aggregate

import (
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

func TestTxnBreakdown(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	id := a.Acquire(srvA)
	txns := []proto.Txn{
		{Protocol: proto.HTTP, Op: "GET /a", Status: "200", Result: proto.OK, Timed: true, ResponseTime: 100},
		{Protocol: proto.HTTP, Op: "GET /a", Status: "503", Result: proto.ServerError, Timed: true, ResponseTime: 300},
		{Protocol: proto.HTTP, Op: "POST /b", Status: "404", Result: proto.ClientError, Timed: true, ResponseTime: 50},
		{Protocol: proto.HTTP, Op: "POST /b"}, // no response seen
		{Protocol: proto.HTTP},                // no operation (a later TLS turn, say)
		{Protocol: proto.TCP, Op: "ignored", Status: "ignored"},
	}
	for i := range txns {
		a.TxnID(id, ns(time.Minute), &txns[i])
	}
	a.Flush()
	if len(got) != 1 {
		t.Fatalf("%d summaries", len(got))
	}
	s := got[0]
	if s.Protocol != "http" {
		t.Errorf("protocol %q", s.Protocol)
	}
	if s.ClientErrors != 1 || s.ServerErrors != 1 {
		t.Errorf("client_errors %d server_errors %d", s.ClientErrors, s.ServerErrors)
	}
	if fmt.Sprint(s.Statuses) != "map[200:1 404:1 503:1]" {
		t.Errorf("statuses %v", s.Statuses)
	}
	want := []string{"GET /a 2 1/0/1 rt 2 max 300", "POST /b 2 0/1/0 rt 1 max 50"}
	if len(s.Operations) != len(want) {
		t.Fatalf("operations %+v", s.Operations)
	}
	for i, o := range s.Operations {
		g := fmt.Sprintf("%s %d %d/%d/%d rt %d max %v", o.Name, o.Count, o.OK, o.ClientError, o.ServerError, o.ResponseTime.Count, o.ResponseTime.Max)
		if g != want[i] {
			t.Errorf("operation %d: %s, want %s", i, g, want[i])
		}
	}
}

func TestTxnOperationsBounded(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	id := a.Acquire(srvA)
	var total uint64
	for i := 0; i < 3*window.MaxOperations; i++ {
		n := 1 + i%3
		for j := 0; j < n; j++ {
			tx := proto.Txn{Protocol: proto.Redis, Op: fmt.Sprint("CMD", i), Status: "OK", Result: proto.OK}
			a.TxnID(id, ns(time.Minute), &tx)
			total++
		}
	}
	a.Flush()
	ops := got[0].Operations
	if len(ops) != window.MaxOperations+1 || ops[len(ops)-1].Name != window.OtherOperation {
		t.Fatalf("%d operations", len(ops))
	}
	var sum uint64
	for _, o := range ops {
		sum += o.Count
	}
	if sum != total {
		t.Errorf("operations count %d, want %d", sum, total)
	}
	if err := got[0].Validate(got[0].Start); err != nil {
		t.Error(err)
	}
}

func TestUDPServerIsItsOwnSummary(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	dns := tcp.Endpoint{Addr: [16]byte{10, 0, 0, 1}, Port: 53}
	tcpID, udpID := a.Acquire(dns), a.AcquireUDP(dns)
	if tcpID == udpID {
		t.Fatal("one handle for the tcp and the udp server")
	}
	a.CountID(tcpID, ns(time.Minute), window.Connections, 1)
	a.CountID(udpID, ns(time.Minute), window.Connections, 2)
	a.Flush()
	if len(got) != 2 || got[0].Transport != "" || got[0].Connections != 1 || got[1].Transport != "udp" || got[1].Connections != 2 {
		t.Fatalf("summaries %+v", got)
	}
}

func TestTxnAllocatesNothingOnceSeen(t *testing.T) {
	a := New(func(window.Summary) {})
	id := a.Acquire(srvA)
	tx := proto.Txn{Protocol: proto.HTTP, Op: "GET /a", Status: "200", Result: proto.OK, Timed: true, ResponseTime: 100}
	a.TxnID(id, ns(time.Minute), &tx)
	if n := testing.AllocsPerRun(100, func() { a.TxnID(id, ns(time.Minute), &tx) }); n != 0 {
		t.Errorf("%v allocations per transaction", n)
	}
}
