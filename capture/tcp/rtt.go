package tcp

import (
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// This file takes the continuous RTT samples of established connections
// (rtt_client, rtt_server and rtt): TCP timestamp echoes where both sides
// send them, else data → covering ACK. The handshake's samples are in
// handshake.go.

// tsMode reports whether both sides send timestamps: samples are then
// TSval → TSecr.
func (c *conn) tsMode() bool { return c.flags&(fTS0|fTS1) == fTS0|fTS1 }

// newTSval reports whether p carries a TSval its direction never sent
// before, and remembers it.
func (c *conn) newTSval(dir int, p *packet.Packet) bool {
	if !p.HasTS || c.has(fTSv0<<dir) && !seqLT(c.lastTSval[dir], p.TSval) {
		return false
	}
	c.lastTSval[dir] = p.TSval
	c.flags |= fTSv0 << dir
	return true
}

// startTSSample starts a sample at new data with a new TSval, unless one of
// its direction is waiting.
func (c *conn) startTSSample(dir int, p *packet.Packet) {
	if c.tsMode() && !c.has(fPend0<<dir) {
		c.pendVal[dir] = p.TSval
		c.pendAt[dir] = p.TS
		c.flags |= fPend0 << dir
	}
}

// startSeqSample starts a sample at in-order data ending at end, when
// timestamps do not give samples, unless one of its direction is waiting.
func (c *conn) startSeqSample(dir int, p *packet.Packet, end uint32) {
	if p.Seq == c.nxt[dir] && !c.tsMode() && !c.has(fPend0<<dir) {
		c.pendVal[dir] = end
		c.pendAt[dir] = p.TS
		c.flags |= fPend0 << dir
	}
}

// echo ends the sample the other direction started, if p answers it.
func (t *Tracker) echo(c *conn, dir int, p *packet.Packet, retx bool) {
	o := dir ^ 1
	if !c.has(fPend0 << o) {
		return
	}
	if retx {
		c.flags &^= fPend0 << o
		return
	}
	if c.tsMode() {
		if !p.HasTS {
			return
		}
		if p.TSecr != c.pendVal[o] {
			if seqLT(c.pendVal[o], p.TSecr) {
				c.flags &^= fPend0 << o // echo of a later TSval: missed
			}
			return
		}
	} else if p.Flags&packet.ACK == 0 || seqLT(p.Ack, c.pendVal[o]) {
		return
	}
	c.flags &^= fPend0 << o
	t.half(c, dir, p.TS, p.TS-c.pendAt[o])
}

// half records a half round trip: side is the side that answered (0 client).
func (t *Tracker) half(c *conn, side int, ts, ns int64) {
	if ns < 0 {
		return
	}
	m := window.RTTClient
	if side == 1 {
		m = window.RTTServer
	}
	t.sink.SampleID(c.srv, ts, m, us(ns))
	c.half[side] = ns
	c.flags |= fHalf0 << side
	if c.has(fHalf0 << (side ^ 1)) {
		t.sink.SampleID(c.srv, ts, window.RTT, us(ns+c.half[side^1]))
	}
}
