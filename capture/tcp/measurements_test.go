package tcp_test

import (
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

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
			r := runSynth(t, &c, capture.Config{})
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
	r := runSynth(t, &c, capture.Config{})
	checkBasic(t, r, "10.0.0.2:80")
	if r.stats.Duplicates != uint64(len(c.Frames)/2) {
		t.Errorf("duplicates %d, want %d", r.stats.Duplicates, len(c.Frames)/2)
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
	r := runSynth(t, &c, capture.Config{})
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
