package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// untouched asserts that a failed Open left the database file as it was
// and created no WAL or shared-memory file beside it.
func untouched(t *testing.T, path string, before []byte) {
	t.Helper()
	if after := fileBytes(t, path); !bytes.Equal(before, after) {
		t.Errorf("%s changed: %d bytes before, %d after", path, len(before), len(after))
	}
	for _, ext := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + ext); err == nil {
			t.Errorf("%s%s was created", path, ext)
		}
	}
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pastmon.db")
	db := openTestAt(t, path)
	_ = db
	_, err := Open(context.Background(), path)
	want := fmt.Sprintf("pastmon.db is in use by another process (pid %d?)", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open: %v, want %q", err, want)
	}
	db.Close()
	db2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db2.Close()
}

func openTestAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cleanDB creates a closed pastmon database with some data and returns its
// path and bytes.
func cleanDB(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pastmon.db")
	db := openTestAt(t, path)
	g := newGen(9)
	s, _ := g.summary(addr(1), t0, 50)
	mustIngest(t, db, batch("b", "alpha", s), t0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + ext); err == nil {
			t.Fatalf("%s%s left after Close", path, ext)
		}
	}
	return path, fileBytes(t, path)
}

func TestOpenReadOnly(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		path, before := cleanDB(t)
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("Open of a read-only file: %v", err)
		}
		untouched(t, path, before)
	})
	t.Run("directory", func(t *testing.T) {
		path, before := cleanDB(t)
		dir := filepath.Dir(path)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		_, err := Open(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("Open in a read-only directory: %v", err)
		}
		untouched(t, path, before)
	})
}

func TestOpenCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
		want    string
	}{
		{"not a database", func(b []byte) []byte { return []byte("this is a text file, not a database\n") }, "not a SQLite database"},
		{"bad header", func(b []byte) []byte { b[0] = 'X'; return b }, "not a SQLite database"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "corrupt"},
		{"garbage pages", func(b []byte) []byte {
			for i := 4096 * 2; i < len(b); i++ {
				b[i] = byte(i * 7)
			}
			return b
		}, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, clean := cleanDB(t)
			bad := tc.corrupt(bytes.Clone(clean))
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error with %q", err, tc.want)
			}
			untouched(t, path, bad)
		})
	}
}

func TestOpenForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	before := fileBytes(t, path)
	_, err = Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "not a pastmon database") {
		t.Fatalf("Open of another application's database: %v", err)
	}
	untouched(t, path, before)
}

func TestMigrations(t *testing.T) {
	path, _ := cleanDB(t)
	// Take the database back to schema version 1: Open upgrades it.
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec("ALTER TABLE rollup DROP COLUMN pruned; " + undoMigration4 + undoMigration3 + "DELETE FROM schema_migrations WHERE version > 1"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db := openTestAt(t, path)
	var pruned int64
	if err := db.r.QueryRow("SELECT pruned FROM rollup").Scan(&pruned); err != nil {
		t.Errorf("migration 2 not applied: %v", err)
	}
	var v, n int
	if err := db.r.QueryRow("SELECT max(version), count(*) FROM schema_migrations").Scan(&v, &n); err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) || n != len(migrations) {
		t.Errorf("schema version %d with %d migrations recorded, want %d", v, n, len(migrations))
	}
	var mode string
	if err := db.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	// The data of the first run is still there.
	if got := series(t, db, SeriesQuery{Server: addr(1), Metric: 0, From: t0, To: t0.Add(time.Hour)}); len(got.Points) != 1 {
		t.Errorf("%d points after reopen, want 1", len(got.Points))
	}
	// A database from a newer pastmon is refused, and left alone.
	if _, err := db.w.Exec("INSERT INTO schema_migrations (version, applied) VALUES (?, 0)", len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileBytes(t, path)
	_, err = Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	untouched(t, path, before)
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b#c?d%20e")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pastmon.db")
	db := openTestAt(t, path)
	if _, err := db.EnsureAdmin(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "pastmon.db") {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// undoMigration4 takes a database back from schema version 4 to 3.
const undoMigration4 = `ALTER TABLE windows DROP COLUMN client_errors; ALTER TABLE windows DROP COLUMN server_errors;
ALTER TABLE windows DROP COLUMN breakdown; ALTER TABLE hours DROP COLUMN client_errors;
ALTER TABLE hours DROP COLUMN server_errors; ALTER TABLE hours DROP COLUMN breakdown; `

// undoMigration3 takes a database back from schema version 3 to 2.
const undoMigration3 = `ALTER TABLE sensors DROP COLUMN clock_skew_ms; ALTER TABLE sensors DROP COLUMN windows_rejected;
ALTER TABLE sensors DROP COLUMN spool_corrupt; DROP TABLE quarantine; `
