package ship

import (
	"context"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// Destination takes batches. Send returns nil error once the batch is
// acknowledged, with the windows it refused for good in the Reply (they
// are dropped); any error means "keep the batch and retry".
type Destination interface {
	Send(ctx context.Context, b *window.Batch) (Reply, error)
	// Where names the destination in logs; "" while it is unknown, and
	// delivery waits until Shipper.Retry.
	Where() string
}

// Reply is a destination's answer to an acknowledged batch.
type Reply struct {
	Rejected []Rejection // windows refused for good
}

// Rejection is one window the destination refused, and why.
type Rejection struct {
	Index  int    `json:"index"` // in the batch's windows
	Server string `json:"server"`
	Start  string `json:"start"`
	Error  string `json:"error"`
}

// Store delivers into the web node's own database, for its own sensor.
type Store struct{ DB Ingester }

// Ingester stores the valid windows of a batch and says which it refused:
// a *store.DB, or the web node (which also counts them in /metrics).
type Ingester interface {
	IngestWindows(ctx context.Context, b *window.Batch, now time.Time) (store.IngestResult, error)
}

// Send ingests b; the windows the store refused are dropped as a remote
// web node's are.
func (d Store) Send(ctx context.Context, b *window.Batch) (Reply, error) {
	res, err := d.DB.IngestWindows(ctx, b, time.Now())
	if err != nil {
		return Reply{}, err
	}
	var r Reply
	for _, rj := range res.Rejected {
		r.Rejected = append(r.Rejected, Rejection{Index: rj.Index, Server: rj.Server.String(),
			Start: rj.Start.UTC().Format(time.RFC3339), Error: rj.Reason})
	}
	return r, nil
}

// Where names the web node's own store.
func (d Store) Where() string { return "own store" }
