package tcp

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"time"

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

// Counter names one of window.Counters' fields.
type Counter uint8

// The counters, in window.Counters' order.
const (
	Connections Counter = iota
	Established
	Refused
	Unanswered
	Resets
	SynRetries
	Retransmits
	Transactions
	BytesToServer
	BytesFromServer
	NumCounters
)

// AddTo adds n to the field of c that k names.
func (k Counter) AddTo(c *window.Counters, n uint64) {
	switch k {
	case Connections:
		c.Connections += n
	case Established:
		c.Established += n
	case Refused:
		c.Refused += n
	case Unanswered:
		c.Unanswered += n
	case Resets:
		c.Resets += n
	case SynRetries:
		c.SynRetries += n
	case Retransmits:
		c.Retransmits += n
	case Transactions:
		c.Transactions += n
	case BytesToServer:
		c.BytesToServer += n
	case BytesFromServer:
		c.BytesFromServer += n
	}
}

// Sink receives what the tracker measures. ts is the packet time (Unix ns)
// at which the count or sample is taken; it decides the window. Calls come
// from the goroutine that feeds the tracker.
type Sink interface {
	Count(server Endpoint, ts int64, k Counter, n uint64)
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
	CountID(id uint32, ts int64, k Counter, n uint64)
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

func (e *endpointIDs) CountID(id uint32, ts int64, k Counter, n uint64) {
	e.Count(e.eps[id], ts, k, n)
}

func (e *endpointIDs) SampleID(id uint32, ts int64, m window.Metric, us float64) {
	e.Sample(e.eps[id], ts, m, us)
}

// Record describes one connection for `pastmon analyze --connections`. It is
// only built when Config.OnRecord is set. Timings are in microseconds; nil
// means not measurable (never 0).
type Record struct {
	Client      netip.AddrPort `json:"client"`
	Server      netip.AddrPort `json:"server"`
	Start       time.Time      `json:"start"`
	Outcome     string         `json:"outcome"`
	Reset       bool           `json:"reset"`
	SynRetries  uint64         `json:"syn_retries"`
	RTTServer   *float64       `json:"rtt_server_us"`
	RTTClient   *float64       `json:"rtt_client_us"`
	ConnectTime *float64       `json:"connect_time_us"`
	Retransmits uint64         `json:"retransmits"`
	BytesTo     uint64         `json:"bytes_to_server"`
	BytesFrom   uint64         `json:"bytes_from_server"`
	// Transactions lists the request/response turns in order.
	Transactions []Transaction `json:"transactions"`
}

// Outcomes of a Record.
const (
	OutcomeEstablished = "established" // handshake seen and completed
	OutcomeRefused     = "refused"     // SYN answered by RST
	OutcomeUnanswered  = "unanswered"  // SYN never answered
	OutcomeIncomplete  = "incomplete"  // SYN/ACK seen, its ACK never
	OutcomeMidstream   = "midstream"   // first seen after the handshake, server inferred
	OutcomeUntimed     = "untimed"     // first seen after the handshake, server unknown
)

// Transaction is one request/response turn of a Record.
type Transaction struct {
	RequestAt     time.Time `json:"request_at"` // the request's last segment
	ResponseTime  *float64  `json:"response_time_us"`
	TransferTime  *float64  `json:"transfer_time_us"`
	RequestBytes  uint64    `json:"request_bytes"`
	ResponseBytes uint64    `json:"response_bytes"`
}

// TimeFormat is RFC 3339 with nanoseconds, fixed width.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// MarshalJSON writes r as `pastmon analyze --connections` prints it: times
// in UTC and TimeFormat, fields in declaration order.
func (r *Record) MarshalJSON() ([]byte, error) {
	type plain Record
	return json.Marshal(struct {
		Client netip.AddrPort `json:"client"`
		Server netip.AddrPort `json:"server"`
		Start  string         `json:"start"`
		*plain
	}{r.Client, r.Server, r.Start.UTC().Format(TimeFormat), (*plain)(r)})
}

// MarshalJSON writes t with RequestAt in UTC and TimeFormat.
func (t Transaction) MarshalJSON() ([]byte, error) {
	type plain Transaction
	return json.Marshal(struct {
		RequestAt string `json:"request_at"`
		plain
	}{t.RequestAt.UTC().Format(TimeFormat), plain(t)})
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

func ptr(v float64) *float64 { return &v }

// keyEndpoint returns an endpoint of a flow key: lo or hi as stored.
func keyEndpoint(k *flowKey, hi bool) Endpoint {
	a, b, port := k.addr[0], k.addr[1], uint16(k.ports>>16)
	if hi {
		a, b, port = k.addr[2], k.addr[3], uint16(k.ports)
	}
	e := Endpoint{Port: port}
	if a == 0 && b>>32 == 0xffff {
		binary.BigEndian.PutUint32(e.Addr[:4], uint32(b))
	} else {
		binary.BigEndian.PutUint64(e.Addr[:8], a)
		binary.BigEndian.PutUint64(e.Addr[8:], b)
		e.V6 = true
	}
	return e
}
