package tcp

import "github.com/pastmon/pastmon/capture/proto"

// TxnSink is a ServerSink that also takes what a recognised application
// protocol says of each transaction (package proto): the tracker hands it
// every transaction of a recognised connection, after counting and timing
// the turn as for any connection. The aggregator is one.
type TxnSink interface {
	TxnID(id uint32, ts int64, tx *proto.Txn)
}
