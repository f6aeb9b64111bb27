package tcp

import "github.com/pastmon/pastmon/capture/packet"

// WellKnownPorts are the ports above 1023 taken as the server side of a
// connection picked up mid-stream (ports below 1024 always are).
var WellKnownPorts = []uint16{
	1433, 1521, 2049, 2181, 2379, 3000, 3306, 3389, 5000, 5432, 5672, 5984,
	6379, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9042, 9092, 9200, 9300,
	11211, 15672, 27017,
}

const maxListeners = 1 << 16

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

// listener remembers e as a server that answered a SYN.
func (t *Tracker) listener(e Endpoint) {
	if _, ok := t.listen[e]; ok {
		return
	}
	if len(t.listen) >= maxListeners {
		for k := range t.listen {
			delete(t.listen, k)
			break
		}
	}
	t.listen[e] = struct{}{}
}

func (t *Tracker) isListener(e Endpoint) bool {
	_, ok := t.listen[e]
	return ok
}

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
