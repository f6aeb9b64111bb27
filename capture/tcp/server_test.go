package tcp_test

import (
	"fmt"
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

// TestClosedPortBuckets: connections refused or unanswered at a port that
// never completed a handshake count under the host's closed-ports bucket
// (port 0), whatever the number of ports; ports that answer, or that
// completed a handshake before, keep their own server.
func TestClosedPortBuckets(t *testing.T) {
	var c synth.Capture
	hosts := []string{"10.0.0.2", "10.0.0.3", "[fd00::2]"}
	const ports = 300
	for h, host := range hosts {
		scanner := "192.0.2.1"
		if host[0] == '[' {
			scanner = "[fd00::1]"
		}
		for i := range ports {
			k := c.Conn(fmt.Sprintf("%s:%d", scanner, 20000+h*ports+i), fmt.Sprintf("%s:%d", host, 1000+i))
			d := ms(float64(h*ports+i) * 0.1)
			k.Send(at(d), synth.Client, syn, 0)
			switch i % 3 {
			case 0: // closed: refused
				k.Send(at(d+ms(0.2)), synth.Server, rst, 0)
			case 1: // filtered: unanswered, retried once
				k.SendSeq(at(d+time.Second), synth.Client, syn, k.ISN[synth.Client], 0)
			case 2: // the scanner gives up with an RST: unanswered
				k.Send(at(d+ms(500)), synth.Client, rst, 0)
			}
		}
	}
	// 10.0.0.2:7000 answers (an open port, scanned): its own server.
	open := c.Conn("192.0.2.1:30000", "10.0.0.2:7000")
	open.Send(at(ms(100)), synth.Client, syn, 0)
	open.Send(at(ms(100.2)), synth.Server, synAck, 0)
	open.Send(at(ms(100.4)), synth.Client, rst, 0)
	// 10.0.0.3:5432 completes a handshake, then refuses: its own server.
	basic.play(c.Conn("10.0.0.9:40000", "10.0.0.3:5432"))
	refused := c.Conn("10.0.0.9:40001", "10.0.0.3:5432")
	refused.Send(at(2*time.Second), synth.Client, syn, 0)
	refused.Send(at(2*time.Second+ms(0.2)), synth.Server, rst, 0)
	// Refused before any handshake completed at it: the bucket.
	early := c.Conn("10.0.0.9:40002", "10.0.0.3:6000")
	early.Send(at(ms(1)), synth.Client, syn, 0)
	early.Send(at(ms(1.2)), synth.Server, rst, 0)
	basic.play(c.Conn("10.0.0.9:40003", "10.0.0.3:6000"))

	r := runSynth(t, &c, capture.Config{})
	servers := map[string]bool{}
	for _, w := range r.windows {
		servers[w.Server.String()] = true
	}
	want := map[string]bool{"10.0.0.2:0": true, "10.0.0.3:0": true, "[fd00::2]:0": true,
		"10.0.0.2:7000": true, "10.0.0.3:5432": true, "10.0.0.3:6000": true}
	if len(servers) != len(want) {
		t.Errorf("servers %v, want %v", servers, want)
	}
	for s := range want {
		if !servers[s] {
			t.Errorf("no summary for %s; have %v", s, servers)
		}
	}
	const per = ports / 3
	for _, host := range hosts {
		b := window.Counters{Connections: ports, Refused: per, Unanswered: 2 * per, SynRetries: per}
		if host == "10.0.0.3" {
			b.Connections++
			b.Refused++
		}
		wantCounters(t, r.total(t, host+":0").Counters, b)
	}
	wantCounters(t, r.total(t, "10.0.0.2:7000").Counters, window.Counters{Connections: 1, Resets: 1})
	s := r.total(t, "10.0.0.3:5432")
	if s.Connections != 2 || s.Refused != 1 || s.Established != 1 {
		t.Errorf("10.0.0.3:5432: %+v, want 2 connections, 1 refused, 1 established", s.Counters)
	}
	if s := r.total(t, "10.0.0.3:6000"); s.Connections != 1 || s.Refused != 0 {
		t.Errorf("10.0.0.3:6000: %+v, want the later connection only", s.Counters)
	}
	for _, w := range r.windows {
		if w.Server.Port() != 0 {
			continue
		}
		if err := w.Validate(w.Start); err != nil {
			t.Errorf("bucket %s does not validate: %v", w.Server, err)
		}
	}
}
