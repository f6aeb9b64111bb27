package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// IngestPath is the route sensors post batches to.
const IngestPath = "/api/v1/ingest"

// Client posts window batches to a web node's ingest API. It is safe for
// concurrent use; SetURL lets a sensor follow the web node when it moves.
type Client struct {
	token string
	http  *http.Client

	mu  sync.RWMutex
	url string
}

// NewClient returns a client for the web node at baseURL (e.g.
// "http://web:8080") that authenticates with token.
func NewClient(baseURL, token string) *Client {
	return &Client{
		token: token,
		url:   strings.TrimRight(baseURL, "/"),
		http:  &http.Client{Timeout: 60 * time.Second},
	}
}

// SetURL points the client at another web node.
func (c *Client) SetURL(baseURL string) {
	c.mu.Lock()
	c.url = strings.TrimRight(baseURL, "/")
	c.mu.Unlock()
}

// URL returns the web node the client currently posts to.
func (c *Client) URL() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.url
}

// RejectedError means the web node will never accept the batch: resending
// it cannot help.
type RejectedError struct {
	Status  int
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("web node rejected the batch: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// ingestReply is the JSON body of every ingest answer.
type ingestReply struct {
	OK        bool   `json:"ok"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Windows   int    `json:"windows"`
	Error     string `json:"error,omitempty"`
}

// Send posts one batch; nil means acknowledged (a duplicate is acknowledged
// too). A *RejectedError (errors.As) means the web node will never accept
// this batch (4xx other than 401, 408, 429); anything else is retryable.
func (c *Client) Send(ctx context.Context, b *window.Batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return &RejectedError{Status: 0, Message: fmt.Sprintf("encode batch %s: %v", b.ID, err)}
	}
	base := c.URL()
	if base == "" {
		return errors.New("send batch: no web node URL yet")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+IngestPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send batch %s to %s: %w", b.ID, base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("send batch %s to %s: %w", b.ID, base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("send batch %s to %s: read answer: %w", b.ID, base, err)
	}
	var reply ingestReply
	jsonErr := json.Unmarshal(raw, &reply)
	if resp.StatusCode == http.StatusOK {
		if jsonErr != nil || !reply.OK {
			return fmt.Errorf("send batch %s to %s: unexpected answer %q", b.ID, base, clip(raw))
		}
		return nil
	}
	msg := reply.Error
	if jsonErr != nil || msg == "" {
		msg = clip(raw)
	}
	if permanent(resp.StatusCode) {
		return &RejectedError{Status: resp.StatusCode, Message: msg}
	}
	return fmt.Errorf("send batch %s to %s: %s: %s", b.ID, base, resp.Status, msg)
}

// permanent reports whether a status means resending cannot succeed.
func permanent(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
