package aggregate

import (
	"math"

	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/window"
)

// maxOpenOperations bounds the operations a summary collects by name while
// its window is open; later ones go to window.OtherOperation at once. When
// the window is handed on, the window.MaxOperations most frequent keep their
// names (window.BoundOperations).
const maxOpenOperations = 2 * window.MaxOperations

var _ interface {
	TxnID(id uint32, ts int64, tx *proto.Txn)
} = (*Aggregator)(nil)

// TxnID adds what a recognised protocol says of one transaction of the
// server of handle id, counted at ts: the server's protocol, the
// transaction's status, and its share of the operation breakdown. The
// transaction itself (transactions, response_time, transfer_time) is
// counted by CountID and SampleID as for any TCP turn.
func (a *Aggregator) TxnID(id uint32, ts int64, tx *proto.Txn) {
	if tx.Protocol == proto.TCP {
		return
	}
	s := a.slotSummary(id, ts)
	if s == nil {
		return
	}
	if s.Protocol == "" {
		s.Protocol = tx.Protocol.String()
	}
	if tx.Status != "" {
		if s.Statuses != nil && len(s.Statuses) < window.MaxStatuses-1 {
			s.Statuses[tx.Status]++ // room for any status: one map operation
		} else {
			s.Statuses = window.AddStatus(s.Statuses, tx.Status, 1)
		}
	}
	switch tx.Result {
	case proto.ClientError:
		s.AddCount(window.ClientErrors, 1)
	case proto.ServerError:
		s.AddCount(window.ServerErrors, 1)
	}
	if tx.Op == "" {
		return
	}
	op := a.operation(s, tx.Op)
	op.Count++
	switch tx.Result {
	case proto.OK:
		op.OK++
	case proto.ClientError:
		op.ClientError++
	case proto.ServerError:
		op.ServerError++
	}
	if rt := tx.ResponseTime; tx.Timed && rt >= 0 && rt <= window.MaxMicros && !math.IsNaN(rt) {
		a.samples.Add(&op.ResponseTime, rt)
	}
}

// operation finds or adds name in s's breakdown.
func (a *Aggregator) operation(s *window.Summary, name string) *window.Operation {
	for i := range s.Operations {
		if s.Operations[i].Name == name {
			return &s.Operations[i]
		}
	}
	if len(s.Operations) >= maxOpenOperations && name != window.OtherOperation {
		return a.operation(s, window.OtherOperation)
	}
	// Growing the slice moves the distributions: the pending batch must
	// reach them first.
	a.samples.Flush()
	s.Operations = append(s.Operations, window.Operation{Name: name})
	return &s.Operations[len(s.Operations)-1]
}
