package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/internal/tmpfs"

	"github.com/pastmon/pastmon/capture/window"
)

// TestOpenFullFilesystem starts on a real (tmpfs) filesystem that is full:
// Open serves the database read-only (what was stored reads back, writes
// fail with ErrFull, sessions live in memory), and Recover switches back
// to read-write once there is room, keeping those sessions. It needs root
// (to mount) and skips without.
func TestOpenFullFilesystem(t *testing.T) {
	dir := tmpfs.Mount(t, "1m")
	ctx := t.Context()
	path := filepath.Join(dir, "full.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsureAdmin(ctx, "a-long-password"); err != nil {
		t.Fatal(err)
	}
	old, err := db.CreateSession(ctx, "admin", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(5)
	var sums []window.Summary
	for j := range 20 {
		s, _ := g.summary(addr(j), t0, 20)
		sums = append(sums, s)
	}
	if _, err := db.IngestWindows(ctx, batch("first", "alpha", sums[:10]...), t0); err != nil {
		t.Fatal(err)
	}
	failed := batch("second", "alpha", sums[10:]...)
	q := ServersQuery{From: t0, To: t0.Add(time.Hour), Limit: 1, Sort: SortServer}
	before, err := db.ServerList(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Another program fills the disk.
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	for {
		if _, err := filler.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	filler.Close()

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer db.Close()
	if !db.ReadOnly() || db.WriteFailure() == nil {
		t.Fatalf("ReadOnly %v, WriteFailure %v on a full disk", db.ReadOnly(), db.WriteFailure())
	}
	after, err := db.ServerList(ctx, q)
	if err != nil || after.Matched != before.Matched {
		t.Errorf("read-only: %d servers (%v), want %d", after.Matched, err, before.Matched)
	}
	if _, err := db.IngestWindows(ctx, failed, t0); !errors.Is(err, ErrFull) {
		t.Errorf("ingest while read-only: %v, want ErrFull", err)
	}
	if err := db.WriteFailure(); err == nil || !strings.Contains(err.Error(), "the disk is full: read-only") {
		t.Errorf("WriteFailure after a refused write: %v, want the reason found at Open", err)
	}
	if _, _, err := db.Session(ctx, old.ID, time.Now()); err != nil {
		t.Errorf("a stored session while read-only: %v", err)
	}
	sess, err := db.CreateSession(ctx, "admin", time.Hour, time.Now())
	if err != nil {
		t.Fatalf("login while read-only: %v", err)
	}
	if _, u, err := db.Session(ctx, sess.ID, time.Now()); err != nil || u.Name != "admin" {
		t.Errorf("session while read-only: %v, %v", u, err)
	}
	if err := db.Recover(ctx); err == nil || !db.ReadOnly() {
		t.Errorf("Recover on a full disk: %v, ReadOnly %v", err, db.ReadOnly())
	}

	os.Remove(filepath.Join(dir, "filler"))
	if err := db.Recover(ctx); err != nil || db.ReadOnly() || db.WriteFailure() != nil {
		t.Fatalf("Recover with room: %v, ReadOnly %v, WriteFailure %v", err, db.ReadOnly(), db.WriteFailure())
	}
	for range 2 {
		if _, err := db.IngestWindows(ctx, failed, t0); err != nil {
			t.Fatalf("ingest after recovery: %v", err)
		}
	}
	after, err = db.ServerList(ctx, q)
	if want := before.Matched + len(failed.Summaries); err != nil || after.Matched != want {
		t.Errorf("after recovery: %d servers (%v), want %d", after.Matched, err, want)
	}
	if _, _, err := db.Session(ctx, sess.ID, time.Now()); err != nil {
		t.Errorf("the session started while read-only, after recovery: %v", err)
	}
}
