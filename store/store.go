// Package store keeps pastmon's data in one SQLite file (modernc.org/sqlite,
// pure Go): the 5-minute window summaries sensors send, their hourly
// rollups, the sensors' health, and the web node's users and sessions. It
// applies versioned migrations at start, serializes writes through one
// connection and serves queries from a pool of read-only connections, and
// runs rollups and retention in small transactions (Maintain).
//
// It also provides the sensor's local spool (OpenSpool), a separate small
// SQLite file that holds batches until the web node acknowledges them.
//
// It does not speak HTTP, does not capture packets, and does not decide
// policy such as retention periods or when to run Maintain: callers do.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors callers test with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrBadCredentials = errors.New("bad user name or password")
	ErrExists         = errors.New("already exists")
	// ErrInvalid marks a bad user name or password (too short, bad characters).
	ErrInvalid = errors.New("invalid")
	// ErrLastAdmin refuses to delete or demote the last administrator.
	ErrLastAdmin = errors.New("cannot remove the last administrator")
)

// quickCheckMaxBytes bounds the database size for which Open runs
// PRAGMA quick_check: it reads every page, which on a multi-gigabyte
// database would delay every start by minutes. Larger files get the header
// and schema checks only.
const quickCheckMaxBytes = 2 << 30

// The writer keeps up to 16 MiB of pages, each reader 8 MiB (which also
// bounds a sort before it spills to disk); every connection maps the first
// 8 MiB of the file (no system call per page read there: the schema and
// the hot tables) and reads the rest into its cache. Mapped pages count in
// the process's RSS once per connection that maps them, and cached ones
// once per cache, so large maps and caches would make the web node's
// memory grow with the file and the pool (DESIGN.md's Limits).
const (
	cacheSize     = "_pragma=cache_size(-16384)"
	readCacheSize = "_pragma=cache_size(-8192)"
	mmapSize      = "_pragma=mmap_size(8388608)"
)

// DB is an open pastmon database. It is safe for concurrent use.
type DB struct {
	path string
	lock *os.File
	w    *sql.DB // one connection: every write goes through it
	r    *sql.DB // read-only pool

	stats struct{ batches, windows, duplicates, errors, rejected atomic.Uint64 }
	bad   badRowStats
	full  atomic.Pointer[error] // why writes fail now (a full disk), nil when they work

	readOnly  atomic.Bool // opened on a full disk, not recovered yet (Recover)
	recoverMu sync.Mutex
	mem       memSessions // sessions started while read-only

	mu      sync.Mutex
	servers map[string]int64 // server address → id, filled after commits only

	// afterWindow, when set (tests only), runs inside Ingest's transaction
	// after each window is written.
	afterWindow func(i int)
}

// IngestStats counts Ingest calls since Open.
type IngestStats struct {
	Batches    uint64 // batches stored (duplicates excluded)
	Windows    uint64 // window summaries stored
	Duplicates uint64 // batches ignored because their id was seen before
	Errors     uint64 // batches that failed
	Rejected   uint64 // windows refused (invalid, or their merge would overflow)
}

// Open opens (creating it when absent) the database at path, after making
// sure no other process has it open, that it can be written and that it is
// a healthy SQLite database, and then applies pending migrations. On any
// failure the file is left untouched.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, err
	}
	lock, err := lockFile(abs)
	if err != nil {
		return nil, err
	}
	// Created by hand, readable by its owner only: SQLite would create it
	// (and its -wal and -shm, which take its mode) with the umask's mode.
	_, statErr := os.Stat(abs)
	created := errors.Is(statErr, os.ErrNotExist)
	if created {
		if err := createPrivate(abs); err != nil {
			lock.Close()
			return nil, fmt.Errorf("create database %s: %w", path, err)
		}
	}
	db := &DB{path: abs, lock: lock, servers: map[string]int64{}}
	err = db.open(ctx)
	if err != nil && !created {
		err = db.openFallback(ctx, err)
	}
	if err != nil {
		db.Close()
		if created {
			os.Remove(abs)
		}
		return nil, err
	}
	return db, nil
}

func (db *DB) open(ctx context.Context) error {
	if err := checkHealthy(ctx, db.path, migrations); err != nil {
		return err
	}
	var err error
	db.w, err = sql.Open("sqlite", dsn(db.path, "_journal_mode=WAL", "_synchronous=NORMAL", "_txlock=immediate", cacheSize, mmapSize))
	if err != nil {
		return fmt.Errorf("open database %s: %w", db.path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	if err := migrate(ctx, db.w, migrations); err != nil {
		return fmt.Errorf("database %s: %w", db.path, err)
	}
	db.r, err = sql.Open("sqlite", dsn(db.path, "_query_only=1", readCacheSize, mmapSize))
	if err != nil {
		return fmt.Errorf("open database %s for reading: %w", db.path, err)
	}
	db.r.SetMaxOpenConns(4)
	db.r.SetMaxIdleConns(4)
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("open database %s for reading: %w", db.path, err)
	}
	return nil
}

// dsn builds a modernc.org/sqlite data source name for path with the
// connection settings every pastmon connection uses plus extra.
func dsn(path string, extra ...string) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: path}
	q := append([]string{"_busy_timeout=10000", "_foreign_keys=1"}, extra...)
	return u.String() + "?" + strings.Join(q, "&")
}

// Close closes the database and releases its lock.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.lock != nil {
		errs = append(errs, db.lock.Close()) // closing the descriptor releases the flock
	}
	return errors.Join(errs...)
}

// Size is the size of the database in bytes (page_count × page_size,
// excluding the write-ahead log).
func (db *DB) Size(ctx context.Context) (int64, error) {
	var pages, size int64
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	return pages * size, nil
}

// Stats returns the ingest counters since Open.
func (db *DB) Stats() IngestStats {
	return IngestStats{
		Batches:    db.stats.batches.Load(),
		Windows:    db.stats.windows.Load(),
		Duplicates: db.stats.duplicates.Load(),
		Errors:     db.stats.errors.Load(),
		Rejected:   db.stats.rejected.Load(),
	}
}

// checkWritable refuses a database file or directory that cannot be
// written. Root passes access(2) checks on any mode, so a file or directory
// without write permission bits counts as read-only for root too.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("database directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("database directory %s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil || st.Mode().Perm()&0o222 == 0 {
		return fmt.Errorf("database directory %s is read-only: pastmon needs to create %s-wal, %s-shm and %s.lock beside the database", dir, filepath.Base(path), filepath.Base(path), filepath.Base(path))
	}
	st, err = os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("database %s is not a regular file", path)
	}
	if err := unix.Access(path, unix.W_OK); err != nil || st.Mode().Perm()&0o222 == 0 {
		return fmt.Errorf("database %s is read-only: pastmon needs to write it", path)
	}
	return nil
}

// lockFile takes an exclusive flock on path+".lock" and writes our pid in
// it, so that a second pastmon on the same database fails at once with a
// useful message instead of fighting over SQLite locks.
func lockFile(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid := readPid(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process (pid %s?)", filepath.Base(path), pid)
		}
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readPid(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// checkHealthy refuses a file that is not a SQLite database or fails
// PRAGMA quick_check. It opens the file read-only, so a bad file is never
// modified (no WAL, no migrations).
func checkHealthy(ctx context.Context, path string, migs []string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.Size() == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if err := checkHeader(path); err != nil {
		return err
	}
	// Without a WAL beside it, the file is read as immutable: even a
	// read-only connection would otherwise create -wal and -shm files for a
	// database in WAL mode. With one (after a crash), SQLite must read it.
	mode := "immutable=1"
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		mode = "mode=ro"
	}
	ro, err := sql.Open("sqlite", dsn(path, mode, "_query_only=1"))
	if err != nil {
		return fmt.Errorf("check database %s: %w", path, err)
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	var n int
	if err := ro.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("database %s is corrupt or not a pastmon database (%v); move it away or restore a backup", path, err)
	}
	if err := checkSchema(ctx, ro, path, n, migs); err != nil {
		return err
	}
	if st.Size() > quickCheckMaxBytes {
		slog.Info("database is large: skipping quick_check at start", "path", path, "bytes", st.Size())
		return nil
	}
	rows, err := ro.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return fmt.Errorf("database %s is corrupt (quick_check: %v); move it away or restore a backup", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("check database %s: %w", path, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("database %s is corrupt (quick_check: %v); move it away or restore a backup", path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("database %s is corrupt (quick_check: %s); move it away or restore a backup", path, strings.Join(problems, "; "))
	}
	return nil
}

func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, 16)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "SQLite format 3\x00" {
		return fmt.Errorf("%s is not a SQLite database (bad header); move it away or choose another file", path)
	}
	return nil
}

// checkSchema refuses another application's database and one written by a
// newer pastmon, before anything writes to it.
func checkSchema(ctx context.Context, ro *sql.DB, path string, objects int, migs []string) error {
	if objects == 0 {
		return nil
	}
	var ours int
	if err := ro.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'").Scan(&ours); err != nil {
		return fmt.Errorf("check database %s: %w", path, err)
	}
	if ours == 0 {
		return fmt.Errorf("%s is a SQLite database but not a pastmon database (no schema_migrations table); choose another file", path)
	}
	var v int
	if err := ro.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return fmt.Errorf("database %s is corrupt (%v); move it away or restore a backup", path, err)
	}
	if v > len(migs) {
		return fmt.Errorf("database %s has schema version %d, newer than this pastmon knows (%d): upgrade pastmon", path, v, len(migs))
	}
	return nil
}
