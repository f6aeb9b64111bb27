// Package tcp tracks TCP connections from decoded packets and times them as
// DESIGN.md's "Measurements" section defines: the handshake (rtt_server,
// rtt_client, rtt, connect_time), continuous round-trip samples on
// established connections, and request/response turns (response_time,
// transfer_time), plus the per-connection outcomes and counters. It reports
// what it measures to a Sink, attributed to the server (ip:port) of each
// connection; it does not aggregate or keep windows. With Config.Proto set,
// it hands each connection's new payload to its application protocol
// parser (package proto) and each transaction's name to a TxnSink; it does
// not read payload bytes itself.
//
// # Flow table
//
// Connections live in a slab of fixed-size structs (grown in chunks, never
// shrunk, reused through a free list) indexed by an open-addressing hash table
// of the direction-independent 4-tuple. At most Config.MaxFlows connections
// are tracked. When the table is full, the oldest half-open connection (SYN
// seen, handshake not complete) is evicted first, so that a SYN flood cannot
// push out established connections; only when there is none, the least
// recently active of a few randomly sampled connections is evicted. An evicted
// half-open connection counts as unanswered.
//
// Timeouts, in packet time (Expire applies them):
//   - half-open (SYN or SYN/ACK seen, handshake not complete): 30 s after the
//     last packet; a SYN never answered then counts as unanswered
//   - established, or picked up mid-stream: 1 h after the last packet
//   - closed (FIN seen from both sides, or RST): lingers 10 s to absorb the
//     last ACKs and retransmissions
//   - a response that no packet of its connection followed for 15 s ends
//     ("idle" in DESIGN.md's turn model)
//
// # Which side is the server
//
// The server is the side that received the SYN (or sent the SYN/ACK, when
// the capture started between the two). Servers that answered a SYN are
// remembered as listeners (ip:port). A connection first seen mid-stream gets
// a server only when exactly one side is a remembered listener or, failing
// that, exactly one port is well-known (below 1024, or one of
// WellKnownPorts). Otherwise the connection counts in Connections (under the
// side with the lower port) and nothing else; it is not timed.
//
// Closed ports (DESIGN's Limits): a connection refused or unanswered at a
// port that this tracker has not seen complete a handshake counts under its
// host's closed-ports bucket, the server with port 0 (shown ip:*), so that a
// port scan or SYN flood makes one server per host, not one per port. Such
// a connection's server is decided by its outcome: until the SYN is
// answered, refused or given up, nothing of it is counted. At most
// MaxListeners servers are remembered; segments from or to port 0 are
// ignored (Stats.PortZero).
//
// # Turns
//
// A request is the run of client payload that follows the handshake (or a
// mid-stream pickup, or the previous response); a response is the run of
// server payload after a request. It ends when the client sends payload
// again, at FIN or RST from either side, after 15 s without a packet, or at
// the end of the input. Pipelined requests are one run of client payload, so
// they make one turn with the run of responses that follows. Server payload
// no request preceded (a banner, or data after a response ended) is not a
// response. A request still waiting for its response when the connection
// ends is not a transaction (it appears in connection records with null
// timings).
//
// With the protocol parsers on, one thing changes: a server segment that
// holds only an interim response (HTTP 1xx, such as 100 Continue) neither
// begins a response nor ends the request, which goes on with its body.
// Every other turn, and every timing, is the same with the parsers as
// without.
//
// A segment whose end (seq+len) is not above the highest end seen in its
// direction is a retransmission: it counts in retransmits and bytes, and never
// moves a turn's timestamps or starts a sample. Segments above the next
// expected sequence number (out of order) are new data.
//
// # Continuous RTT
//
// When both sides send TCP timestamps, the first payload-carrying segment
// from side A with a TSval never seen before starts a sample (one at a time
// per direction) and the first packet from B whose TSecr echoes it ends it.
// Otherwise, a payload segment from A at the next expected sequence number
// starts a sample and the first ACK from B covering its end ends it. A
// retransmission in either direction cancels the affected sample (Karn).
// The sample is the sensor↔B half: rtt_client when B is the client,
// rtt_server when B is the server; together with the latest half of the
// other side it makes an rtt sample. Pure ACKs never start a sample, since
// nothing forces the other side to answer them promptly.
//
// # When a sample counts
//
// Every sample and counter carries the packet time at which it is taken,
// which decides its 5-minute window downstream: the handshake samples
// (rtt_server, rtt_client, rtt, connect_time) and established at the ACK that
// completes the handshake; a turn's response_time, transfer_time and its
// transactions count at the response's last segment; continuous RTT samples
// at the echoing packet; refused at the RST; unanswered when the timeout,
// eviction or end of input decides it; syn_retries, resets, retransmits and
// bytes at their packet. Every connection counts once in connections, at its
// first packet's time (when its server waits for its outcome, it is counted
// then, still at that time); one picked up mid-stream counts in no outcome (established,
// refused, unanswered), since its handshake was not seen. Bytes count payload
// as the IP header gives it, retransmissions included.
//
// # Files
//
// Each measurement is computed in the file named for it: handshake.go
// (rtt_server, rtt_client, rtt and connect_time of the handshake,
// syn_retries, and the outcomes established, refused, unanswered and
// resets), rtt.go (continuous RTT), turns.go (response_time, transfer_time,
// transactions), counters.go (bytes and retransmits), server.go (which side
// is the server), record.go (the records of --connections). lifecycle.go
// holds the timeouts and evictions, table.go the flow table's index.
//
// # Interfaces
//
// A connection is measured at the capture interface where it was first seen;
// its packets seen on other interfaces are duplicates and ignored.
package tcp
