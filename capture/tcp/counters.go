package tcp

import (
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// This file counts a connection's bytes (bytes_to_server,
// bytes_from_server) and retransmissions (retransmits). They are summed in
// the connection and handed to the sink once per window, not per packet.

// The retransmits not yet handed to the sink are counted in the top bits of
// flags, which has room to spare: conn stays at three cache lines.
const (
	retxShift = 20
	retxMax   = 1<<(32-retxShift) - 1
	retxMask  = retxMax << retxShift
)

func (c *conn) pendRetx() uint32 { return c.flags >> retxShift }

func (t *Tracker) addBytes(idx int32, c *conn, dir int, p *packet.Packet) {
	if p.Payload == 0 {
		return
	}
	if w := t.window(p.TS); w != c.pendWin {
		t.flushCounters(idx, c)
		c.pendWin = w
	}
	pend := &c.pendTo
	if dir == 1 {
		pend = &c.pendFrom
	}
	if uint64(*pend)+uint64(p.Payload) > 1<<32-1 {
		t.flushCounters(idx, c)
	}
	*pend += p.Payload
}

// isRetransmit classifies a payload segment and advances nxt.
func (t *Tracker) isRetransmit(idx int32, c *conn, dir int, p *packet.Packet) bool {
	end := p.Seq + p.Payload
	if !c.has(fSeq0 << dir) {
		c.flags |= fSeq0 << dir
		c.nxt[dir] = end
		return false
	}
	if seqLE(end, c.nxt[dir]) {
		if p.Payload <= 1 && end == c.nxt[dir] && p.Flags&(packet.FIN|packet.PSH) == 0 {
			return true // a keep-alive probe: old data by design, not a retransmission
		}
		if c.pendRetx() == retxMax {
			t.flushCounters(idx, c) // same window: the sums do not change
		}
		c.flags += 1 << retxShift
		if r := t.records[idx]; r != nil {
			r.Retransmits++
		}
		// Karn: a retransmission voids the sample its direction started.
		c.flags &^= fPend0 << dir
		return true
	}
	c.startSeqSample(dir, p, end)
	c.nxt[dir] = end
	return false
}

// flushCounters hands c's pending bytes and retransmits to the sink.
func (t *Tracker) flushCounters(idx int32, c *conn) {
	if c.pendTo == 0 && c.pendFrom == 0 && c.pendRetx() == 0 {
		return
	}
	t.attribute(c, false) // a SYN with data: no probe of a closed port
	ts := int64(c.pendWin) * width
	if c.pendTo > 0 {
		t.sink.CountID(c.srv, ts, window.BytesToServer, uint64(c.pendTo))
	}
	if c.pendFrom > 0 {
		t.sink.CountID(c.srv, ts, window.BytesFromServer, uint64(c.pendFrom))
	}
	if n := c.pendRetx(); n > 0 {
		t.sink.CountID(c.srv, ts, window.Retransmits, uint64(n))
	}
	if r := t.records[idx]; r != nil {
		r.BytesTo += uint64(c.pendTo)
		r.BytesFrom += uint64(c.pendFrom)
	}
	c.pendTo, c.pendFrom = 0, 0
	c.flags &^= retxMask
}
