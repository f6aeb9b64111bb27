package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSpoolQuarantinesCorruptRows: a spooled batch that cannot be decoded
// (bit rot, a torn write) is moved aside and counted, across restarts, and
// the batches behind it come out as before.
func TestSpoolQuarantinesCorruptRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := OpenSpool(ctx, path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(3)
	var want []string
	for i := range 4 {
		sums, _ := summaries(g, 2, 10*i)
		id := []string{"a", "b", "c", "d"}[i]
		if err := sp.PutBatch(ctx, id, sums); err != nil {
			t.Fatal(err)
		}
		if i != 0 && i != 2 {
			want = append(want, id)
		}
	}
	sp.Close()
	raw, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	for id, data := range map[string]string{"a": `[{"server":`, "c": "\x00\xffnot json"} {
		if _, err := raw.Exec("UPDATE spool SET data = ? WHERE id = ?", []byte(data), id); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	sp = openSpool(t, path, 1000)
	var got []string
	for {
		id, sums, err := sp.Next(ctx)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("next after %v: %v", got, err)
		}
		if len(sums) != 2 {
			t.Fatalf("batch %s: %d windows, want 2", id, len(sums))
		}
		got = append(got, id)
		if err := sp.Ack(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if sp.Corrupt() != 2 {
		t.Errorf("Corrupt() = %d, want 2", sp.Corrupt())
	}
	sp.Close()
	sp = openSpool(t, path, 1000)
	if sp.Corrupt() != 2 {
		t.Errorf("after reopening, Corrupt() = %d, want 2", sp.Corrupt())
	}
	var kept int
	if err := sp.db.QueryRow("SELECT count(*) FROM spool_quarantine WHERE error != '' AND windows = 2").Scan(&kept); err != nil || kept != 2 {
		t.Errorf("quarantine holds %d rows with their error (%v), want 2", kept, err)
	}
}

// TestSpoolPutBatchIdempotent: spooling a batch id again (a replayed file)
// keeps one copy.
func TestSpoolPutBatchIdempotent(t *testing.T) {
	ctx := context.Background()
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.db"), 1000)
	sums, _ := summaries(newGen(4), 3, 0)
	for range 2 {
		if err := sp.PutBatch(ctx, "same", sums); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := sp.Depth(ctx); err != nil || n != 3 {
		t.Errorf("depth %d (%v), want 3", n, err)
	}
}

// TestSpoolFileMode: the spool is readable by its owner only.
func TestSpoolFileMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := openSpool(t, path, 10)
	sums, _ := summaries(newGen(5), 1, 0)
	if err := sp.Put(ctx, sums); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
}
