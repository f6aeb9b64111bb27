package tcp_test

import (
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

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
	r := runSynth(t, &c, capture.Config{})

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
