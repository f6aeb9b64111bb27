package tcp

import (
	"math"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// This file times the handshake (rtt_server, rtt_client, rtt,
// connect_time, syn_retries) and decides the outcomes a handshake has:
// established, refused, unanswered, and resets.

// openSYN starts a connection at its SYN.
func openSYN(c *conn, p *packet.Packet) {
	c.state = stSynSent
	c.flags |= fHasSYN | fISN
	c.firstSYN = p.TS
	c.isn[0] = p.Seq
	c.nxt[0] = p.Seq + 1
	c.flags |= fSeq0
	if p.HasTS {
		c.flags |= fTS0
	}
}

// openSYNACK starts a connection at its SYN/ACK (the SYN was not captured).
func openSYNACK(c *conn, p *packet.Packet) {
	c.state = stSynRcvd
	c.flags |= fISN
	c.isn[0] = p.Ack - 1
	c.nxt[0] = p.Ack
	c.flags |= fSeq0
	if p.HasTS {
		c.flags |= fTS1
	}
	c.synAck = p.TS
	c.isn[1] = p.Seq
	c.nxt[1] = p.Seq + 1
	c.flags |= fSeq1
}

// syn handles a SYN or SYN/ACK that does not start a new connection.
func (t *Tracker) syn(c *conn, dir int, p *packet.Packet) {
	if p.Flags&packet.ACK == 0 {
		// Same ISN from the client: a retransmitted SYN.
		t.synRetry(c, p.TS)
		return
	}
	if dir != 1 || !c.has(fISN) || p.Ack != c.isn[0]+1 {
		return // not an answer to this connection's SYN
	}
	switch c.state {
	case stSynSent:
		t.attribute(c, false)
		c.state = stSynRcvd
		c.synAck = p.TS
		c.isn[1] = p.Seq
		c.nxt[1] = p.Seq + 1
		c.flags |= fSeq1
		t.listener(c.server())
	default:
		if p.Seq == c.isn[1] {
			t.synRetry(c, p.TS)
		}
	}
}

func (t *Tracker) synRetry(c *conn, ts int64) {
	if c.synRetries < math.MaxUint16 {
		c.synRetries++
	}
	if c.state == stSynSent || c.state == stSynRcvd {
		c.flags |= fAmbiguous
	}
	if c.srv != noServer { // else counted by attribute
		t.sink.CountID(c.srv, ts, window.SynRetries, 1)
	}
}

// handshakeDone handles an ACK on a half-open connection and reports
// whether it completed the handshake.
func (t *Tracker) handshakeDone(idx int32, c *conn, dir int, p *packet.Packet) bool {
	switch {
	case c.state == stSynRcvd && dir == 0:
		t.handshakeAck(idx, c, p)
	case c.state == stSynSent:
		// The SYN/ACK was not captured, yet the connection is up.
		t.attribute(c, false)
		t.completedHandshake(c)
		t.unlinkOpen(idx)
		c.state = stEst
		c.flags |= fWasEst
		t.sink.CountID(c.srv, p.TS, window.Established, 1)
	}
	return c.state == stEst
}

// handshakeAck completes the handshake when p acknowledges the SYN/ACK.
func (t *Tracker) handshakeAck(idx int32, c *conn, p *packet.Packet) {
	if seqLT(p.Ack, c.isn[1]+1) {
		return
	}
	t.completedHandshake(c)
	t.unlinkOpen(idx)
	c.state = stEst
	c.flags |= fWasEst
	t.sink.CountID(c.srv, p.TS, window.Established, 1)
	if p.Ack != c.isn[1]+1 {
		return // the ACK of the SYN/ACK was not captured
	}
	r := t.records[idx]
	if c.has(fHasSYN) {
		ct := us(p.TS - c.firstSYN)
		t.sink.SampleID(c.srv, p.TS, window.ConnectTime, ct)
		if r != nil {
			r.ConnectTime = ptr(ct)
		}
	}
	if c.has(fAmbiguous) {
		return
	}
	cli := p.TS - c.synAck
	t.sink.SampleID(c.srv, p.TS, window.RTTClient, us(cli))
	c.half[0] = cli
	c.flags |= fHalf0
	if r != nil {
		r.RTTClient = ptr(us(cli))
	}
	if !c.has(fHasSYN) {
		return
	}
	s := c.synAck - c.firstSYN
	t.sink.SampleID(c.srv, p.TS, window.RTTServer, us(s))
	t.sink.SampleID(c.srv, p.TS, window.RTT, us(s+cli))
	c.half[1] = s
	c.flags |= fHalf1
	if r != nil {
		r.RTTServer = ptr(us(s))
	}
}

// reset handles an RST: refused or unanswered during the handshake, a
// reset after it.
func (t *Tracker) reset(idx int32, c *conn, dir int, p *packet.Packet) {
	switch {
	case c.state == stSynSent && dir == 1:
		t.attribute(c, true)
		t.sink.CountID(c.srv, p.TS, window.Refused, 1)
		if r := t.records[idx]; r != nil {
			r.Outcome = OutcomeRefused
		}
	case c.state == stSynSent:
		// The client gave up: its SYN stays unanswered.
		t.attribute(c, true)
		t.sink.CountID(c.srv, p.TS, window.Unanswered, 1)
		if r := t.records[idx]; r != nil {
			r.Outcome = OutcomeUnanswered
		}
	default:
		if c.turn == turnResponse {
			t.endTurn(idx, c)
		}
		if !c.has(fReset) {
			t.sink.CountID(c.srv, p.TS, window.Resets, 1)
		}
	}
	c.flags |= fReset
	t.closeConn(idx, c)
}
