package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web"
)

// Delivery backoff: exponential from backoffMin to backoffMax with full
// jitter, so that many sensors coming back at once spread their retries.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// spoolChunk bounds the windows of one spooled batch, which is also one
	// POST: well under the web node's 8 MiB body limit.
	spoolChunk = 500
	// sendTimeout bounds one POST.
	sendTimeout = 30 * time.Second
)

// sensorStats reports what the capture has seen so far; it is called from
// the delivery and heartbeat goroutines while capture runs.
type sensorStats func() (packets, drops, flows uint64, ifaces []string)

// shipper moves spooled batches to the web node: it takes the oldest batch,
// posts it under its spool id, and acks it only when the web node has
// acknowledged it. It waits while the web node's URL is unknown and wakes
// at once when windows are spooled or the URL changes.
type shipper struct {
	spool  *store.Spool
	client *web.Client
	name   string
	stats  atomic.Pointer[sensorStats]

	mu      sync.Mutex
	url     string
	lastErr error

	newWork    chan struct{} // windows were spooled
	urlChanged chan struct{}

	delivered atomic.Uint64 // windows acknowledged
	rejected  atomic.Uint64 // windows the web node refused for good
	memLost   atomic.Uint64 // windows dropped before they reached the spool
}

func newShipper(spool *store.Spool, client *web.Client, name string) *shipper {
	return &shipper{
		spool:      spool,
		client:     client,
		name:       name,
		newWork:    make(chan struct{}, 1),
		urlChanged: make(chan struct{}, 1),
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// SetURL points delivery at a web node; "" pauses delivery (spooling only).
func (s *shipper) SetURL(url string) {
	s.mu.Lock()
	changed := s.url != url
	s.url = url
	s.client.SetURL(url)
	s.mu.Unlock()
	if !changed {
		return
	}
	if url == "" {
		slog.Warn("web node unknown: spooling until it registers")
	} else {
		slog.Info("delivering to web node", "url", url)
	}
	poke(s.urlChanged)
}

// URL is the web node delivery goes to, "" while unknown.
func (s *shipper) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// LastError is the last delivery failure, nil after a success.
func (s *shipper) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *shipper) setLastError(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// RetryNow ends a backoff wait: at shutdown one more attempt beats
// waiting out a long backoff.
func (s *shipper) RetryNow() { poke(s.urlChanged) }

// Wake tells the delivery loop that new windows are in the spool.
func (s *shipper) Wake() { poke(s.newWork) }

// SetStats installs the capture's statistics for the sensor info.
func (s *shipper) SetStats(f sensorStats) { s.stats.Store(&f) }

// Info is the sensor's health as every batch carries it.
func (s *shipper) Info(ctx context.Context) window.SensorInfo {
	info := window.SensorInfo{Name: s.name, Version: Version, SpoolLost: s.Lost()}
	if f := s.stats.Load(); f != nil {
		info.Packets, info.Drops, info.Flows, info.Interfaces = (*f)()
	}
	if n, err := s.spool.Depth(ctx); err == nil {
		info.SpoolDepth = uint64(n)
	}
	return info
}

// Lost counts windows dropped because the spool was full (or, in memory,
// because it could not keep up).
func (s *shipper) Lost() uint64 { return s.spool.Dropped() + s.memLost.Load() }

// Run delivers until ctx is done.
func (s *shipper) Run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		if s.URL() == "" {
			wait(ctx, nil, s.urlChanged, nil)
			continue
		}
		sent, err := s.deliverOne(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if failures == 0 || failures%10 == 0 {
				slog.Warn("delivery failed, retrying", "url", s.URL(), "attempt", failures+1, "err", err)
			}
			s.setLastError(err)
			failures++
			wait(ctx, time.After(backoff(failures)), s.urlChanged, nil)
		case sent:
			if failures > 0 {
				slog.Info("delivery resumed", "url", s.URL(), "after_failures", failures)
			}
			failures = 0
			s.setLastError(nil)
		default: // spool empty
			wait(ctx, nil, s.newWork, s.urlChanged)
		}
	}
}

// wait blocks until ctx is done, the timer fires or a or b is poked (nil
// ones never are).
func wait(ctx context.Context, timer <-chan time.Time, a, b chan struct{}) {
	select {
	case <-ctx.Done():
	case <-timer:
	case <-a:
	case <-b:
	}
}

// backoff is the full-jitter delay before retry number n (1, 2, …).
func backoff(n int) time.Duration {
	ceil := backoffMax
	if n < 16 {
		ceil = min(backoffMax, backoffMin<<(n-1))
	}
	return time.Duration(rand.Int64N(int64(ceil))) + 10*time.Millisecond
}

// deliverOne sends the oldest spooled batch. It reports sent=false with a
// nil error when the spool is empty.
func (s *shipper) deliverOne(ctx context.Context) (sent bool, err error) {
	id, sums, err := s.spool.Next(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read spool: %w", err)
	}
	b := &window.Batch{ID: id, Sensor: s.Info(ctx), Summaries: sums}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	err = s.client.Send(sctx, b)
	cancel()
	var rej *web.RejectedError
	switch {
	case errors.As(err, &rej):
		s.rejected.Add(uint64(len(sums)))
		slog.Error("web node rejected a batch for good: dropping it", "batch", id, "windows", len(sums), "status", rej.Status, "reason", rej.Message)
	case err != nil:
		return false, err // names the batch and the web node
	default:
		s.delivered.Add(uint64(len(sums)))
	}
	if err := s.spool.Ack(ctx, id); err != nil {
		return false, fmt.Errorf("ack batch %s in spool: %w", id, err)
	}
	return true, nil
}

// Heartbeat sends one batch without windows under a fresh id (never
// spooled: only the latest health matters).
func (s *shipper) Heartbeat(ctx context.Context) error {
	if s.URL() == "" {
		return nil
	}
	b := &window.Batch{ID: "hb-" + randomID(), Sensor: s.Info(ctx)}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := s.client.Send(sctx, b); err != nil {
		return fmt.Errorf("heartbeat to %s: %w", s.URL(), err)
	}
	return nil
}

// RunHeartbeat sends a heartbeat every interval until ctx is done, and a
// first one as soon as the web node is known.
func (s *shipper) RunHeartbeat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	first := time.NewTimer(time.Second)
	defer first.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
			if s.URL() == "" {
				first.Reset(time.Second)
				continue
			}
		case <-t.C:
		}
		if err := s.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			slog.Debug("heartbeat failed", "err", err)
		}
	}
}

// WaitEmpty returns nil once the spool is empty, or ctx's error.
func (s *shipper) WaitEmpty(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := s.spool.Depth(ctx)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func randomID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:]) // never fails on Linux
	return hex.EncodeToString(b[:])
}

// spoolWriter takes closed windows from the capture pipeline (without ever
// blocking it on the disk) and writes them to the spool in batches.
type spoolWriter struct {
	spool *store.Spool
	ship  *shipper
	max   int

	flushMu sync.Mutex // one Flush at a time: the last one waits for the one in flight
	mu      sync.Mutex
	pending []window.Summary
	wake    chan struct{}
}

func newSpoolWriter(spool *store.Spool, ship *shipper, max int) *spoolWriter {
	return &spoolWriter{spool: spool, ship: ship, max: max, wake: make(chan struct{}, 1)}
}

// Add queues one closed window. Called from the pipeline goroutine.
func (w *spoolWriter) Add(s window.Summary) {
	w.mu.Lock()
	if len(w.pending) >= w.max {
		// The spool cannot keep up (or fails): memory stays bounded by
		// the same limit, oldest first.
		w.pending = w.pending[1:]
		w.ship.memLost.Add(1)
	}
	w.pending = append(w.pending, s)
	w.mu.Unlock()
	poke(w.wake)
}

// Run writes queued windows until ctx is done.
func (w *spoolWriter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
			slog.Error("spool write failed, keeping windows in memory", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				poke(w.wake)
			}
		}
	}
}

// Flush writes every queued window to the spool now.
func (w *spoolWriter) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	sums := w.pending
	w.pending = nil
	w.mu.Unlock()
	for len(sums) > 0 {
		n := min(len(sums), spoolChunk)
		if err := w.spool.Put(ctx, sums[:n]); err != nil {
			w.mu.Lock()
			w.pending = append(sums, w.pending...)
			w.mu.Unlock()
			return fmt.Errorf("spool %d windows: %w", n, err)
		}
		sums = sums[n:]
		w.ship.Wake()
	}
	return nil
}
