package ship

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/web"
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

// HTTP delivers to a remote web node's ingest API. SetURL follows the web
// node when it moves.
type HTTP struct {
	client *web.Client
	mu     sync.Mutex
	url    string
}

// NewHTTP returns a destination posting to the web node at url ("" until
// it is known) with the sensors' token.
func NewHTTP(url, token string) *HTTP {
	return &HTTP{client: web.NewClient(url, token), url: url}
}

// SetURL points delivery at a web node; "" pauses delivery (spooling
// only). It reports whether the URL changed; the caller then calls
// Shipper.Retry so that delivery tries the new one at once.
func (h *HTTP) SetURL(url string) bool {
	h.mu.Lock()
	changed := h.url != url
	h.url = url
	h.client.SetURL(url)
	h.mu.Unlock()
	switch {
	case !changed:
	case url == "":
		slog.Warn("web node unknown: spooling until it registers")
	default:
		slog.Info("delivering to web node", "url", url)
	}
	return changed
}

// Where is the web node's URL, "" while unknown.
func (h *HTTP) Where() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.url
}

// Send posts b to the web node.
func (h *HTTP) Send(ctx context.Context, b *window.Batch) (Reply, error) {
	err := h.client.Send(ctx, b)
	var rej *web.RejectedError
	if errors.As(err, &rej) {
		// The web node refused the whole batch for good.
		r := Reply{Rejected: make([]Rejection, len(b.Summaries))}
		for i := range r.Rejected {
			r.Rejected[i] = Rejection{Index: i, Server: b.Summaries[i].Server.String(), Error: rej.Error()}
		}
		return r, nil
	}
	return Reply{}, err
}

// Store delivers into the web node's own database, for its own sensor.
type Store struct{ DB Ingester }

// Ingester stores batches: a *store.DB, or the web node (which also
// counts them in /metrics).
type Ingester interface {
	Ingest(ctx context.Context, b *window.Batch, now time.Time) (duplicate bool, err error)
}

// Send ingests b.
func (d Store) Send(ctx context.Context, b *window.Batch) (Reply, error) {
	_, err := d.DB.Ingest(ctx, b, time.Now())
	return Reply{}, err
}

// Where names the web node's own store.
func (d Store) Where() string { return "own store" }
