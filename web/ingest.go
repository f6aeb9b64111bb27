package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// MaxIngestBody bounds one ingest request body.
const MaxIngestBody = 8 << 20

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
// ingestAnswer is the body of an ingest answer (DESIGN.md's interface C):
// the batch id, the windows stored, and those refused and why. OK and
// Windows are kept for older sensors.
type ingestAnswer struct {
	OK        bool           `json:"ok"`
	ID        string         `json:"id,omitempty"`
	Accepted  int            `json:"accepted"`
	Duplicate bool           `json:"duplicate"`
	Rejected  []rejectedJSON `json:"rejected"`
	Windows   int            `json:"windows"`
	Error     string         `json:"error,omitempty"`
}

type rejectedJSON struct {
	Index  int    `json:"index"`
	Server string `json:"server"`
	Start  string `json:"start"`
	Error  string `json:"error"`
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, MaxIngestBody)}
	status, reply := s.ingestBatch(r, body)
	s.ingest.count(status, body.n)
	if status == http.StatusUnauthorized || status == http.StatusTooManyRequests {
		s.authFailure("ingest token refused", "", s.client(r))
	} else if status != http.StatusOK {
		s.log.Warn("ingest refused", "status", status, "client", s.client(r), "err", reply.Error)
	} else if len(reply.Rejected) > 0 {
		s.log.Warn("ingest refused windows", "batch", reply.ID, "client", s.client(r), "refused", len(reply.Rejected),
			"first", reply.Rejected[0].Error)
	}
	if reply.Rejected == nil {
		reply.Rejected = []rejectedJSON{}
	}
	writeJSON(w, status, reply)
}

func (s *Server) ingestBatch(r *http.Request, body io.Reader) (int, ingestAnswer) {
	bad := func(status int, format string, args ...any) (int, ingestAnswer) {
		return status, ingestAnswer{Error: fmt.Sprintf(format, args...)}
	}
	if s.cfg.Token == "" {
		return bad(http.StatusForbidden, "ingest is disabled: the web node was started without --token")
	}
	client, now := s.client(r), s.now()
	if ok, wait := s.tokens.allow("c:"+client, s.tokens.cfg.Free, now); !ok {
		out := ingestAnswer{Error: fmt.Sprintf("too many wrong tokens from %s: try again in %d s", client, int(wait.Seconds())+1)}
		return http.StatusTooManyRequests, out
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || !equalSecret(token, s.cfg.Token) {
		s.tokens.fail("c:"+client, now)
		return bad(http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token> with the web node's --token")
	}
	s.tokens.forget("c:" + client)
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return bad(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
	}
	var b window.Batch
	index, undecoded, status, msg := decodeBatch(body, &b)
	if status != 0 {
		return bad(status, "%s", msg)
	}
	if err := b.Validate(); err != nil {
		return bad(http.StatusBadRequest, "invalid batch: %v", err)
	}
	if err := checkBatchBounds(&b); err != nil {
		return bad(http.StatusBadRequest, "invalid batch: %v", err)
	}
	res, err := s.ingestWindows(r.Context(), &b, now)
	if errors.Is(err, store.ErrFull) {
		s.log.Error("store batch: the database is full", "batch", b.ID, "sensor", b.Sensor.Name, "err", err)
		return bad(http.StatusServiceUnavailable, "the web node's disk is full: keep the batch and retry later")
	}
	if err != nil {
		s.log.Error("store batch", "batch", b.ID, "sensor", b.Sensor.Name, "err", err)
		return bad(http.StatusInternalServerError, "storing the batch failed; retry later")
	}
	out := ingestAnswer{OK: true, ID: b.ID, Accepted: res.Accepted, Duplicate: res.Duplicate, Windows: res.Accepted}
	if res.Duplicate {
		return http.StatusOK, out // what was refused then was said then
	}
	for _, rj := range res.Rejected {
		undecoded = append(undecoded, rejectedJSON{Index: index[rj.Index], Server: rj.Server.String(),
			Start: rj.Start.UTC().Format(time.RFC3339), Error: rj.Reason})
	}
	out.Rejected = undecoded
	slices.SortFunc(out.Rejected, func(a, b rejectedJSON) int { return a.Index - b.Index })
	return http.StatusOK, out
}

// accepted returns the summaries the store did not refuse.
func accepted(sums []window.Summary, refused []store.Rejected) []window.Summary {
	if len(refused) == 0 {
		return sums
	}
	out := make([]window.Summary, 0, len(sums)-len(refused))
	for i := range sums {
		if len(refused) > 0 && refused[0].Index == i {
			refused = refused[1:]
			continue
		}
		out = append(out, sums[i])
	}
	return out
}

// wireBatch is a batch whose windows are decoded one by one, so that one
// bad window is refused alone.
type wireBatch struct {
	ID      string            `json:"id"`
	Sensor  window.SensorInfo `json:"sensor"`
	Windows []json.RawMessage `json:"windows"`
}

// decodeBatch reads exactly one JSON batch with no unknown fields into b.
// It returns a status and message when the batch as a whole is bad (0 on
// success), and the windows that did not decode, which b leaves out;
// index maps the position of each window in b to its position on the wire.
func decodeBatch(body io.Reader, b *window.Batch) (index []int, rejected []rejectedJSON, status int, msg string) {
	var wb wireBatch
	if status, msg := decodeJSON(body, &wb); status != 0 {
		return nil, nil, status, msg
	}
	b.ID, b.Sensor = wb.ID, wb.Sensor
	if len(wb.Windows) > window.MaxBatchWindows {
		return nil, nil, http.StatusBadRequest, fmt.Sprintf("%d windows in one batch: at most %d", len(wb.Windows), window.MaxBatchWindows)
	}
	b.Summaries = make([]window.Summary, 0, len(wb.Windows))
	index = make([]int, 0, len(wb.Windows))
	for i, raw := range wb.Windows {
		var s window.Summary
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			var key struct{ Server, Start string }
			_ = json.Unmarshal(raw, &key)
			rejected = append(rejected, rejectedJSON{Index: i, Server: clipString(key.Server, 64), Start: clipString(key.Start, 64),
				Error: "bad window: " + err.Error()})
			continue
		}
		b.Summaries = append(b.Summaries, s)
		index = append(index, i)
	}
	return index, rejected, 0, ""
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// decodeJSON reads exactly one JSON value with no unknown fields into v.
// It returns a status and message on failure, 0 on success.
func decodeJSON(body io.Reader, v any) (int, string) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
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

// checkBatchBounds rejects sensor names that are not printable text
// (window bounds are Summary.Validate's, per window).
func checkBatchBounds(b *window.Batch) error {
	if err := printable("sensor name", b.Sensor.Name); err != nil {
		return err
	}
	return printable("sensor version", b.Sensor.Version)
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

// ingestWindows stores the valid windows of a batch and counts what it
// stored (not a duplicate) in /metrics.
func (s *Server) ingestWindows(ctx context.Context, b *window.Batch, now time.Time) (store.IngestResult, error) {
	res, err := s.db.IngestWindows(ctx, b, now)
	if err == nil && !res.Duplicate {
		stored := accepted(b.Summaries, res.Rejected)
		s.totals.Add(stored)
		if s.cfg.OnWindows != nil {
			s.cfg.OnWindows(b.Sensor, stored)
		}
	}
	return res, err
}

// IngestWindows stores a batch of the web node's own sensor as the ingest
// API does (the valid windows, counted in /metrics) and says which
// windows it refused.
func (s *Server) IngestWindows(ctx context.Context, b *window.Batch, now time.Time) (store.IngestResult, error) {
	return s.ingestWindows(ctx, b, now)
}
