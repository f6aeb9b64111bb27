package ship

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// queue holds closed windows between the capture pipeline and the spool,
// bounded so that memory stays bounded when the spool fails.
type queue struct {
	max  int
	lost atomic.Uint64 // windows dropped because the queue was full

	flushMu  sync.Mutex // one flush at a time: the last one waits for the one in flight
	mu       sync.Mutex
	pending  []window.Summary
	flushing int // windows taken from pending, not yet in the spool
	wake     chan struct{}
}

// len counts the windows not in the spool yet.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + q.flushing
}

// Add queues one closed window; it never blocks on the spool. Call it from
// the capture pipeline (capture.Config.OnWindow).
func (s *Shipper) Add(sum window.Summary) {
	q := &s.queue
	q.mu.Lock()
	if len(q.pending) >= q.max {
		// Oldest first, as the spool drops them.
		q.pending = q.pending[1:]
		q.lost.Add(1)
	}
	q.pending = append(q.pending, sum)
	q.mu.Unlock()
	poke(q.wake)
}

// writeLoop writes queued windows to the spool until ctx is done.
func (s *Shipper) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.queue.wake:
		}
		if err := s.flush(ctx, false); err != nil && ctx.Err() == nil {
			slog.Error("spool write failed, keeping windows in memory", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				poke(s.queue.wake)
			}
		}
	}
}

// Flush writes every queued window to the spool now.
func (s *Shipper) Flush(ctx context.Context) error { return s.flush(ctx, true) }

// flush writes queued windows to the spool in batches of chunk windows;
// on a replay only full ones until the final flush, so that the batches
// are the same at every run.
func (s *Shipper) flush(ctx context.Context, final bool) error {
	q := &s.queue
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	sums := q.pending
	q.pending, q.flushing = nil, len(sums)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.flushing = 0
		q.mu.Unlock()
	}()
	chunk := min(spoolChunk, q.max)
	for len(sums) > 0 {
		n := min(len(sums), chunk)
		if n < chunk && s.cfg.Replay != "" && !final {
			break
		}
		if err := s.cfg.Spool.PutBatch(ctx, s.batchID(sums[:n]), sums[:n]); err != nil {
			q.mu.Lock()
			q.pending = append(sums, q.pending...)
			q.mu.Unlock()
			return fmt.Errorf("spool %d windows: %w", n, err)
		}
		sums = sums[n:]
		q.mu.Lock()
		q.flushing = len(sums)
		q.mu.Unlock()
		poke(s.newWork)
	}
	if len(sums) > 0 {
		q.mu.Lock()
		q.pending = append(sums, q.pending...)
		q.mu.Unlock()
	}
	return nil
}

// batchID names a new batch: random, or on a replay a hash of the input
// and of the windows.
func (s *Shipper) batchID(sums []window.Summary) string {
	if s.cfg.Replay == "" {
		return rand.Text()
	}
	h := sha256.New()
	io.WriteString(h, s.cfg.Replay)
	if err := json.NewEncoder(h).Encode(sums); err != nil {
		return rand.Text() // cannot happen: the spool encodes them the same way
	}
	return "r-" + hex.EncodeToString(h.Sum(nil)[:20])
}

// Finish is what a sensor does once its capture ended: spool what is
// queued and deliver for at most wait. With keep (a live sensor asked to
// stop) what is left stays spooled for the next start and only a final
// heartbeat goes out; without (a file replayed) it reports every window
// that did not reach the destination.
func (s *Shipper) Finish(ctx context.Context, wait time.Duration, keep bool) error {
	var errs []error
	if err := s.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("windows lost at exit: %w", err))
	}
	s.Retry()
	err, loss := s.drain(ctx, wait), s.loss()
	if !keep {
		return errors.Join(append(errs, err, loss)...)
	}
	if err != nil {
		slog.Warn("stopping with windows still spooled", "err", err)
	}
	if loss != nil {
		slog.Warn("windows were lost while running", "err", loss)
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = s.Heartbeat(hctx) // the web node sees the final figures
	cancel()
	return errors.Join(errs...)
}

// drain delivers until the spool is empty or wait is over.
func (s *Shipper) drain(ctx context.Context, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if s.WaitEmpty(wctx) == nil {
		slog.Info("everything delivered", "windows", s.Delivered(), "url", s.cfg.Dest.Where())
		return nil
	}
	n, _ := s.cfg.Spool.Depth(ctx)
	where := s.cfg.Dest.Where()
	if where == "" {
		where = "the web node (not registered in etcd)"
	}
	msg := fmt.Sprintf("could not deliver to %s within %s: %d windows stay spooled in %s for the next start", where, wait, n, s.cfg.SpoolName)
	if last := s.LastError(); last != nil {
		return fmt.Errorf("%s: %w", msg, last)
	}
	return errors.New(msg)
}

// loss reports windows that will never reach the destination.
func (s *Shipper) loss() error {
	var errs []error
	if n := s.Lost(); n > 0 {
		errs = append(errs, fmt.Errorf("spool full: %d oldest windows dropped (raise --spool-max)", n))
	}
	if n := s.Rejected(); n > 0 {
		errs = append(errs, fmt.Errorf("web node rejected %d windows for good", n))
	}
	return errors.Join(errs...)
}
