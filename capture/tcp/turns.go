package tcp

import (
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/window"
)

// This file follows the request/response turns of a connection and times
// them: response_time, transfer_time and transactions.

// data moves the turn on at new payload of an established connection.
func (t *Tracker) data(idx int32, c *conn, dir int, p *packet.Packet) {
	if dir == 0 {
		switch c.turn {
		case turnResponse:
			t.endTurn(idx, c)
			fallthrough
		case turnIdle:
			c.turn = turnRequest
			c.reqBytes = 0
		}
		c.reqLast = p.TS
		c.reqBytes += p.Payload
		t.protoData(idx, dir, p)
		return
	}
	if t.protoData(idx, dir, p) && c.turn == turnRequest {
		return // an interim response (HTTP 1xx): the request goes on
	}
	switch c.turn {
	case turnRequest:
		c.turn = turnResponse
		c.respFirst = p.TS
		c.respBytes = 0
		fallthrough
	case turnResponse:
		c.respLast = p.TS
		c.respBytes += p.Payload
	}
}

// endTurn closes the current turn: a response makes a transaction.
func (t *Tracker) endTurn(idx int32, c *conn) {
	switch c.turn {
	case turnResponse:
		rt, tt := us(c.respFirst-c.reqLast), us(c.respLast-c.reqLast)
		t.sink.CountID(c.srv, c.respLast, window.Transactions, 1)
		t.sink.SampleID(c.srv, c.respLast, window.ResponseTime, rt)
		t.sink.SampleID(c.srv, c.respLast, window.TransferTime, tt)
		var tx *Transaction
		if r := t.records[idx]; r != nil {
			r.Transactions = append(r.Transactions, Transaction{
				RequestAt: time.Unix(0, c.reqLast).UTC(), ResponseTime: ptr(rt), TransferTime: ptr(tt),
				RequestBytes: uint64(c.reqBytes), ResponseBytes: uint64(c.respBytes),
			})
			tx = &r.Transactions[len(r.Transactions)-1]
		}
		t.protoTxn(idx, c, true, rt, tx)
	case turnRequest:
		var tx *Transaction
		if r := t.records[idx]; r != nil {
			r.Transactions = append(r.Transactions, Transaction{
				RequestAt: time.Unix(0, c.reqLast).UTC(), RequestBytes: uint64(c.reqBytes),
			})
			tx = &r.Transactions[len(r.Transactions)-1]
		}
		t.protoTxn(idx, c, false, 0, tx)
	}
	c.turn = turnIdle
}
