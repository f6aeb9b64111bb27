package tcp_test

import (
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

func TestHandshakes(t *testing.T) {
	const server = "10.0.0.2:80"
	tests := []struct {
		name     string
		play     func(k *synth.Conn)
		counters window.Counters
		outcome  string
		connect  *time.Duration // nil: not measurable
		synRetry uint64
		bucket   bool // counted under the host's closed ports: the port never completed a handshake
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
			outcome:  tcp.OutcomeRefused, bucket: true,
		},
		{
			name: "unanswered",
			play: func(k *synth.Conn) {
				k.Send(at(0), synth.Client, syn, 0)
				k.SendSeq(at(time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
				k.SendSeq(at(3*time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
			},
			counters: window.Counters{Connections: 1, Unanswered: 1, SynRetries: 2},
			outcome:  tcp.OutcomeUnanswered, synRetry: 2, bucket: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c synth.Capture
			tt.play(c.Conn("10.0.0.1:40000", server))
			r := runSynth(t, &c, capture.Config{})
			counted := server
			if tt.bucket {
				counted = "10.0.0.2:0"
			}
			s := r.total(t, counted)
			wantCounters(t, s.Counters, tt.counters)
			for _, m := range []window.Metric{window.RTT, window.RTTServer, window.RTTClient} {
				wantDist(t, m.String(), &s.Metrics[m])
			}
			if len(r.records) != 1 {
				t.Fatalf("%d records", len(r.records))
			}
			rec := r.records[0]
			if rec.Server.String() != server {
				t.Errorf("record server %s, want %s", rec.Server, server)
			}
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
	r := runSynth(t, &c, capture.Config{})
	s := r.total(t, server)
	if s.Connections != 2 || s.Established != 2 || s.SynRetries != 0 {
		t.Errorf("counters %+v, want 2 connections, 2 established, no SYN retries", s.Counters)
	}
	wantDist(t, "connect_time", &s.Metrics[window.ConnectTime], usBetween(hSyn, hAck), usBetween(0, ms(30.5)))
	if len(r.records) != 2 || !r.records[1].Start.Equal(at(second)) {
		t.Fatalf("records %+v", r.records)
	}
}
