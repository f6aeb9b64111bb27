package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pastmon/pastmon/capture/window"
)

// MaxIngestBody bounds one ingest request body.
const MaxIngestBody = 8 << 20

// Bounds on counters of one server in one 5-minute window; anything larger
// is not a measurement (1e12 connections would be 3 billion a second).
const (
	maxWindowCount = 1e12
	maxWindowBytes = 1e16
)

// ingestCounters feed /metrics.
type ingestCounters struct {
	mu     sync.Mutex
	byCode map[int]uint64
	bytes  uint64
}

func (c *ingestCounters) count(code int, n int64) {
	c.mu.Lock()
	c.byCode[code]++
	if n > 0 {
		c.bytes += uint64(n)
	}
	c.mu.Unlock()
}

// countingReader counts the body bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// handleIngest stores one batch from a sensor. Every check runs before the
// store sees the batch, and the store writes a batch atomically, so a bad
// batch leaves nothing behind.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, MaxIngestBody)}
	status, reply := s.ingestBatch(r, body)
	s.ingest.count(status, body.n)
	if status != http.StatusOK {
		s.log.Warn("ingest refused", "status", status, "client", clientAddr(r), "err", reply.Error)
	}
	writeJSON(w, status, reply)
}

func (s *Server) ingestBatch(r *http.Request, body io.Reader) (int, ingestReply) {
	bad := func(status int, format string, args ...any) (int, ingestReply) {
		return status, ingestReply{Error: fmt.Sprintf(format, args...)}
	}
	if s.cfg.Token == "" {
		return bad(http.StatusForbidden, "ingest is disabled: the web node was started without --token")
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || !equalSecret(token, s.cfg.Token) {
		return bad(http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token> with the web node's --token")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return bad(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
	}
	var b window.Batch
	if status, msg := decodeBatch(body, &b); status != 0 {
		return bad(status, "%s", msg)
	}
	now := s.now()
	if err := b.Validate(now); err != nil {
		return bad(http.StatusBadRequest, "invalid batch: %v", err)
	}
	if err := checkBatchBounds(&b); err != nil {
		return bad(http.StatusBadRequest, "invalid batch: %v", err)
	}
	dup, err := s.Ingest(r.Context(), &b, now)
	if err != nil {
		s.log.Error("store batch", "batch", b.ID, "sensor", b.Sensor.Name, "err", err)
		return bad(http.StatusInternalServerError, "storing the batch failed; retry later")
	}
	return http.StatusOK, ingestReply{OK: true, Duplicate: dup, Windows: len(b.Summaries)}
}

// decodeBatch reads exactly one JSON batch with no unknown fields. It
// returns a status and message on failure, 0 on success.
func decodeBatch(body io.Reader, b *window.Batch) (int, string) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(b)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("extra data after the batch object")
		}
	}
	if err == nil {
		return 0, ""
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("batch larger than %d bytes: send fewer windows per batch", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "empty body: want a JSON batch"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "bad JSON: " + err.Error()
	case errors.As(err, &typ):
		return http.StatusBadRequest, fmt.Sprintf("bad JSON: field %s: %v", typ.Field, err)
	}
	return http.StatusBadRequest, "bad batch: " + err.Error()
}

// checkBatchBounds rejects what Batch.Validate leaves to the receiver:
// absurd counters and names that are not printable text.
func checkBatchBounds(b *window.Batch) error {
	if err := printable("sensor name", b.Sensor.Name); err != nil {
		return err
	}
	if err := printable("sensor version", b.Sensor.Version); err != nil {
		return err
	}
	for i := range b.Summaries {
		c := &b.Summaries[i].Counters
		for _, f := range [...]struct {
			name string
			v    uint64
			max  float64
		}{
			{"connections", c.Connections, maxWindowCount}, {"established", c.Established, maxWindowCount},
			{"refused", c.Refused, maxWindowCount}, {"unanswered", c.Unanswered, maxWindowCount},
			{"resets", c.Resets, maxWindowCount}, {"syn_retries", c.SynRetries, maxWindowCount},
			{"retransmits", c.Retransmits, maxWindowCount}, {"transactions", c.Transactions, maxWindowCount},
			{"bytes_to_server", c.BytesToServer, maxWindowBytes}, {"bytes_from_server", c.BytesFromServer, maxWindowBytes},
		} {
			if float64(f.v) > f.max {
				return fmt.Errorf("windows[%d]: server %s: %s = %d is absurd for one window", i, b.Summaries[i].Server, f.name, f.v)
			}
		}
	}
	return nil
}

func printable(what, s string) error {
	if len(s) > 256 {
		return fmt.Errorf("%s: at most 256 bytes", what)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%s %q: only printable characters", what, s)
		}
	}
	return nil
}

// Ingest stores a validated batch and counts what it stored (not a
// duplicate) in /metrics: the ingest API's path, and the web node's own
// sensor's.
func (s *Server) Ingest(ctx context.Context, b *window.Batch, now time.Time) (duplicate bool, err error) {
	dup, err := s.db.Ingest(ctx, b, now)
	if err == nil && !dup {
		s.totals.Add(b.Summaries)
	}
	return dup, err
}
