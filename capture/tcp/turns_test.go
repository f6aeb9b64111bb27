package tcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

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
				r := runSynth(t, &c, capture.Config{})
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
	r := runSynth(t, &c, capture.Config{})
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
