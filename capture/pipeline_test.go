package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	stats   Stats
}

func runSynth(t *testing.T, c *synth.Capture, cfg Config) runResult {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var r runResult
	cfg.OnWindow = func(s window.Summary) { r.windows = append(r.windows, s) }
	cfg.OnRecord = func(rec *tcp.Record) { r.records = append(r.records, rec) }
	r.stats, err = Run(context.Background(), src, cfg)
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

func TestBasicExchange(t *testing.T) {
	tests := []struct {
		name           string
		client, server string
		ts             bool
		vlan           uint16
	}{
		{"ipv4", "10.0.0.1:40000", "10.0.0.2:80", false, 0},
		{"ipv4 timestamps", "10.0.0.1:40000", "10.0.0.2:80", true, 0},
		{"ipv6", "[fd00::1]:40000", "[fd00::2]:443", false, 0},
		{"ipv6 timestamps", "[fd00::1]:40000", "[fd00::2]:443", true, 0},
		{"vlan", "10.0.0.1:40000", "10.0.0.2:8080", false, 100},
		{"vlan timestamps", "10.0.0.1:40000", "10.0.0.2:8080", true, 4094},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c synth.Capture
			k := c.Conn(tt.client, tt.server)
			k.TS, k.VLAN = tt.ts, tt.vlan
			basic.play(k)
			r := runSynth(t, &c, Config{})
			checkBasic(t, r, tt.server)
			if r.stats.Decoded != uint64(len(c.Frames)) || r.stats.Packets != uint64(len(c.Frames)) {
				t.Errorf("stats %+v, want %d packets decoded", r.stats, len(c.Frames))
			}
		})
	}
}

// TestTwoInterfaces captures every segment twice, on a veth and a bridge:
// the results are those of one capture, and the copies count as duplicates.
func TestTwoInterfaces(t *testing.T) {
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", "10.0.0.2:80")
	k.Dup = 7 * time.Microsecond
	basic.play(k)
	r := runSynth(t, &c, Config{})
	checkBasic(t, r, "10.0.0.2:80")
	if r.stats.Duplicates != uint64(len(c.Frames)/2) {
		t.Errorf("duplicates %d, want %d", r.stats.Duplicates, len(c.Frames)/2)
	}
}

func TestHandshakes(t *testing.T) {
	const server = "10.0.0.2:80"
	tests := []struct {
		name     string
		play     func(k *synth.Conn)
		counters window.Counters
		outcome  string
		connect  *time.Duration // nil: not measurable
		synRetry uint64
	}{
		{
			name: "syn retransmitted",
			play: func(k *synth.Conn) {
				k.Send(at(0), synth.Client, syn, 0)
				k.SendSeq(at(time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
				k.Send(at(time.Second+ms(0.3)), synth.Server, synAck, 0)
				k.Send(at(time.Second+ms(20.3)), synth.Client, ack, 0)
			},
			counters: window.Counters{Connections: 1, Established: 1, SynRetries: 1},
			outcome:  tcp.OutcomeEstablished, connect: ptrDur(time.Second + ms(20.3)), synRetry: 1,
		},
		{
			name: "syn/ack retransmitted",
			play: func(k *synth.Conn) {
				k.Send(at(0), synth.Client, syn, 0)
				k.Send(at(ms(0.3)), synth.Server, synAck, 0)
				k.SendSeq(at(time.Second+ms(0.3)), synth.Server, synAck, k.ISN[synth.Server], 0)
				k.Send(at(time.Second+ms(20.5)), synth.Client, ack, 0)
			},
			counters: window.Counters{Connections: 1, Established: 1, SynRetries: 1},
			outcome:  tcp.OutcomeEstablished, connect: ptrDur(time.Second + ms(20.5)), synRetry: 1,
		},
		{
			name: "refused",
			play: func(k *synth.Conn) {
				k.Send(at(0), synth.Client, syn, 0)
				k.Send(at(ms(0.2)), synth.Server, rst, 0)
			},
			counters: window.Counters{Connections: 1, Refused: 1},
			outcome:  tcp.OutcomeRefused,
		},
		{
			name: "unanswered",
			play: func(k *synth.Conn) {
				k.Send(at(0), synth.Client, syn, 0)
				k.SendSeq(at(time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
				k.SendSeq(at(3*time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
			},
			counters: window.Counters{Connections: 1, Unanswered: 1, SynRetries: 2},
			outcome:  tcp.OutcomeUnanswered, synRetry: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c synth.Capture
			tt.play(c.Conn("10.0.0.1:40000", server))
			r := runSynth(t, &c, Config{})
			s := r.total(t, server)
			wantCounters(t, s.Counters, tt.counters)
			for _, m := range []window.Metric{window.RTT, window.RTTServer, window.RTTClient} {
				wantDist(t, m.String(), &s.Metrics[m])
			}
			if len(r.records) != 1 {
				t.Fatalf("%d records", len(r.records))
			}
			rec := r.records[0]
			if rec.Outcome != tt.outcome || rec.SynRetries != tt.synRetry {
				t.Errorf("outcome %q syn_retries %d, want %q %d", rec.Outcome, rec.SynRetries, tt.outcome, tt.synRetry)
			}
			wantNull(t, "rtt_server_us", rec.RTTServer)
			wantNull(t, "rtt_client_us", rec.RTTClient)
			if tt.connect == nil {
				wantNull(t, "connect_time_us", rec.ConnectTime)
				wantDist(t, "connect_time", &s.Metrics[window.ConnectTime])
			} else {
				wantPtr(t, "connect_time_us", rec.ConnectTime, usBetween(0, *tt.connect))
				wantDist(t, "connect_time", &s.Metrics[window.ConnectTime], usBetween(0, *tt.connect))
			}
		})
	}
}

func ptrDur(d time.Duration) *time.Duration { return &d }

// turn is one request/response turn: the client sends the request segments,
// then the server the response segments, at the given offsets.
type turn struct {
	req  []time.Duration
	resp []time.Duration
}

func TestTurns(t *testing.T) {
	const server = "10.0.0.2:5432"
	type want struct{ response, transfer float64 }
	tests := []struct {
		name   string
		banner *time.Duration
		turns  []turn
		want   []want
	}{
		{
			name: "keep-alive, three turns",
			turns: []turn{
				{req: []time.Duration{ms(30)}, resp: []time.Duration{ms(32), ms(33), ms(35)}},
				{req: []time.Duration{ms(100), ms(101)}, resp: []time.Duration{ms(150)}},
				{req: []time.Duration{ms(2000)}, resp: []time.Duration{ms(2000.5), ms(2010)}},
			},
			want: []want{
				{usBetween(ms(30), ms(32)), usBetween(ms(30), ms(35))},
				{usBetween(ms(101), ms(150)), usBetween(ms(101), ms(150))},
				{usBetween(ms(2000), ms(2000.5)), usBetween(ms(2000), ms(2010))},
			},
		},
		{
			// Two requests back to back, then two responses: one client run
			// and one server run make one turn.
			name:  "pipelining",
			turns: []turn{{req: []time.Duration{ms(30), ms(30.1)}, resp: []time.Duration{ms(40), ms(41)}}},
			want:  []want{{usBetween(ms(30.1), ms(40)), usBetween(ms(30.1), ms(41))}},
		},
		{
			name:   "server banner first",
			banner: ptrDur(ms(21)),
			turns:  []turn{{req: []time.Duration{ms(60)}, resp: []time.Duration{ms(65)}}},
			want:   []want{{usBetween(ms(60), ms(65)), usBetween(ms(60), ms(65))}},
		},
	}
	for _, tt := range tests {
		for _, ts := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/timestamps=%v", tt.name, ts), func(t *testing.T) {
				var c synth.Capture
				k := c.Conn("10.0.0.1:40000", server)
				k.TS = ts
				handshake(k, 0)
				if tt.banner != nil {
					k.Send(at(*tt.banner), synth.Server, psh, 50)
				}
				for _, tu := range tt.turns {
					for _, d := range tu.req {
						k.Send(at(d), synth.Client, psh, 100)
					}
					for _, d := range tu.resp {
						k.Send(at(d), synth.Server, psh, 200)
					}
				}
				r := runSynth(t, &c, Config{})
				s := r.total(t, server)
				if s.Transactions != uint64(len(tt.want)) {
					t.Errorf("transactions %d, want %d", s.Transactions, len(tt.want))
				}
				var rts, tts []float64
				for _, w := range tt.want {
					rts, tts = append(rts, w.response), append(tts, w.transfer)
				}
				wantDist(t, "response_time", &s.Metrics[window.ResponseTime], rts...)
				wantDist(t, "transfer_time", &s.Metrics[window.TransferTime], tts...)
				rec := r.records[0]
				if len(rec.Transactions) != len(tt.want) {
					t.Fatalf("%d record transactions, want %d", len(rec.Transactions), len(tt.want))
				}
				for i, w := range tt.want {
					wantPtr(t, fmt.Sprintf("turn %d response_time", i), rec.Transactions[i].ResponseTime, w.response)
					wantPtr(t, fmt.Sprintf("turn %d transfer_time", i), rec.Transactions[i].TransferTime, w.transfer)
					last := tt.turns[i].req[len(tt.turns[i].req)-1]
					if !rec.Transactions[i].RequestAt.Equal(at(last)) {
						t.Errorf("turn %d request_at %s, want %s", i, rec.Transactions[i].RequestAt, at(last))
					}
					if got, want := rec.Transactions[i].RequestBytes, uint64(100*len(tt.turns[i].req)); got != want {
						t.Errorf("turn %d request_bytes %d, want %d", i, got, want)
					}
				}
			})
		}
	}
}

// TestRetransmittedData: a response segment sent again later counts as a
// retransmission, does not extend the transfer and voids its RTT sample.
func TestRetransmittedData(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", server)
	handshake(k, 0)
	req, seg1, seg2, again, cliAck := ms(30), ms(35), ms(36), ms(236), ms(256)
	k.Send(at(req), synth.Client, psh, 100)
	s1 := k.Send(at(seg1), synth.Server, ack, 1000)
	k.Send(at(seg2), synth.Server, psh, 1000)
	k.SendSeq(at(again), synth.Server, ack, s1, 1000)
	k.Send(at(cliAck), synth.Client, ack, 0)
	k.Send(at(ms(300)), synth.Client, psh, 100) // the next request ends the turn
	r := runSynth(t, &c, Config{})
	s := r.total(t, server)
	if s.Retransmits != 1 || s.BytesFromServer != 3000 {
		t.Errorf("retransmits %d bytes_from_server %d, want 1 and 3000", s.Retransmits, s.BytesFromServer)
	}
	wantDist(t, "transfer_time", &s.Metrics[window.TransferTime], usBetween(req, seg2))
	wantDist(t, "response_time", &s.Metrics[window.ResponseTime], usBetween(req, seg1))
	// Only the handshake gives rtt_client: the sampled segment was resent.
	wantDist(t, "rtt_client", &s.Metrics[window.RTTClient], usBetween(hSynAck, hAck))
}

// TestOutOfOrder: a segment above the next expected sequence number is new
// data, not a retransmission, and ends the transfer.
func TestOutOfOrder(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", server)
	handshake(k, 0)
	req, segA, segC := ms(30), ms(35), ms(35.2)
	k.Send(at(req), synth.Client, psh, 100)
	a := k.Send(at(segA), synth.Server, ack, 1000)
	k.SendSeq(at(segC), synth.Server, psh, a+2000, 1000) // the segment between is lost
	k.Send(at(ms(60)), synth.Client, ack, 0)
	k.Send(at(ms(80)), synth.Client, psh, 100)
	r := runSynth(t, &c, Config{})
	s := r.total(t, server)
	if s.Retransmits != 0 {
		t.Errorf("retransmits %d, want 0", s.Retransmits)
	}
	wantDist(t, "transfer_time", &s.Metrics[window.TransferTime], usBetween(req, segC))
	// The second request never got a response: a transaction in the
	// record with null timings, not in the counters.
	rec := r.records[0]
	if len(rec.Transactions) != 2 || rec.Transactions[1].ResponseTime != nil || rec.Transactions[1].TransferTime != nil {
		t.Errorf("transactions %+v, want the second unanswered", rec.Transactions)
	}
	if s.Transactions != 1 {
		t.Errorf("transactions %d, want 1", s.Transactions)
	}
}

// TestContinuousRTT: a pooled connection opened in one window and used in a
// later one gives rtt samples in the later window, with and without TCP
// timestamps.
func TestContinuousRTT(t *testing.T) {
	const server = "10.0.0.2:5432"
	later := 11 * time.Minute // window 00:10
	for _, ts := range []bool{false, true} {
		t.Run(fmt.Sprintf("timestamps=%v", ts), func(t *testing.T) {
			var c synth.Capture
			k := c.Conn("10.0.0.1:40000", server)
			k.TS = ts
			handshake(k, 0)
			// Keep-alive traffic every 4 minutes keeps the connection.
			var halvesS, halvesC []float64
			for i := range 3 {
				base := later + time.Duration(i)*time.Second
				req, srvAck, resp, cliAck := base, base+ms(0.4), base+ms(3), base+ms(24)
				k.Send(at(req), synth.Client, psh, 60)
				k.Send(at(srvAck), synth.Server, ack, 0)
				k.Send(at(resp), synth.Server, psh, 300)
				k.Send(at(cliAck), synth.Client, ack, 0)
				halvesS = append(halvesS, usBetween(req, srvAck))
				halvesC = append(halvesC, usBetween(resp, cliAck))
			}
			k.Send(at(later+5*time.Second), synth.Client, fin, 0)
			r := runSynth(t, &c, Config{})
			var w *window.Summary
			for i := range r.windows {
				if r.windows[i].Start.Equal(window.Start(at(later))) {
					w = &r.windows[i]
				}
			}
			if w == nil {
				t.Fatalf("no summary in the window of %s: %v", at(later), r.servers())
			}
			wantDist(t, "rtt_server", &w.Metrics[window.RTTServer], halvesS...)
			wantDist(t, "rtt_client", &w.Metrics[window.RTTClient], halvesC...)
			// Each fresh half plus the latest other half: the first server
			// half pairs with the handshake's client half.
			rtts := []float64{halvesS[0] + usBetween(hSynAck, hAck)}
			for i := range halvesC {
				rtts = append(rtts, halvesC[i]+halvesS[i])
				if i+1 < len(halvesS) {
					rtts = append(rtts, halvesS[i+1]+halvesC[i])
				}
			}
			wantDist(t, "rtt", &w.Metrics[window.RTT], rtts...)
			if w.Transactions != 3 || w.Connections != 0 {
				t.Errorf("later window: transactions %d connections %d, want 3 and 0", w.Transactions, w.Connections)
			}
		})
	}
}

// TestWindowBoundary: every count and sample lands in the window of the
// packet time at which it is taken.
func TestWindowBoundary(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", server)
	base := 3*time.Minute + 59*time.Second // handshake at 00:04:59
	handshake(k, base)
	req, resp1, resp2 := base+ms(900), base+ms(1100), base+ms(1200) // response across 00:05:00
	k.Send(at(req), synth.Client, psh, 100)
	k.Send(at(resp1), synth.Server, ack, 1000)
	k.Send(at(resp2), synth.Server, psh, 1000)
	k.Send(at(base+ms(1300)), synth.Client, fin, 0)
	r := runSynth(t, &c, Config{})
	first, second := window.Start(at(base)), window.Start(at(resp1))
	if first.Equal(second) {
		t.Fatal("scenario does not cross a boundary")
	}
	byStart := map[time.Time]window.Summary{}
	for _, w := range r.windows {
		byStart[w.Start] = w
	}
	if len(r.windows) != 2 {
		t.Fatalf("windows %v, want 2", r.servers())
	}
	w1, w2 := byStart[first], byStart[second]
	wantCounters(t, w1.Counters, window.Counters{Connections: 1, Established: 1, BytesToServer: 100})
	wantCounters(t, w2.Counters, window.Counters{Transactions: 1, BytesFromServer: 2000})
	wantDist(t, "connect_time in the first", &w1.Metrics[window.ConnectTime], usBetween(hSyn, hAck))
	wantDist(t, "transfer_time in the second", &w2.Metrics[window.TransferTime], usBetween(req, resp2))
	wantDist(t, "transfer_time not in the first", &w1.Metrics[window.TransferTime])
}

func TestMidStream(t *testing.T) {
	var c synth.Capture
	// A full handshake teaches that 10.0.0.2:7777 accepts connections.
	basicOn := func(k *synth.Conn) { basic.play(k) }
	basicOn(c.Conn("10.0.0.1:40000", "10.0.0.2:7777"))
	// Then three connections already open when the capture started.
	mid := func(client, server string, start time.Duration) {
		k := c.Conn(client, server)
		k.ISN = [2]uint32{7_000_000, 9_000_000}
		k.Send(at(start), synth.Client, psh, 80)
		k.Send(at(start+ms(4)), synth.Server, psh, 400)
		k.Send(at(start+ms(30)), synth.Client, psh, 80)
		k.Send(at(start+ms(31)), synth.Server, psh, 400)
	}
	mid("10.0.0.3:40001", "10.0.0.2:7777", time.Second)  // remembered listener
	mid("10.0.0.3:40002", "10.0.0.4:5432", time.Second)  // well-known port
	mid("10.0.0.3:40003", "10.0.0.5:50000", time.Second) // neither: not timed
	r := runSynth(t, &c, Config{})

	s := r.total(t, "10.0.0.2:7777")
	if s.Connections != 2 || s.Transactions != 3 || s.Established != 1 {
		t.Errorf("listener: connections %d transactions %d established %d, want 2, 3, 1", s.Connections, s.Transactions, s.Established)
	}
	s = r.total(t, "10.0.0.4:5432")
	wantCounters(t, s.Counters, window.Counters{Connections: 1, Transactions: 2, BytesToServer: 160, BytesFromServer: 800})
	wantDist(t, "response_time", &s.Metrics[window.ResponseTime], 4000, 1000)
	wantDist(t, "connect_time", &s.Metrics[window.ConnectTime])
	// Counted under the lower port, nothing else.
	s = r.total(t, "10.0.0.3:40003")
	wantCounters(t, s.Counters, window.Counters{Connections: 1})
	if r.stats.Untimed != 1 {
		t.Errorf("untimed %d, want 1", r.stats.Untimed)
	}
	outcomes := map[string]string{}
	for _, rec := range r.records {
		outcomes[rec.Client.String()] = rec.Outcome
	}
	want := map[string]string{"10.0.0.1:40000": tcp.OutcomeEstablished, "10.0.0.3:40001": tcp.OutcomeMidstream,
		"10.0.0.3:40002": tcp.OutcomeMidstream, "10.0.0.5:50000": tcp.OutcomeUntimed} // untimed: the higher port is taken as the client
	for cl, o := range want {
		if outcomes[cl] != o {
			t.Errorf("client %s outcome %q, want %q", cl, outcomes[cl], o)
		}
	}
}

// TestPortReuse: a SYN with a new ISN on the tuple of a closed connection
// starts a new connection.
func TestPortReuse(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", server)
	basic.play(k)
	k2 := c.Conn("10.0.0.1:40000", server)
	k2.ISN = [2]uint32{3_000_000, 8_000_000}
	second := 2 * time.Second
	k2.Send(at(second), synth.Client, syn, 0)
	k2.Send(at(second+ms(0.5)), synth.Server, synAck, 0)
	k2.Send(at(second+ms(30.5)), synth.Client, ack, 0)
	r := runSynth(t, &c, Config{})
	s := r.total(t, server)
	if s.Connections != 2 || s.Established != 2 || s.SynRetries != 0 {
		t.Errorf("counters %+v, want 2 connections, 2 established, no SYN retries", s.Counters)
	}
	wantDist(t, "connect_time", &s.Metrics[window.ConnectTime], usBetween(hSyn, hAck), usBetween(0, ms(30.5)))
	if len(r.records) != 2 || !r.records[1].Start.Equal(at(second)) {
		t.Fatalf("records %+v", r.records)
	}
}

// TestSynFlood: with the table full of half-open connections, established
// connections keep being measured.
func TestSynFlood(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	var conns []*synth.Conn
	for i := range 10 {
		k := c.Conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), server)
		handshake(k, 0)
		conns = append(conns, k)
	}
	for i := range 1000 {
		k := c.Conn(fmt.Sprintf("192.0.2.%d:%d", 1+i%200, 1024+i), server)
		k.Send(at(ms(100)+time.Duration(i)*time.Microsecond), synth.Client, syn, 0)
	}
	for i, k := range conns {
		d := ms(200) + time.Duration(i)*ms(1)
		k.Send(at(d), synth.Client, psh, 100)
		k.Send(at(d+ms(5)), synth.Server, psh, 100)
		k.Send(at(d+ms(25)), synth.Client, fin, 0)
	}
	r := runSynth(t, &c, Config{MaxFlows: 64})
	s := r.total(t, server)
	if s.Transactions != 10 || s.Established != 10 || s.Connections != 1010 || s.Unanswered != 1000 {
		t.Errorf("counters %+v, want 10 transactions, 10 established, 1010 connections, 1000 unanswered", s.Counters)
	}
	if r.stats.Evicted < 1000-54 {
		t.Errorf("evicted %d, want at least %d", r.stats.Evicted, 1000-54)
	}
}

// TestFlushInterval: partial flushes hand on every count and sample once.
func TestFlushInterval(t *testing.T) {
	build := func() *synth.Capture {
		var c synth.Capture
		for i := range 20 {
			k := c.Conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80")
			k.TS = i%2 == 0
			base := time.Duration(i) * 700 * time.Millisecond
			handshake(k, base)
			for j := range 5 {
				d := base + ms(30) + time.Duration(j)*300*time.Millisecond
				k.Send(at(d), synth.Client, psh, 100)
				k.Send(at(d+ms(1)), synth.Server, ack, 0)
				k.Send(at(d+ms(5)), synth.Server, psh, 1000)
				k.Send(at(d+ms(25)), synth.Client, ack, 0)
			}
			k.Send(at(base+2*time.Second), synth.Client, fin, 0)
			k.Send(at(base+2*time.Second+ms(1)), synth.Server, fin, 0)
		}
		return &c
	}
	whole := runSynth(t, build(), Config{})
	parts := runSynth(t, build(), Config{FlushInterval: time.Second})
	if len(parts.windows) <= len(whole.windows) {
		t.Fatalf("%d partial summaries, %d whole: no partial flush happened", len(parts.windows), len(whole.windows))
	}
	a, b := whole.total(t, "10.0.0.2:80"), parts.total(t, "10.0.0.2:80")
	wantCounters(t, b.Counters, a.Counters)
	for m := range a.Metrics {
		if a.Metrics[m].Count != b.Metrics[m].Count || math.Abs(a.Metrics[m].Sum-b.Metrics[m].Sum) > 1e-6 {
			t.Errorf("%s: %d/%v partial, %d/%v whole", window.Metric(m), b.Metrics[m].Count, b.Metrics[m].Sum, a.Metrics[m].Count, a.Metrics[m].Sum)
		}
	}
	if a.Transactions != 100 {
		t.Errorf("transactions %d, want 100", a.Transactions)
	}
}

// replaySource delivers a capture's frames, then reports ErrIdle until its
// context ends, as a quiet live source does.
type replaySource struct {
	ctx    context.Context
	src    Source
	idle   chan struct{}
	idled  bool
	closed bool
}

func (s *replaySource) ReadFrame(f *Frame) error {
	err := s.src.ReadFrame(f)
	if !errors.Is(err, io.EOF) {
		return err
	}
	if !s.idled {
		s.idled = true
		close(s.idle)
	}
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-time.After(5 * time.Millisecond):
		return ErrIdle
	}
}

func (s *replaySource) Close() error { return s.src.Close() }

// TestLiveIdle: a quiet live source moves the packet clock to the wall
// clock, so windows close without new packets; cancelling returns.
func TestLiveIdle(t *testing.T) {
	var c synth.Capture
	basic.play(c.Conn("10.0.0.1:40000", "10.0.0.2:80"))
	// A connection still open when the capture stops.
	k := c.Conn("10.0.0.1:40001", "10.0.0.2:80")
	handshake(k, time.Second)
	k.Send(at(time.Second+ms(40)), synth.Client, psh, 100)
	path := filepath.Join(t.TempDir(), "live.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &replaySource{ctx: ctx, src: f, idle: make(chan struct{})}
	got := make(chan window.Summary, 16)
	var live LiveStats
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, src, Config{Live: true, Stats: &live, OnWindow: func(s window.Summary) { got <- s }})
		done <- err
	}()
	select {
	case s := <-got:
		if s.Connections != 2 || s.Transactions != 1 {
			t.Errorf("summary before cancel: %+v", s.Counters)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no window closed while the source was idle")
	}
	if st := live.Snapshot(); st.Packets != uint64(len(c.Frames)) || st.Decoded != st.Packets {
		t.Errorf("live stats %+v, want %d packets", st, len(c.Frames))
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestFilterError(t *testing.T) {
	_, err := Run(context.Background(), nil, Config{Filter: "port port"})
	if err == nil || !strings.Contains(err.Error(), "filter") {
		t.Errorf("Run with a bad filter: %v", err)
	}
}
