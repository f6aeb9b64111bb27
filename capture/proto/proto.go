// Package proto recognises the application protocol of a TCP connection
// (HTTP/1.x, TLS, PostgreSQL, MySQL, Redis, DNS) from the first payload
// bytes of each side, and names each of its transactions: an operation
// ("GET /users/:id", "SELECT"), a status ("404", "42P01") and a result
// (ok, client error, server error), as DESIGN.md's "Application protocols"
// defines them.
//
// It parses, it does not time: the TCP tracker keeps the turns (requests and
// responses) and their timings exactly as it does without it, and asks a Conn
// what each turn was when it ends. It does not reassemble streams, buffer
// payload, decrypt TLS, or look at anything beyond the captured bytes of each
// segment; an unrecognised connection, or one whose bytes stop making sense,
// is plain tcp (counted in Stats).
//
// # How the tracker drives it
//
// Every tracked connection has a Conn (64 bytes, no pointers: the tracker
// keeps them in chunks beside its slab, by slot). The tracker
//
//   - calls Open(serverPort) when the connection enters the table;
//   - calls Client(t, data, n) for every new (not retransmitted) client
//     payload segment, and Server(t, data, n) for every new server payload
//     segment, banners included, in packet order: data is the captured
//     payload (it may be shorter than n, the payload length from the IP
//     header, when the snap length cut it), valid only during the call;
//   - lets a server segment for which Server returns interim = true neither
//     begin a response nor end the request (an HTTP 1xx such as 100
//     Continue): the request continues with its body;
//   - calls Txn() when a turn ends (response or not) and attaches what it
//     returns to the transaction; Txn also starts the next transaction.
//
// Protocol() says what the connection is now (TCP until recognised, and
// again after a fallback). All methods allocate nothing, except that the
// first sight of a new operation or status name interns it in Tables.
//
// # Recognition
//
// Each side's first payload (and, while nothing matched, the first payload
// of each of the next few runs of either side, so that connections picked up
// mid-stream are recognised at their next message) is offered to every
// protocol's recogniser, which answers Strong, Weak or NoMatch. A port only
// breaks ties: among Strong matches the protocol of the server's port wins
// (Open sets it from well-known ports), and a Weak match (bytes other
// protocols start with too, such as a Redis inline "PING") counts only on
// its protocol's port. After a few runs with no match the connection stays
// tcp. A parser that finds
// bytes its protocol cannot have where a message must start gives up: the
// connection falls back to tcp for the rest of its life (Stats.Fallbacks).
// Bytes the capture did not keep (snap length) are skipped by count; a parser
// that loses its place because of them waits for the next run of its side,
// which begins a new message in every protocol here.
//
// # Adding a protocol
//
// A protocol has a file with its state type (at most StateSize bytes, no
// pointers; the overlay is checked at compile time, see state.go), and three
// functions that proto.go dispatches to by Protocol:
//
//	func looksX(data []byte, client bool) Match             // recogniser (or bool, wrapped in matchIf)
//	func (s *xState) client(c *Conn, t *Tables, data []byte, n int, run bool)
//	func (s *xState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool)
//
// run is true when the segment begins a new run of its side (the other side
// spoke last, or it is the side's first payload). The state starts zeroed
// (also after Txn, which does not touch it: it is the stream's state, not
// the transaction's). A parser names the transaction with c.setOp and
// c.setStatus (the first request names it; the first failure, else the
// first response, gives status and result), switches protocol with
// c.become (PostgreSQL's SSLRequest answered 'S' becomes TLS) and gives up
// with c.fail.
//
// UDP flows (DNS) are not Conns: their tracker lives beside the TCP one and
// names transactions with the same Tables and Txn type.
//
// The trackers hand each transaction to the aggregator as a Txn (protocol,
// operation and status names, result, response_time); the aggregator keeps
// the per-server breakdown (window.Summary's Operations and Statuses) and
// the client_errors and server_errors counters.
package proto

import (
	"strings"
	"unicode/utf8"
)

// Protocol is an application protocol.
type Protocol uint8

// The protocols, TCP meaning none recognised.
const (
	TCP Protocol = iota
	HTTP
	TLS
	Postgres
	MySQL
	Redis
	DNS
	NumProtocols
)

var protocolNames = [NumProtocols]string{"tcp", "http", "tls", "postgres", "mysql", "redis", "dns"}

// String gives the protocol's name as JSON and DESIGN.md spell it.
func (p Protocol) String() string {
	if p < NumProtocols {
		return protocolNames[p]
	}
	return "unknown"
}

// ParseProtocol maps a name such as "redis" to its Protocol.
func ParseProtocol(s string) (Protocol, bool) {
	for i, n := range protocolNames {
		if n == s {
			return Protocol(i), true
		}
	}
	return 0, false
}

// Result is how a transaction ended.
type Result uint8

// The results; None for a transaction without one (tcp, or a response the
// parser did not see).
const (
	None Result = iota
	OK
	ClientError
	ServerError
	NumResults
)

var resultNames = [NumResults]string{"", "ok", "client_error", "server_error"}

// String gives the result's JSON name ("ok", "client_error",
// "server_error"), "" for None.
func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "unknown"
}

// Txn is one transaction as the trackers hand it to the aggregator: its
// protocol, its operation and status names ("" for none; strings of a
// Tables, so passing them allocates nothing), its result and its
// response_time.
type Txn struct {
	Protocol     Protocol
	Op           string
	Status       string
	Result       Result
	Timed        bool    // the response was seen: ResponseTime holds
	ResponseTime float64 // µs
}

// Bounds of the interning tables.
const (
	MaxOpNames     = 4096 // distinct operation names held
	MaxStatusNames = 1024 // distinct statuses held
	MaxSNINames    = 4096 // distinct TLS server names and ALPN lists held
	MaxOpLen       = 200  // bytes kept of an operation name
	MaxStatusLen   = 64   // bytes kept of a status
	MaxSNILen      = 255
)

// NoName and OtherName are the ids every Names table starts with: no name,
// and the name that stands for every name the full table had no room for.
const (
	NoName    uint16 = 0
	OtherName uint16 = 1
)

// Other is the name of OtherName.
const Other = "other"

// Names interns short names (operations, statuses) as small ids. Looking up a
// name already held allocates nothing. When the table is full, new names get
// OtherName and are counted in Dropped. It is not safe for concurrent use.
type Names struct {
	ids     map[string]uint16
	names   []string
	max     int
	maxLen  int
	Dropped uint64 // names that found the table full
}

// NewNames returns a table holding at most max names of at most maxLen
// bytes (longer names are cut at a UTF-8 boundary).
func NewNames(max, maxLen int) *Names {
	max = min(max, 1<<16)
	n := &Names{ids: make(map[string]uint16), names: []string{"", Other}, max: max, maxLen: maxLen}
	n.ids[Other] = OtherName
	return n
}

// ID returns the id of name b, interning it; an empty b is NoName.
func (n *Names) ID(b []byte) uint16 {
	if len(b) > n.maxLen {
		b = cut(b, n.maxLen)
	}
	if len(b) == 0 {
		return NoName
	}
	if id, ok := n.ids[string(b)]; ok {
		return id
	}
	if len(n.names) >= n.max {
		n.Dropped++
		return OtherName
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?") // never longer; interned under the raw bytes
	}
	id := uint16(len(n.names))
	n.names = append(n.names, s)
	n.ids[string(b)] = id
	return id
}

// IDString is ID for a string.
func (n *Names) IDString(s string) uint16 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	return n.ID([]byte(s))
}

// Name returns the name of id ("" for NoName or an unknown id).
func (n *Names) Name(id uint16) string {
	if int(id) < len(n.names) {
		return n.names[id]
	}
	return ""
}

// Len is the number of ids handed out, NoName and OtherName included.
func (n *Names) Len() int { return len(n.names) }

// cut shortens b to at most max bytes without splitting a UTF-8 sequence.
func cut(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	return b[:i]
}

// Stats counts what recognition did, per connection.
type Stats struct {
	// Recognized counts connections by the protocol recognised; TCP
	// counts those that stayed unrecognised.
	Recognized [NumProtocols]uint64
	// Fallbacks counts connections recognised as a protocol whose parser
	// then gave up: they are timed as tcp from then on.
	Fallbacks [NumProtocols]uint64
}

// Tables holds what the parsers of one tracker share: the interned names
// and the counters. It is not safe for concurrent use.
type Tables struct {
	Ops      *Names
	Statuses *Names
	SNI      *Names // TLS server names, and ALPN lists ("h2,http/1.1")
	Stats    Stats
	codes    [1000]uint16 // Statuses ids of three-digit codes, 0 until interned
}

// code returns the Statuses id of a three-digit status code.
func (t *Tables) code(b []byte) uint16 {
	i := int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0')
	if id := t.codes[i]; id != NoName {
		return id
	}
	id := t.Statuses.ID(b)
	if id != OtherName {
		t.codes[i] = id
	}
	return id
}

// NewTables returns empty tables with the default bounds.
func NewTables() *Tables {
	return &Tables{
		Ops:      NewNames(MaxOpNames, MaxOpLen),
		Statuses: NewNames(MaxStatusNames, MaxStatusLen),
		SNI:      NewNames(MaxSNINames, MaxSNILen),
	}
}

// Conn flag bits.
const (
	cfClient   uint8 = 1 << iota // client payload seen
	cfServer                     // server payload seen
	cfLastSrv                    // the last segment was the server's
	cfDecided                    // recognition is over (proto is final unless a parser switches or fails)
	cfFailed                     // a parser gave up
	cfOpened                     // Open was called
	cfTryShift = 6               // two bits: recognition attempts so far
)

const maxTries = 3

// Conn is the protocol state of one TCP connection: 64 bytes, no pointers.
// The zero value is a connection not opened yet (it behaves as Open(0)).
type Conn struct {
	proto  Protocol
	hint   Protocol // the protocol of the server's port, for ties
	flags  uint8
	res    Result
	op     uint16
	status uint16
	st     state
}

// Open resets c for a new connection whose server listens on serverPort.
func (c *Conn) Open(serverPort uint16) {
	*c = Conn{hint: portProtocol(serverPort), flags: cfOpened}
}

// Protocol is the connection's protocol now.
func (c *Conn) Protocol() Protocol { return c.proto }

// Client handles a new client payload segment: the captured bytes data of
// n payload bytes.
func (c *Conn) Client(t *Tables, data []byte, n int) {
	run := c.flags&cfClient == 0 || c.flags&cfLastSrv != 0
	c.flags = c.flags&^cfLastSrv | cfClient
	if len(data) > n {
		data = data[:n]
	}
	if c.flags&cfDecided == 0 && run && !c.recognise(t, data, true) {
		return
	}
	switch c.proto {
	case HTTP:
		c.st.http().client(c, t, data, n, run)
	case TLS:
		c.st.tls().client(c, t, data, n, run)
	case Postgres:
		c.st.postgres().client(c, t, data, n, run)
	case MySQL:
		c.st.mysql().client(c, t, data, n, run)
	case Redis:
		c.st.redis().client(c, t, data, n, run)
	case DNS:
		c.st.dns().client(c, t, data, n, run)
	}
}

// Server handles a new server payload segment, like Client. interim reports
// that the segment holds only interim responses (HTTP 1xx): it must neither
// begin a response nor end the request.
func (c *Conn) Server(t *Tables, data []byte, n int) (interim bool) {
	run := c.flags&cfServer == 0 || c.flags&cfLastSrv == 0
	c.flags |= cfServer | cfLastSrv
	if len(data) > n {
		data = data[:n]
	}
	if c.flags&cfDecided == 0 && run && !c.recognise(t, data, false) {
		return false
	}
	switch c.proto {
	case HTTP:
		return c.st.http().server(c, t, data, n, run)
	case TLS:
		return c.st.tls().server(c, t, data, n, run)
	case Postgres:
		return c.st.postgres().server(c, t, data, n, run)
	case MySQL:
		return c.st.mysql().server(c, t, data, n, run)
	case Redis:
		return c.st.redis().server(c, t, data, n, run)
	case DNS:
		return c.st.dns().server(c, t, data, n, run)
	}
	return false
}

// Txn ends the current transaction and returns what it was: operation and
// status ids in t's tables (NoName for none) and its result. For tcp it is
// all zero.
func (c *Conn) Txn() (op, status uint16, r Result) {
	op, status, r = c.op, c.status, c.res
	c.op, c.status, c.res = NoName, NoName, None
	if c.proto == TCP {
		return NoName, NoName, None
	}
	return op, status, r
}

// recognise tries to recognise the protocol from the first bytes of a run;
// it reports whether a parser should see the segment.
func (c *Conn) recognise(t *Tables, data []byte, client bool) bool {
	if len(data) == 0 {
		return false
	}
	p := detect(data, client, c.hint)
	if p == TCP {
		tries := c.flags>>cfTryShift + 1
		c.flags = c.flags&^(3<<cfTryShift) | tries<<cfTryShift
		if tries >= maxTries {
			c.flags |= cfDecided
			t.Stats.Recognized[TCP]++
		}
		return false
	}
	c.flags |= cfDecided
	c.proto = p
	c.st = state{}
	t.Stats.Recognized[p]++
	return true
}

// Match is how sure a recogniser is that bytes begin its protocol.
type Match uint8

const (
	NoMatch Match = iota
	Weak          // plausible, but common in other protocols too: only on the protocol's port
	Strong        // hardly anything else starts so
)

func matchIf(ok bool) Match {
	if ok {
		return Strong
	}
	return NoMatch
}

// detect returns the protocol whose recogniser is sure of data, preferring
// hint when several are; a weak match counts only for hint.
func detect(data []byte, client bool, hint Protocol) Protocol {
	found := TCP
	for p := HTTP; p < NumProtocols; p++ {
		switch looks(p, data, client) {
		case Strong:
			if p == hint {
				return p
			}
			if found == TCP || found == hint {
				found = p
			}
		case Weak:
			if p == hint && found == TCP {
				found = p
			}
		}
	}
	return found
}

func looks(p Protocol, data []byte, client bool) Match {
	switch p {
	case HTTP:
		return looksHTTP(data, client)
	case TLS:
		return looksTLS(data, client)
	case Postgres:
		return looksPostgres(data, client)
	case MySQL:
		return looksMySQL(data, client)
	case Redis:
		return looksRedis(data, client)
	case DNS:
		return looksDNS(data, client)
	}
	return NoMatch
}

// portProtocol is the protocol usually served on a port, for ties.
func portProtocol(port uint16) Protocol {
	switch port {
	case 80, 8000, 8008, 8080, 8081, 8888, 3000, 5000, 9200:
		return HTTP
	case 443, 8443, 993, 995, 465, 636, 6443:
		return TLS
	case 5432:
		return Postgres
	case 3306:
		return MySQL
	case 6379:
		return Redis
	case 53:
		return DNS
	}
	return TCP
}

// setOp names the transaction, unless an earlier request of it did.
func (c *Conn) setOp(id uint16) {
	if c.op == NoName {
		c.op = id
	}
}

// setStatus records a response's status and result: the first response's,
// unless a later one of the same transaction failed (errors never hide).
func (c *Conn) setStatus(id uint16, r Result) {
	switch {
	case c.res == None && c.status == NoName:
	case (c.res == OK || c.res == None) && r > OK:
	default:
		return
	}
	c.status, c.res = id, r
}

// become switches the connection to protocol p with a fresh parser state
// (PostgreSQL's SSLRequest answered 'S' becomes TLS).
func (c *Conn) become(p Protocol) {
	c.proto = p
	c.st = state{}
	c.flags |= cfDecided
}

// fail makes the connection plain tcp for good: its parser found bytes its
// protocol cannot have.
func (c *Conn) fail(t *Tables) {
	t.Stats.Fallbacks[c.proto]++
	c.proto = TCP
	c.flags |= cfDecided | cfFailed
	c.op, c.status, c.res = NoName, NoName, None
}

// Failed reports whether a parser gave up on c.
func (c *Conn) Failed() bool { return c.flags&cfFailed != 0 }
