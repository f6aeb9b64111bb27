package tcp

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Record describes one connection for `pastmon analyze --connections`. It is
// only built when Config.OnRecord is set. Timings are in microseconds; nil
// means not measurable (never 0).
type Record struct {
	Client      netip.AddrPort `json:"client"`
	Server      netip.AddrPort `json:"server"`
	Transport   string         `json:"transport,omitempty"` // "udp" for a DNS flow over UDP; "" is tcp
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
	// Protocol is the application protocol recognised ("tcp" for none),
	// SNI the TLS server name, ALPN the protocols a TLS client offered.
	Protocol string  `json:"protocol"`
	SNI      *string `json:"sni,omitempty"`
	ALPN     string  `json:"alpn,omitempty"`
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
	// What the protocol says of the transaction; null for tcp.
	Operation *string `json:"operation"`
	Status    *string `json:"status"`
	Result    *string `json:"result"`
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

func ptr(v float64) *float64 { return &v }

// newRecord starts the record of the connection in slot idx.
func (t *Tracker) newRecord(idx int32, client, server Endpoint, ts int64) {
	t.records[idx] = &Record{Client: client.AddrPort(), Server: server.AddrPort(), Start: time.Unix(0, ts).UTC(), Transactions: []Transaction{}}
}

// emitRecord completes the record of a connection that ends and hands it on.
func (t *Tracker) emitRecord(idx int32, c *conn, r *Record) {
	delete(t.records, idx)
	if r.Outcome == "" {
		switch {
		case c.state == stUntimed:
			r.Outcome = OutcomeUntimed
		case c.has(fMid):
			r.Outcome = OutcomeMidstream
		case c.has(fWasEst):
			r.Outcome = OutcomeEstablished
		case c.state == stSynSent:
			r.Outcome = OutcomeUnanswered
		default:
			r.Outcome = OutcomeIncomplete
		}
	}
	r.Reset = c.has(fReset)
	r.SynRetries = uint64(c.synRetries)
	t.protoRecord(idx, r)
	t.cfg.OnRecord(r)
}
