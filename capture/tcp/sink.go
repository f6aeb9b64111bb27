package tcp

import (
	"net/netip"

	"github.com/pastmon/pastmon/capture/window"
)

// Endpoint is one side of a connection: an address (IPv4 in the first four
// bytes unless V6) and a port. It is comparable and cheap to pass by value.
type Endpoint struct {
	Addr [16]byte
	Port uint16
	V6   bool
}

// AddrPort converts e to a netip.AddrPort.
func (e Endpoint) AddrPort() netip.AddrPort {
	if e.V6 {
		return netip.AddrPortFrom(netip.AddrFrom16(e.Addr), e.Port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Addr[:4])), e.Port)
}

func (e Endpoint) String() string { return e.AddrPort().String() }

// Sink receives what the tracker measures. ts is the packet time (Unix ns)
// at which the count or sample is taken; it decides the window. Calls come
// from the goroutine that feeds the tracker.
type Sink interface {
	Count(server Endpoint, ts int64, k window.Counter, n uint64)
	Sample(server Endpoint, ts int64, m window.Metric, us float64)
}

// ServerSink is a Sink that hands out small integer handles for servers,
// so that the tracker reports a connection's measurements without building
// the server's Endpoint and having it looked up for every one. The tracker
// takes a handle when a connection starts (Acquire) and gives it back when
// the connection leaves the table (Release); while held, a handle names the
// same server. CountID and SampleID must do exactly what Count and Sample do
// for that server. A Sink that is not a ServerSink gets the handles from the
// tracker itself.
type ServerSink interface {
	Sink
	Acquire(server Endpoint) uint32
	Release(id uint32)
	CountID(id uint32, ts int64, k window.Counter, n uint64)
	SampleID(id uint32, ts int64, m window.Metric, us float64)
}

// endpointIDs makes a ServerSink of a plain Sink.
type endpointIDs struct {
	Sink
	ids  map[Endpoint]uint32
	eps  []Endpoint
	refs []int32
	free []uint32
}

func (e *endpointIDs) Acquire(server Endpoint) uint32 {
	if id, ok := e.ids[server]; ok {
		e.refs[id]++
		return id
	}
	var id uint32
	if n := len(e.free); n > 0 {
		id = e.free[n-1]
		e.free = e.free[:n-1]
		e.eps[id], e.refs[id] = server, 1
	} else {
		id = uint32(len(e.eps))
		e.eps = append(e.eps, server)
		e.refs = append(e.refs, 1)
	}
	e.ids[server] = id
	return id
}

func (e *endpointIDs) Release(id uint32) {
	if e.refs[id]--; e.refs[id] == 0 {
		delete(e.ids, e.eps[id])
		e.free = append(e.free, id)
	}
}

func (e *endpointIDs) CountID(id uint32, ts int64, k window.Counter, n uint64) {
	e.Count(e.eps[id], ts, k, n)
}

func (e *endpointIDs) SampleID(id uint32, ts int64, m window.Metric, us float64) {
	e.Sample(e.eps[id], ts, m, us)
}
