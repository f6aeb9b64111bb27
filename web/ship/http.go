package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// IngestPath is the route of the web node's ingest API.
const IngestPath = "/api/v1/ingest"

// ErrTooLarge is what Send answers when the web node (or a proxy in front
// of it) found the batch too large: the Shipper splits it and retries.
var ErrTooLarge = errors.New("batch too large")

// StatusError is an ingest answer other than 200: the batch is kept and
// retried. Hint says what the operator can fix.
type StatusError struct {
	Status  int
	Message string // from the web node's answer
	Hint    string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Is makes a 413 match ErrTooLarge.
func (e *StatusError) Is(target error) bool {
	return target == ErrTooLarge && e.Status == http.StatusRequestEntityTooLarge
}

// hint says what to fix for a status that retrying alone will not cure.
func hint(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "check --token: the web node refuses it, or was started without one"
	case http.StatusNotFound:
		return "check --web (or the URL registered in etcd): this is no pastmon web node's ingest API"
	case http.StatusBadRequest:
		return "the web node could not read the batch: a bug, please report it"
	case http.StatusRequestEntityTooLarge:
		return "a single window too large for the web node or a proxy in front of it"
	}
	return ""
}

// HTTP delivers to a remote web node's ingest API. SetURL follows the web
// node when it moves. It is safe for concurrent use.
type HTTP struct {
	token  string
	client *http.Client

	mu  sync.Mutex
	url string
}

// NewHTTP returns a destination posting to the web node at url ("" until
// it is known) with the sensors' token.
func NewHTTP(url, token string) *HTTP {
	return &HTTP{token: token, url: strings.TrimRight(url, "/"), client: &http.Client{Timeout: 60 * time.Second}}
}

// SetURL points delivery at a web node; "" pauses delivery (spooling
// only). It reports whether the URL changed; the caller then calls
// Shipper.Retry so that delivery tries the new one at once.
func (h *HTTP) SetURL(url string) bool {
	url = strings.TrimRight(url, "/")
	h.mu.Lock()
	changed := h.url != url
	h.url = url
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

// ingestAnswer is the body of a 200 ingest answer (DESIGN.md, interface
// C); OK is what web nodes before it answered.
type ingestAnswer struct {
	OK        bool        `json:"ok"`
	ID        string      `json:"id"`
	Accepted  int         `json:"accepted"`
	Duplicate bool        `json:"duplicate"`
	Rejected  []Rejection `json:"rejected"`
	Error     string      `json:"error"`
}

// Send posts b. A 200 answer acknowledges it, with the windows the web
// node refused in the Reply; any other answer is an error (a
// *StatusError) and the batch is to be retried.
func (h *HTTP) Send(ctx context.Context, b *window.Batch) (Reply, error) {
	base := h.Where()
	if base == "" {
		return Reply{}, errors.New("send batch: no web node URL yet")
	}
	body, err := json.Marshal(b)
	if err != nil {
		return Reply{}, fmt.Errorf("encode batch %s: %w", b.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+IngestPath, bytes.NewReader(body))
	if err != nil {
		return Reply{}, fmt.Errorf("send batch %s to %s: %w", b.ID, base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.client.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("send batch %s to %s: %w", b.ID, base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Reply{}, fmt.Errorf("send batch %s to %s: read answer: %w", b.ID, base, err)
	}
	var ans ingestAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	if resp.StatusCode != http.StatusOK {
		msg := ans.Error
		if jsonErr != nil || msg == "" {
			msg = clip(raw)
		}
		return Reply{}, fmt.Errorf("send batch %s to %s: %w", b.ID, base, &StatusError{Status: resp.StatusCode, Message: msg, Hint: hint(resp.StatusCode)})
	}
	if jsonErr != nil || !(ans.OK || ans.ID == b.ID) {
		return Reply{}, fmt.Errorf("send batch %s to %s: unexpected answer %q (is this a pastmon web node?)", b.ID, base, clip(raw))
	}
	return Reply{Rejected: validRejections(ans.Rejected, len(b.Summaries))}, nil
}

// validRejections keeps the rejections that name a window of the batch,
// each once: a web node cannot make a sensor drop what it did not send.
func validRejections(rs []Rejection, n int) []Rejection {
	seen := make(map[int]bool, len(rs))
	out := rs[:0:0]
	for _, r := range rs {
		if r.Index < 0 || r.Index >= n || seen[r.Index] {
			continue
		}
		seen[r.Index] = true
		out = append(out, r)
	}
	return out
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
