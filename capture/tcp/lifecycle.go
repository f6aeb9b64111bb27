package tcp

import "github.com/pastmon/pastmon/capture/window"

// How a connection ends.
type ending uint8

const (
	endNormal ending = iota // timeout, eviction, port reuse, end of input
	endCancel               // live capture stopped: counted as it stands
)

// alloc returns a free slab slot, evicting a connection when the table is full.
func (t *Tracker) alloc() int32 {
	if n := len(t.free); n > 0 {
		idx := t.free[n-1]
		t.free = t.free[:n-1]
		return idx
	}
	if int(t.slab.n) < t.cfg.MaxFlows {
		if int(t.slab.n)>>chunkBits == len(t.slab.chunks) {
			t.slab.chunks = append(t.slab.chunks, make([]conn, 1<<chunkBits))
		}
		idx := t.slab.n
		t.slab.n++
		return idx
	}
	victim := t.openHead
	if victim < 0 {
		victim = t.sampleVictim()
	}
	t.stats.Evicted++
	t.finish(victim, t.now, endNormal)
	n := len(t.free)
	idx := t.free[n-1]
	t.free = t.free[:n-1]
	return idx
}

// sampleVictim picks, among a few random connections, a closed one or else
// the one idle the longest.
func (t *Tracker) sampleVictim() int32 {
	best := int32(-1)
	for range 8 {
		t.rnd ^= t.rnd << 13
		t.rnd ^= t.rnd >> 7
		t.rnd ^= t.rnd << 17
		i := int32(t.rnd % uint64(t.slab.n))
		c := t.slab.at(i)
		if c.state == stClosed {
			return i
		}
		if best < 0 || c.lastSeen < t.slab.at(best).lastSeen {
			best = i
		}
	}
	return best
}

func (t *Tracker) pushOpen(idx int32) {
	c := t.slab.at(idx)
	c.prev, c.next = t.openTail, -1
	if t.openTail >= 0 {
		t.slab.at(t.openTail).next = idx
	} else {
		t.openHead = idx
	}
	t.openTail = idx
}

func (t *Tracker) unlinkOpen(idx int32) {
	c := t.slab.at(idx)
	if c.prev < 0 && t.openHead != idx {
		return // not in the list
	}
	if c.prev >= 0 {
		t.slab.at(c.prev).next = c.next
	} else {
		t.openHead = c.next
	}
	if c.next >= 0 {
		t.slab.at(c.next).prev = c.prev
	} else {
		t.openTail = c.prev
	}
	c.prev, c.next = -1, -1
}

// finish ends a connection: its outcome if still undecided, its last turn,
// its pending counters and its record, then frees its slot.
func (t *Tracker) finish(idx int32, now int64, how ending) {
	c := t.slab.at(idx)
	r := t.records[idx]
	if c.state == stSynSent {
		t.attribute(c, true)
	}
	if c.state == stSynSent && how != endCancel {
		t.sink.CountID(c.srv, now, window.Unanswered, 1)
		if r != nil {
			r.Outcome = OutcomeUnanswered
		}
	}
	if c.turn != turnIdle && how != endCancel {
		t.endTurn(idx, c)
	}
	t.flushCounters(idx, c)
	if r != nil {
		t.emitRecord(idx, c, r)
	}
	t.unlinkOpen(idx)
	k := c.key()
	t.tab.remove(t.tab.hash(&k), idx)
	t.sink.Release(c.srv)
	c.state = stFree
	t.free = append(t.free, idx)
}

// timeout returns how long c may stay idle.
func (c *conn) timeout() int64 {
	switch c.state {
	case stSynSent, stSynRcvd:
		return int64(HalfOpenTimeout)
	case stClosed:
		return int64(ClosedLinger)
	}
	return int64(EstablishedTimeout)
}

// Expire advances the packet clock to now (if later) and does the
// housekeeping that packet time alone decides: idle connections end, idle
// responses end, and counters pending for past windows go to the sink. It
// walks the whole table: call it every few seconds of packet time, and
// before closing windows.
func (t *Tracker) Expire(now int64) {
	if now > t.now {
		t.now = now
	}
	now = t.now
	cur := t.window(now)
	for i := int32(0); i < t.slab.n; i++ {
		c := t.slab.at(i)
		if c.state == stFree {
			continue
		}
		if now-c.lastSeen >= c.timeout() {
			t.finish(i, now, endNormal)
			continue
		}
		if c.turn == turnResponse && now-c.respLast >= int64(TurnIdle) {
			t.endTurn(i, c)
		}
		if c.pendWin < cur {
			t.flushCounters(i, c)
			c.pendWin = cur
		}
	}
}

// FlushCounters hands every pending byte and retransmit count to the sink,
// for a partial flush of the open windows.
func (t *Tracker) FlushCounters() {
	for i := int32(0); i < t.slab.n; i++ {
		if c := t.slab.at(i); c.state != stFree {
			t.flushCounters(i, c)
		}
	}
}

// Finish ends every connection. At the end of input (eof) they end as if
// idle: SYNs never answered count as unanswered and responses in progress
// are timed. Otherwise (a live capture stopped) they are counted as they
// stand and turns in flight are not timed.
func (t *Tracker) Finish(eof bool) {
	how := endNormal
	if !eof {
		how = endCancel
	}
	for i := int32(0); i < t.slab.n; i++ {
		if t.slab.at(i).state != stFree {
			t.finish(i, t.now, how)
		}
	}
}
