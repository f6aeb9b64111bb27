// Package ship delivers a sensor's closed windows to the web node. Windows
// go into a bounded in-memory queue (the capture never waits on a disk),
// from it into a spool, and from the spool to a Destination: the oldest
// spooled batch is sent under its spool id and removed only once the
// destination acknowledged it; failures are retried with backoff and
// jitter. A destination is a remote web node's ingest API (HTTP) or the
// web node's own store (Store), so the web node's own sensor retries
// exactly like a remote one. The package also sends heartbeats.
//
// It neither captures nor finds the web node: the caller hands it windows
// and tells the HTTP destination where the web node is (see discovery).
package ship

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/internal/backoff"
	"github.com/pastmon/pastmon/store"
)

const (
	// Delivery backoff: exponential from backoffMin to backoffMax with
	// full jitter, so that many sensors coming back at once spread out.
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// spoolChunk bounds the windows of one spooled batch, which is also
	// one POST: well under the web node's 8 MiB body limit.
	spoolChunk = 500
	// sendTimeout bounds one delivery.
	sendTimeout = 30 * time.Second
)

// Spool is the durable queue of batches awaiting acknowledgement:
// *store.Spool on a sensor, Memory on the web node.
type Spool interface {
	// PutBatch stores summaries as one batch under id, once: a batch
	// already there under id stays as it is.
	PutBatch(ctx context.Context, id string, sums []window.Summary) error
	// Next returns the oldest batch (the same until it is acknowledged),
	// or an error wrapping store.ErrNotFound when there is none.
	Next(ctx context.Context) (id string, sums []window.Summary, err error)
	// Ack removes a batch.
	Ack(ctx context.Context, id string) error
	// Depth is the number of summaries waiting.
	Depth(ctx context.Context) (int, error)
	// Dropped counts summaries dropped because the spool was full.
	Dropped() uint64
}

// Config says what a Shipper delivers, from where and to where.
type Config struct {
	Name, Version string // the sensor, as its batches name it
	Spool         Spool
	SpoolName     string // for messages: where undelivered windows stay
	Dest          Destination
	// QueueMax bounds the windows waiting in memory for the spool; when
	// the spool cannot keep up the oldest are dropped and counted. It also
	// bounds a batch.
	QueueMax int
	// Replay, when not empty, identifies the input (a capture file's
	// content hash): batches then take their ids from it and from their
	// windows, and are cut at the same places every time, so that the same
	// file read again (after SIGKILL, or twice) never counts twice.
	Replay string
}

// Shipper queues, spools and delivers windows. Its methods are safe for
// concurrent use.
type Shipper struct {
	cfg   Config
	stats atomic.Pointer[func(*window.SensorInfo)]
	queue queue

	mu      sync.Mutex
	lastErr error

	newWork chan struct{} // windows were spooled
	retry   chan struct{} // end a backoff or destination wait now

	delivered atomic.Uint64 // windows acknowledged
	rejected  atomic.Uint64 // windows the destination refused for good
}

// New returns a shipper; nothing moves until Run.
func New(cfg Config) *Shipper {
	s := &Shipper{cfg: cfg, newWork: make(chan struct{}, 1), retry: make(chan struct{}, 1)}
	s.queue = queue{max: max(cfg.QueueMax, 1), wake: make(chan struct{}, 1)}
	return s
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Retry ends a wait at once: call it when the destination changed (a web
// node found or moved), or at shutdown, where one more attempt beats
// waiting out a long backoff.
func (s *Shipper) Retry() { poke(s.retry) }

// SetStats installs what the capture reports in the sensor info; f fills
// in packets, drops, flows and interfaces.
func (s *Shipper) SetStats(f func(*window.SensorInfo)) { s.stats.Store(&f) }

// Info is the sensor's health as every batch carries it: with the wall
// clock (the web node shows the skew), the windows refused so far and the
// spool rows moved aside as unreadable.
func (s *Shipper) Info(ctx context.Context) window.SensorInfo {
	info := window.SensorInfo{Name: s.cfg.Name, Version: s.cfg.Version, SpoolLost: s.Lost(),
		Clock: time.Now(), WindowsRejected: s.Rejected()}
	if c, ok := s.cfg.Spool.(interface{ Corrupt() uint64 }); ok {
		info.SpoolCorrupt = c.Corrupt()
	}
	if f := s.stats.Load(); f != nil {
		(*f)(&info)
	}
	if n, err := s.cfg.Spool.Depth(ctx); err == nil {
		info.SpoolDepth = uint64(n)
	}
	return info
}

// Delivered counts the windows the destination acknowledged.
func (s *Shipper) Delivered() uint64 { return s.delivered.Load() }

// Rejected counts the windows the destination refused for good.
func (s *Shipper) Rejected() uint64 { return s.rejected.Load() }

// Lost counts windows dropped because the spool was full (or, in memory,
// because the spool could not keep up).
func (s *Shipper) Lost() uint64 { return s.cfg.Spool.Dropped() + s.queue.lost.Load() }

// LastError is the last delivery failure, nil after a success.
func (s *Shipper) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *Shipper) setLastError(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// Run writes queued windows to the spool and delivers spooled batches
// until ctx is done.
func (s *Shipper) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(ctx) })
	wg.Go(func() { s.deliverLoop(ctx) })
	wg.Wait()
}

func (s *Shipper) deliverLoop(ctx context.Context) {
	bo := backoff.Backoff{Min: backoffMin, Max: backoffMax}
	for ctx.Err() == nil {
		where := s.cfg.Dest.Where()
		if where == "" {
			wait(ctx, nil, s.retry, nil)
			continue
		}
		sent, err := s.deliverOne(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if n := bo.Retries(); n == 0 || n%10 == 0 {
				slog.Warn("delivery failed, retrying", "url", where, "attempt", n+1, "err", err)
			}
			s.setLastError(err)
			wait(ctx, time.After(bo.Next()), s.retry, nil)
		case sent:
			if n := bo.Retries(); n > 0 {
				slog.Info("delivery resumed", "url", where, "after_failures", n)
			}
			bo.Reset()
			s.setLastError(nil)
		default: // spool empty
			wait(ctx, nil, s.newWork, s.retry)
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

// deliverOne sends the oldest spooled batch. It reports sent=false with a
// nil error when the spool is empty.
func (s *Shipper) deliverOne(ctx context.Context) (sent bool, err error) {
	id, sums, err := s.cfg.Spool.Next(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read spool: %w", err)
	}
	b := &window.Batch{ID: id, Sensor: s.Info(ctx), Summaries: sums}
	reply, err := s.send(ctx, b)
	if err != nil {
		return false, err // names the batch and the destination
	}
	if n := len(reply.Rejected); n > 0 {
		s.rejected.Add(uint64(n))
		r := reply.Rejected[0]
		slog.Error("web node rejected windows for good: dropping them", "batch", id, "windows", n, "of", len(sums), "server", r.Server, "reason", r.Error)
	}
	s.delivered.Add(uint64(len(sums) - len(reply.Rejected)))
	if err := s.cfg.Spool.Ack(ctx, id); err != nil {
		return false, fmt.Errorf("ack batch %s in spool: %w", id, err)
	}
	return true, nil
}

// send delivers b. A batch the destination finds too large is split in
// halves sent under derived ids (the same at every retry, so a half
// delivered before a failure is a duplicate the next time), and
// acknowledged once both are.
func (s *Shipper) send(ctx context.Context, b *window.Batch) (Reply, error) {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	reply, err := s.cfg.Dest.Send(sctx, b)
	cancel()
	if !errors.Is(err, ErrTooLarge) || len(b.Summaries) < 2 {
		return reply, err
	}
	half := len(b.Summaries) / 2
	var out Reply
	for i, part := range [][]window.Summary{b.Summaries[:half], b.Summaries[half:]} {
		r, err := s.send(ctx, &window.Batch{ID: fmt.Sprintf("%s.%d", b.ID, i), Sensor: b.Sensor, Summaries: part})
		if err != nil {
			return Reply{}, err
		}
		for _, rj := range r.Rejected {
			rj.Index += i * half
			out.Rejected = append(out.Rejected, rj)
		}
	}
	return out, nil
}

// Heartbeat sends one batch without windows under a fresh id (never
// spooled: only the latest health matters).
func (s *Shipper) Heartbeat(ctx context.Context) error {
	where := s.cfg.Dest.Where()
	if where == "" {
		return nil
	}
	b := &window.Batch{ID: "hb-" + rand.Text(), Sensor: s.Info(ctx)}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if _, err := s.cfg.Dest.Send(sctx, b); err != nil {
		return fmt.Errorf("heartbeat to %s: %w", where, err)
	}
	return nil
}

// RunHeartbeat sends a heartbeat every interval until ctx is done, and a
// first one as soon as the destination is known.
func (s *Shipper) RunHeartbeat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	first := time.NewTimer(time.Second)
	defer first.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
			if s.cfg.Dest.Where() == "" {
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

// WaitEmpty returns nil once the queue and the spool are empty, or ctx's
// error.
func (s *Shipper) WaitEmpty(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := s.cfg.Spool.Depth(ctx)
		if err == nil && n == 0 && s.queue.len() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
