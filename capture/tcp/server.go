package tcp

import (
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// WellKnownPorts are the ports above 1023 taken as the server side of a
// connection picked up mid-stream (ports below 1024 always are).
var WellKnownPorts = []uint16{
	1433, 1521, 2049, 2181, 2379, 3000, 3306, 3389, 5000, 5432, 5672, 5984,
	6379, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9042, 9092, 9200, 9300,
	11211, 15672, 27017,
}

// MaxListeners bounds the servers remembered as having answered a SYN
// (for mid-stream connections and for closed-port buckets). When the set
// is full, one is forgotten at random (Stats.ListenersDropped).
const MaxListeners = 1 << 16

// noServer is conn.srv while the connection's server is undecided.
const noServer = ^uint32(0)

// midstream decides the server of a connection first seen after its
// handshake, from the listeners seen so far and then the well-known ports,
// and reports whether the client is p's source. A connection whose server
// cannot be inferred is untimed: its client is taken to be the higher port.
func (t *Tracker) midstream(c *conn, src, dst Endpoint, srcLo bool) (clientIsSrc bool) {
	c.flags |= fWasEst | fMid
	srcL, dstL := t.isListener(src), t.isListener(dst)
	switch {
	case srcL != dstL:
		c.state = stMid
		return dstL
	case srcL:
		c.state = stUntimed
		t.stats.Untimed++
		return src.Port > dst.Port
	}
	srcW, dstW := wellKnown(src.Port), wellKnown(dst.Port)
	if srcW != dstW {
		c.state = stMid
		return dstW
	}
	c.state = stUntimed
	t.stats.Untimed++
	return src.Port > dst.Port || (src.Port == dst.Port && !srcLo)
}

// attribute gives a connection whose server was left undecided at its SYN
// (see open) its server handle, and counts what waited for it: the
// connection and its SYN retries. A connection refused or unanswered
// (closed) at a port that never completed a handshake counts under its
// host's closed-ports bucket, port 0 (DESIGN's Limits: a port scan or SYN
// flood never creates a server per port); any other under its server.
func (t *Tracker) attribute(c *conn, closed bool) {
	if c.srv != noServer {
		return
	}
	srv := c.server()
	if closed && !t.completed(srv) {
		srv.Port = 0
	}
	c.srv = t.sink.Acquire(srv)
	t.sink.CountID(c.srv, c.firstSYN, window.Connections, 1)
	if c.synRetries > 0 {
		t.sink.CountID(c.srv, c.lastSeen, window.SynRetries, uint64(c.synRetries))
	}
}

// listener remembers e as a server that answered a SYN.
func (t *Tracker) listener(e Endpoint) {
	if _, ok := t.listen[e]; !ok {
		t.remember(e, false)
	}
}

// completedHandshake remembers c's server as one that completed a handshake.
func (t *Tracker) completedHandshake(c *conn) {
	if e := c.server(); !t.listen[e] {
		t.remember(e, true)
	}
}

func (t *Tracker) remember(e Endpoint, completed bool) {
	if _, ok := t.listen[e]; !ok && len(t.listen) >= MaxListeners {
		for k := range t.listen {
			delete(t.listen, k)
			t.stats.ListenersDropped++
			break
		}
	}
	t.listen[e] = completed
}

func (t *Tracker) isListener(e Endpoint) bool {
	_, ok := t.listen[e]
	return ok
}

// completed reports whether e completed a handshake.
func (t *Tracker) completed(e Endpoint) bool { return t.listen[e] }

var wellKnownSet = func() (s [65536 / 64]uint64) {
	for _, p := range WellKnownPorts {
		s[p/64] |= 1 << (p % 64)
	}
	return s
}()

func wellKnown(port uint16) bool {
	return port != 0 && (port < 1024 || wellKnownSet[port/64]&(1<<(port%64)) != 0)
}

func packetEndpoints(p *packet.Packet) (src, dst Endpoint) {
	src = Endpoint{Addr: p.Src, Port: p.SrcPort, V6: p.V6}
	dst = Endpoint{Addr: p.Dst, Port: p.DstPort, V6: p.V6}
	if !p.V6 {
		clear(src.Addr[4:])
		clear(dst.Addr[4:])
	}
	return src, dst
}

// server and client endpoints of c.
func (c *conn) server() Endpoint { k := c.key(); return keyEndpoint(&k, c.has(fClientLo)) }
func (c *conn) client() Endpoint { k := c.key(); return keyEndpoint(&k, !c.has(fClientLo)) }
