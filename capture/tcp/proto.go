package tcp

import (
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/proto"
)

// This file hands each connection's payload to its application protocol
// parser (package proto) and attaches what the parser says to the turns.
// The turns and their timings are the same with the parsers as without:
// the only thing a parser changes is that an interim response (HTTP 1xx)
// does not begin a response.

// TxnSink is a ServerSink that also takes what a recognised application
// protocol says of each transaction (package proto): the tracker hands it
// every transaction of a recognised connection, after counting and timing
// the turn as for any connection. The aggregator is one.
type TxnSink interface {
	TxnID(id uint32, ts int64, tx *proto.Txn)
}

// protos holds the parser state of every slot, in chunks beside the slab's
// (so that without parsers nothing is allocated and conn stays small).
type protos struct {
	tab    *proto.Tables // nil: parsers off
	sink   TxnSink       // nil: the sink does not take transactions
	chunks [][]proto.Conn
	txn    proto.Txn
}

func (ps *protos) init(tab *proto.Tables, sink ServerSink) {
	ps.tab = tab
	ps.sink, _ = sink.(TxnSink)
}

func (ps *protos) at(idx int32) *proto.Conn {
	ch := int(idx >> chunkBits)
	for ch >= len(ps.chunks) {
		ps.chunks = append(ps.chunks, make([]proto.Conn, 1<<chunkBits))
	}
	return &ps.chunks[ch][idx&(1<<chunkBits-1)]
}

// protoOpen starts the parser of a new connection.
func (t *Tracker) protoOpen(idx int32, server Endpoint) {
	if t.protos.tab != nil {
		t.protos.at(idx).Open(server.Port)
	}
}

// protoData hands new payload to the parser; it reports whether the
// segment is an interim response, which must not begin a response.
func (t *Tracker) protoData(idx int32, dir int, p *packet.Packet) (interim bool) {
	if t.protos.tab == nil {
		return false
	}
	pc := t.protos.at(idx)
	if dir == 0 {
		pc.Client(t.protos.tab, p.Data, int(p.Payload))
		return false
	}
	return pc.Server(t.protos.tab, p.Data, int(p.Payload))
}

// protoTxn ends the parser's transaction with the turn: timed says the
// turn had a response, rt its response_time. It names the record's
// transaction tx (nil without records).
func (t *Tracker) protoTxn(idx int32, c *conn, timed bool, rt float64, tx *Transaction) {
	if t.protos.tab == nil {
		return
	}
	pc := t.protos.at(idx)
	op, status, res := pc.Txn()
	p := pc.Protocol()
	if p == proto.TCP {
		return
	}
	names := t.protos.tab
	if tx != nil {
		tx.named(names.Ops.Name(op), names.Statuses.Name(status), res.String())
	}
	if timed && t.protos.sink != nil {
		// Reused: handed to an interface, a fresh one would escape.
		t.protos.txn = proto.Txn{Protocol: p, Op: names.Ops.Name(op), Status: names.Statuses.Name(status),
			Result: res, Timed: true, ResponseTime: rt}
		t.protos.sink.TxnID(c.srv, c.respLast, &t.protos.txn)
	}
}

// protoRecord completes a record with the connection's protocol.
func (t *Tracker) protoRecord(idx int32, r *Record) {
	r.Protocol = proto.TCP.String()
	if t.protos.tab == nil {
		return
	}
	pc := t.protos.at(idx)
	r.Protocol = pc.Protocol().String()
	if sni, _ := pc.TLSNames(); sni != proto.NoName {
		s := t.protos.tab.SNI.Name(sni)
		r.SNI = &s
	}
	if _, alpn := pc.TLSNames(); alpn != proto.NoName {
		r.ALPN = t.protos.tab.SNI.Name(alpn)
	}
}

// ProtoStats returns what recognition did so far (zero without parsers).
func (t *Tracker) ProtoStats() proto.Stats {
	if t.protos.tab == nil {
		return proto.Stats{}
	}
	return t.protos.tab.Stats
}

// named sets a transaction's protocol fields; "" stays null.
func (tx *Transaction) named(op, status, result string) {
	tx.Operation, tx.Status, tx.Result = strPtr(op), strPtr(status), strPtr(result)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
