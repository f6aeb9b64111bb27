package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/internal/tmpfs"

	"github.com/pastmon/pastmon/capture/window"
)

// TestFullFilesystem fills a real (tmpfs) filesystem: ingest fails with
// ErrFull and stores nothing of the batch, WriteFailure says so; after the
// filesystem grows, the same batch goes in exactly once. It needs root
// (to mount) and skips without.
func TestFullFilesystem(t *testing.T) {
	dir := tmpfs.Mount(t, "1m")
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(dir, "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := newGen(3)
	var (
		failed *window.Batch
		stored int
	)
	for i := 0; failed == nil && i < 200; i++ {
		var sums []window.Summary
		for j := range 50 {
			s, _ := g.summary(addr(i*50+j), t0, 20)
			sums = append(sums, s)
		}
		b := batch(fmt.Sprint("fill-", i), "alpha", sums...)
		_, err := db.IngestWindows(ctx, b, t0)
		switch {
		case errors.Is(err, ErrFull):
			failed = b
		case err != nil:
			t.Fatalf("batch %d: %v, want ErrFull once the disk is full", i, err)
		default:
			stored += len(sums)
		}
	}
	if failed == nil {
		t.Fatal("1 MiB never filled up")
	}
	if db.WriteFailure() == nil {
		t.Error("WriteFailure is nil while the disk is full")
	}
	tmpfs.Grow(t, dir, "64m")
	for range 2 {
		if _, err := db.IngestWindows(ctx, failed, t0); err != nil {
			t.Fatalf("after room returned: %v", err)
		}
	}
	if db.WriteFailure() != nil {
		t.Errorf("WriteFailure still %v", db.WriteFailure())
	}
	list, err := db.ServerList(ctx, ServersQuery{From: t0, To: t0.Add(time.Hour), Limit: 1, Sort: SortServer})
	if err != nil || list.Matched != stored+len(failed.Summaries) {
		t.Errorf("%d servers stored (%v), want %d: every window exactly once", list.Matched, err, stored+len(failed.Summaries))
	}
}
