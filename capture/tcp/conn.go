package tcp

const (
	stFree uint8 = iota
	stSynSent
	stSynRcvd
	stEst     // handshake seen and completed
	stMid     // picked up mid-stream, server inferred
	stUntimed // picked up mid-stream, server unknown
	stClosed  // FIN both ways or RST; lingering
)

const (
	turnIdle uint8 = iota
	turnRequest
	turnResponse
)

// conn flag bits. Direction 0 is client → server, 1 server → client.
const (
	fClientLo  uint32 = 1 << iota // the client is the key's lower endpoint
	fHasSYN                       // firstSYN is valid
	fISN                          // isn[0] is known
	fAmbiguous                    // SYN or SYN/ACK retransmitted: no handshake rtt
	fReset                        // an RST was seen
	fWasEst                       // the connection was established (or picked up)
	fMid                          // picked up mid-stream
	fTS0                          // timestamps seen from the client
	fTS1                          // … from the server
	fFIN0
	fFIN1
	fHalf0 // half[0] (sensor ↔ client) is valid
	fHalf1 // half[1] (sensor ↔ server) is valid
	fPend0 // a sample started by direction 0 is waiting
	fPend1
	fSeq0 // nxt[0] is valid
	fSeq1
	fTSv0 // lastTSval[0] is valid
	fTSv1
)

// conn is one tracked connection: 192 bytes (three cache lines, and
// aligned to them in a chunk), no pointers.
type conn struct {
	addr       [4]uint64 // the flowKey
	ports      uint32
	iface      int32
	srv        uint32 // the server's handle from the sink
	prev, next int32  // half-open list
	state      uint8
	turn       uint8
	synRetries uint16
	flags      uint32
	isn        [2]uint32
	nxt        [2]uint32 // highest seq+len seen per direction
	lastTSval  [2]uint32
	pendVal    [2]uint32 // TSval or seq end awaiting its echo or ACK
	pendWin    int32     // window index of the pending counters
	pendAt     [2]int64
	half       [2]int64 // latest half RTT, ns: [0] sensor↔client, [1] sensor↔server
	firstSYN   int64
	synAck     int64
	lastSeen   int64
	reqLast    int64
	respFirst  int64
	respLast   int64
	reqBytes   uint32
	respBytes  uint32
	pendTo     uint32 // bytes not yet handed to the sink (retransmits: in flags)
	pendFrom   uint32
}

func (c *conn) has(f uint32) bool { return c.flags&f != 0 }

func (c *conn) key() flowKey { return flowKey{c.addr, c.ports} }

const chunkBits = 12

// slab holds the connections in chunks that are allocated on demand and
// never freed, so memory stays flat at the peak.
type slab struct {
	chunks [][]conn
	n      int32 // slots handed out so far
}

func (s *slab) at(i int32) *conn { return &s.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }
