package tcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

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
			r := runSynth(t, &c, capture.Config{})
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
