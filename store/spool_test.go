package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

func summaries(g *gen, n int, offset int) ([]window.Summary, []truth) {
	var sums []window.Summary
	var trs []truth
	for i := range n {
		s, tr := g.summary(addr(offset+i), t0.Add(time.Duration(i%12)*window.Width), 3)
		sums = append(sums, s)
		trs = append(trs, tr)
	}
	return sums, trs
}

func checkSummaries(t *testing.T, label string, got []window.Summary, want []truth, wantSums []window.Summary) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d summaries, want %d", label, len(got), len(want))
	}
	for i := range got {
		if got[i].Server != wantSums[i].Server || !got[i].Start.Equal(wantSums[i].Start) {
			t.Fatalf("%s[%d]: %s@%s, want %s@%s", label, i, got[i].Server, got[i].Start, wantSums[i].Server, wantSums[i].Start)
		}
		checkCounters(t, label, got[i].Counters, want[i].Counters)
		for m := range got[i].Metrics {
			checkDist(t, label, &got[i].Metrics[m], want[i].vals[m])
		}
	}
}

func openSpool(t *testing.T, path string, max int) *Spool {
	t.Helper()
	s, err := OpenSpool(context.Background(), path, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSpool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := openSpool(t, path, 1000)
	if _, _, err := sp.Next(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Next on an empty spool: %v", err)
	}
	g := newGen(10)
	first, ft := summaries(g, 5, 0)
	second, st := summaries(g, 3, 100)
	if err := sp.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := sp.Put(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := sp.Put(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d, err := sp.Depth(ctx); err != nil || d != 8 {
		t.Fatalf("depth %d (%v), want 8", d, err)
	}
	id, got, err := sp.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, "first", got, ft, first)
	again, _, err := sp.Next(ctx)
	if err != nil || again != id {
		t.Fatalf("Next before Ack gave %q (%v), want %q again", again, err, id)
	}
	// Survives close and reopen.
	sp.Close()
	sp = openSpool(t, path, 1000)
	again, _, err = sp.Next(ctx)
	if err != nil || again != id {
		t.Fatalf("after reopen Next gave %q (%v), want %q", again, err, id)
	}
	if err := sp.Ack(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := sp.Ack(ctx, id); err != nil {
		t.Errorf("second Ack: %v", err)
	}
	id2, got, err := sp.Next(ctx)
	if err != nil || id2 == id {
		t.Fatalf("Next after Ack: %q, %v", id2, err)
	}
	checkSummaries(t, "second", got, st, second)
	if err := sp.Ack(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.Next(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Next after acking everything: %v", err)
	}
	if sp.Dropped() != 0 {
		t.Errorf("dropped %d", sp.Dropped())
	}
}

func TestSpoolInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	openSpool(t, path, 10)
	if _, err := OpenSpool(context.Background(), path, 10); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second OpenSpool: %v", err)
	}
	if _, err := OpenSpool(context.Background(), filepath.Join(t.TempDir(), "x.db"), 0); err == nil {
		t.Fatal("OpenSpool with maxWindows 0 succeeded")
	}
}

func TestSpoolBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := openSpool(t, path, 10)
	g := newGen(11)
	var all []window.Summary
	for i := range 5 {
		sums, _ := summaries(g, 4, i*10)
		all = append(all, sums...)
		if err := sp.Put(ctx, sums); err != nil {
			t.Fatal(err)
		}
	}
	// 20 put, 10 held: the oldest 10 (batches 0 to 2, 12 summaries, of which
	// the last batch must go whole) ... the spool keeps whole batches, so
	// the newest two batches (8 summaries) stay.
	d, err := sp.Depth(ctx)
	if err != nil || d != 8 {
		t.Fatalf("depth %d (%v), want 8", d, err)
	}
	if sp.Dropped() != 12 {
		t.Errorf("dropped %d, want 12", sp.Dropped())
	}
	_, got, err := sp.Next(ctx)
	if err != nil || len(got) != 4 || got[0].Server != all[12].Server {
		t.Fatalf("oldest kept batch starts with %v (%v), want %s", got, err, all[12].Server)
	}
	// A put larger than the bound is split, and only its newest part kept.
	big, _ := summaries(g, 25, 500)
	if err := sp.Put(ctx, big); err != nil {
		t.Fatal(err)
	}
	if d, err := sp.Depth(ctx); err != nil || d != 5 {
		t.Errorf("depth %d (%v) after a 25-window put, want 5", d, err)
	}
	if sp.Dropped() != 12+8+20 {
		t.Errorf("dropped %d, want %d", sp.Dropped(), 12+8+20)
	}
	// The count survives a restart.
	sp.Close()
	sp = openSpool(t, path, 10)
	if sp.Dropped() != 40 {
		t.Errorf("dropped %d after reopen, want 40", sp.Dropped())
	}
}

func TestSpoolSplitsLargeBatches(t *testing.T) {
	ctx := context.Background()
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.db"), 3*window.MaxBatchWindows)
	g := newGen(12)
	sums := make([]window.Summary, window.MaxBatchWindows+5)
	one, _ := g.summary(addr(1), t0, 2)
	for i := range sums {
		sums[i] = one
	}
	if err := sp.Put(ctx, sums); err != nil {
		t.Fatal(err)
	}
	id, got, err := sp.Next(ctx)
	if err != nil || len(got) != window.MaxBatchWindows {
		t.Fatalf("first batch: %d windows (%v), want %d", len(got), err, window.MaxBatchWindows)
	}
	if err := sp.Ack(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, got, err = sp.Next(ctx); err != nil || len(got) != 5 {
		t.Fatalf("second batch: %d windows (%v), want 5", len(got), err)
	}
}
