package ship

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// Memory is a Spool in memory, for the web node's own sensor: its
// destination is the database beside it, so a spool file would only
// double the writes. It holds at most max summaries, dropping the oldest
// batches first.
type Memory struct {
	max int

	mu      sync.Mutex
	batches []memBatch
	windows int
	dropped uint64
}

type memBatch struct {
	id   string
	sums []window.Summary
}

// NewMemory returns an empty spool holding at most max summaries (at
// least 1).
func NewMemory(max int) *Memory { return &Memory{max: max} }

// PutBatch queues summaries as one batch under id (unless one is queued
// under id already), then drops the oldest batches while more than max
// summaries wait.
func (m *Memory) PutBatch(_ context.Context, id string, sums []window.Summary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.batches {
		if b.id == id {
			return nil
		}
	}
	m.batches = append(m.batches, memBatch{id: id, sums: slices.Clone(sums)})
	m.windows += len(sums)
	for m.windows > m.max && len(m.batches) > 0 {
		n := len(m.batches[0].sums)
		m.windows -= n
		m.dropped += uint64(n)
		m.batches = m.batches[1:]
	}
	return nil
}

// Next returns the oldest batch.
func (m *Memory) Next(context.Context) (string, []window.Summary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.batches) == 0 {
		return "", nil, fmt.Errorf("memory spool: %w", store.ErrNotFound)
	}
	b := m.batches[0]
	return b.id, b.sums, nil
}

// Ack removes the batch id, if it is still there.
func (m *Memory) Ack(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range m.batches {
		if b.id == id {
			m.windows -= len(b.sums)
			m.batches = slices.Delete(m.batches, i, i+1)
			break
		}
	}
	return nil
}

// Depth is the number of summaries waiting.
func (m *Memory) Depth(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.windows, nil
}

// Dropped counts the summaries dropped because the spool was full.
func (m *Memory) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// Close does nothing: what is in memory goes with the process.
func (m *Memory) Close() error { return nil }
