package tcp_test

// The scenarios of these tests are synthetic captures (package synth) run
// through the whole pipeline, decode → track → aggregate, as pastmon
// analyze runs them; each file tests the rules of the tracker file it is
// named after.

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

// Every scenario starts at t0, one minute into a 5-minute window.
var t0 = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// usBetween is the timing from a to b in µs, computed from the chosen times.
func usBetween(a, b time.Duration) float64 { return float64(b-a) / 1e3 }

const (
	syn    = packet.SYN
	synAck = packet.SYN | packet.ACK
	ack    = packet.ACK
	psh    = packet.PSH | packet.ACK
	fin    = packet.FIN | packet.ACK
	rst    = packet.RST | packet.ACK
)

type runResult struct {
	windows []window.Summary
	records []*tcp.Record
	stats   capture.Stats
}

func runSynth(t *testing.T, c *synth.Capture, cfg capture.Config) runResult {
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
	var r runResult
	cfg.OnWindow = func(s window.Summary) { r.windows = append(r.windows, s) }
	cfg.OnRecord = func(rec *tcp.Record) { r.records = append(r.records, rec) }
	r.stats, err = capture.Run(context.Background(), src, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

// total merges every window of server.
func (r runResult) total(t *testing.T, server string) window.Summary {
	t.Helper()
	s := window.Summary{Server: netip.MustParseAddrPort(server)}
	found := false
	for _, w := range r.windows {
		if w.Server == s.Server {
			found = true
			s.Counters.Add(&w.Counters)
			for i := range s.Metrics {
				s.Metrics[i].Merge(&w.Metrics[i])
			}
		}
	}
	if !found {
		t.Fatalf("no window for server %s; have %v", server, r.servers())
	}
	return s
}

func (r runResult) servers() []string {
	var out []string
	for _, w := range r.windows {
		out = append(out, w.Server.String()+"@"+w.Start.Format("15:04"))
	}
	return out
}

// wantDist checks a distribution against the exact values it must hold.
func wantDist(t *testing.T, what string, d *window.Dist, values ...float64) {
	t.Helper()
	if d.Count != uint64(len(values)) {
		t.Errorf("%s: count %d, want %d (%v)", what, d.Count, len(values), values)
		return
	}
	if len(values) == 0 {
		return
	}
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, v := range values {
		sum += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.Abs(d.Sum-sum) > 1e-6 || math.Abs(d.Min-lo) > 1e-6 || math.Abs(d.Max-hi) > 1e-6 {
		t.Errorf("%s: sum/min/max %v/%v/%v, want %v/%v/%v (%v)", what, d.Sum, d.Min, d.Max, sum, lo, hi, values)
	}
}

func wantPtr(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || math.Abs(*got-want) > 1e-6 {
		t.Errorf("%s = %v, want %v", what, fmtPtr(got), want)
	}
}

func wantNull(t *testing.T, what string, got *float64) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %v, want null", what, *got)
	}
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func wantCounters(t *testing.T, got, want window.Counters) {
	t.Helper()
	if got != want {
		t.Errorf("counters\n got %+v\nwant %+v", got, want)
	}
}

// handshake times used by most scenarios: the server is 0.3 ms from the
// sensor, the client 20 ms.
var (
	hSyn    = ms(0)
	hSynAck = ms(0.3)
	hAck    = ms(20.3)
)

func handshake(k *synth.Conn, base time.Duration) {
	k.Send(at(base+hSyn), synth.Client, syn, 0)
	k.Send(at(base+hSynAck), synth.Server, synAck, 0)
	k.Send(at(base+hAck), synth.Client, ack, 0)
}

// basicExchange is one request/response turn after the handshake, then a
// clean close. It returns the times it chose.
type exchange struct {
	req, srvAck, resp1, resp2, cliAck, cliFin, srvFin time.Duration
	reqBytes, resp1Bytes, resp2Bytes                  int
}

var basic = exchange{
	req: ms(21.5), srvAck: ms(21.6), resp1: ms(26.4), resp2: ms(27), cliAck: ms(47), cliFin: ms(50), srvFin: ms(50.2),
	reqBytes: 100, resp1Bytes: 1000, resp2Bytes: 500,
}

func (e exchange) play(k *synth.Conn) {
	handshake(k, 0)
	k.Send(at(e.req), synth.Client, psh, e.reqBytes)
	k.Send(at(e.srvAck), synth.Server, ack, 0)
	k.Send(at(e.resp1), synth.Server, ack, e.resp1Bytes)
	k.Send(at(e.resp2), synth.Server, psh, e.resp2Bytes)
	k.Send(at(e.cliAck), synth.Client, ack, 0)
	k.Send(at(e.cliFin), synth.Client, fin, 0)
	k.Send(at(e.srvFin), synth.Server, fin, 0)
	k.Send(at(e.srvFin+ms(20)), synth.Client, ack, 0)
}

// checkBasic checks what basic.play must measure, with or without TCP
// timestamps (the continuous samples are the same by construction: every
// sampled segment starts a new millisecond).
func checkBasic(t *testing.T, r runResult, server string) {
	t.Helper()
	e := basic
	s := r.total(t, server)
	wantCounters(t, s.Counters, window.Counters{
		Connections: 1, Established: 1, Transactions: 1,
		BytesToServer: uint64(e.reqBytes), BytesFromServer: uint64(e.resp1Bytes + e.resp2Bytes),
	})
	rs, rc := usBetween(hSyn, hSynAck), usBetween(hSynAck, hAck)
	// Continuous halves: the request answered by the server's ACK, the
	// first response segment by the client's ACK.
	rs2, rc2 := usBetween(e.req, e.srvAck), usBetween(e.resp1, e.cliAck)
	wantDist(t, "rtt_server", &s.Metrics[window.RTTServer], rs, rs2)
	wantDist(t, "rtt_client", &s.Metrics[window.RTTClient], rc, rc2)
	wantDist(t, "rtt", &s.Metrics[window.RTT], rs+rc, rs2+rc, rc2+rs2)
	wantDist(t, "connect_time", &s.Metrics[window.ConnectTime], usBetween(hSyn, hAck))
	wantDist(t, "response_time", &s.Metrics[window.ResponseTime], usBetween(e.req, e.resp1))
	wantDist(t, "transfer_time", &s.Metrics[window.TransferTime], usBetween(e.req, e.resp2))
	if len(r.records) != 1 {
		t.Fatalf("%d records, want 1", len(r.records))
	}
	rec := r.records[0]
	if rec.Server.String() != server || rec.Outcome != tcp.OutcomeEstablished || !rec.Start.Equal(at(hSyn)) {
		t.Errorf("record %+v", rec)
	}
	wantPtr(t, "rtt_server_us", rec.RTTServer, rs)
	wantPtr(t, "rtt_client_us", rec.RTTClient, rc)
	wantPtr(t, "connect_time_us", rec.ConnectTime, usBetween(hSyn, hAck))
	if len(rec.Transactions) != 1 {
		t.Fatalf("%d transactions, want 1", len(rec.Transactions))
	}
	tr := rec.Transactions[0]
	if !tr.RequestAt.Equal(at(e.req)) || tr.RequestBytes != uint64(e.reqBytes) || tr.ResponseBytes != uint64(e.resp1Bytes+e.resp2Bytes) {
		t.Errorf("transaction %+v", tr)
	}
	if len(r.windows) != 1 || !r.windows[0].Start.Equal(window.Start(t0)) {
		t.Errorf("windows %v, want one at %s", r.servers(), window.Start(t0))
	}
}

func ptrDur(d time.Duration) *time.Duration { return &d }
