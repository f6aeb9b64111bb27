package tcp_test

import (
	"testing"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

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
	r := runSynth(t, &c, capture.Config{})
	s := r.total(t, server)
	if s.Retransmits != 1 || s.BytesFromServer != 3000 {
		t.Errorf("retransmits %d bytes_from_server %d, want 1 and 3000", s.Retransmits, s.BytesFromServer)
	}
	wantDist(t, "transfer_time", &s.Metrics[window.TransferTime], usBetween(req, seg2))
	wantDist(t, "response_time", &s.Metrics[window.ResponseTime], usBetween(req, seg1))
	// Only the handshake gives rtt_client: the sampled segment was resent.
	wantDist(t, "rtt_client", &s.Metrics[window.RTTClient], usBetween(hSynAck, hAck))
}
