package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A database opened on a full disk is served read-only: its pools dial
// read-only (immutable) connections until Recover finds that writes work
// again, after which they dial read-write ones. Sessions started meanwhile
// live in memory (bounded) and are written to the database on recovery.

// readOnlyLifetime bounds how long a read-only connection outlives the
// recovery (one in use at that moment is closed when it is next returned
// or reused after this age).
const readOnlyLifetime = 30 * time.Second

// maxMemSessions bounds the sessions kept in memory while read-only.
const maxMemSessions = 1000

var sqliteDriver = &sqlite.Driver{}

// connector dials the writer (or reader) pool's connections with the DSN
// for the database's current mode.
type connector struct {
	db     *DB
	writer bool
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	return sqliteDriver.Open(c.db.dsnFor(c.writer))
}

func (c connector) Driver() driver.Driver { return sqliteDriver }

func (db *DB) dsnFor(writer bool) string {
	switch {
	case db.readOnly.Load():
		// immutable: no -wal or -shm is written, which a full disk refuses.
		return dsn(db.path, "immutable=1", "_query_only=1", readCacheSize)
	case writer:
		return dsn(db.path, "_journal_mode=WAL", "_synchronous=NORMAL", "_txlock=immediate", cacheSize, mmapSize)
	default:
		return dsn(db.path, "_query_only=1", readCacheSize, mmapSize)
	}
}

// memSessions holds the sessions started while the database is read-only.
type memSessions struct {
	mu sync.Mutex
	m  map[string]Session // by sessionKey
}

// diskFull tells whether the filesystem holding path has (nearly) no room
// left: SQLite reports that as a plain "disk I/O error" when it cannot
// grow its shared-memory file.
func diskFull(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return false
	}
	return uint64(st.Bavail)*uint64(st.Bsize) < 1<<20
}

// openFallback is Open's answer to a failed read-write open of an existing
// database: on a full disk it opens it read-only, with WriteFailure set.
func (db *DB) openFallback(ctx context.Context, openErr error) error {
	var se *sqlite.Error
	ioErr := errors.As(openErr, &se) && se.Code()&0xff == sqlite3.SQLITE_IOERR
	if !isFull(openErr) && !(ioErr && diskFull(db.path)) {
		return openErr
	}
	if db.r != nil {
		db.r.Close()
	}
	if db.w != nil {
		db.w.Close()
	}
	db.readOnly.Store(true)
	why := fmt.Errorf("%w: the disk is full: read-only, ingest refused (%v)", ErrFull, openErr)
	db.full.Store(&why)
	db.w = sql.OpenDB(connector{db: db, writer: true})
	db.w.SetMaxOpenConns(1)
	db.w.SetConnMaxLifetime(readOnlyLifetime)
	db.r = sql.OpenDB(connector{db: db})
	db.r.SetMaxOpenConns(4)
	db.r.SetConnMaxLifetime(readOnlyLifetime)
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("open database %s read-only: %w", db.path, errors.Join(err, openErr))
	}
	return nil
}

// ReadOnly tells whether the database was opened read-only (a full disk)
// and has not recovered yet.
func (db *DB) ReadOnly() bool { return db.readOnly.Load() }

// Recover, on a database opened read-only, checks whether it can be written
// again (migrations applied, the sessions started meanwhile saved) and if
// so switches to read-write. It returns nil once the database is writable.
// Call it periodically; it does nothing on a read-write database.
func (db *DB) Recover(ctx context.Context) error {
	if !db.readOnly.Load() {
		return nil
	}
	db.recoverMu.Lock()
	defer db.recoverMu.Unlock()
	if !db.readOnly.Load() {
		return nil
	}
	probe, err := sql.Open("sqlite", db.dsnForProbe())
	if err != nil {
		return fmt.Errorf("recover database %s: %w", db.path, err)
	}
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	if err := migrate(ctx, probe, migrations); err != nil {
		return db.noteWrite(fmt.Errorf("recover database %s: %w", db.path, err))
	}
	if err := db.saveMemSessions(ctx, probe); err != nil {
		return db.noteWrite(fmt.Errorf("recover database %s: %w", db.path, err))
	}
	probe.Close()
	db.readOnly.Store(false)
	db.full.Store(nil)
	// Drop the idle read-only connections; one in use now expires soon.
	for _, p := range []*sql.DB{db.w, db.r} {
		p.SetMaxIdleConns(0)
		p.SetMaxIdleConns(4)
	}
	time.AfterFunc(2*readOnlyLifetime, func() {
		db.w.SetConnMaxLifetime(0)
		db.r.SetConnMaxLifetime(0)
	})
	return nil
}

func (db *DB) dsnForProbe() string {
	return dsn(db.path, "_journal_mode=WAL", "_synchronous=NORMAL", "_txlock=immediate")
}

func (db *DB) saveMemSessions(ctx context.Context, w *sql.DB) error {
	db.mem.mu.Lock()
	defer db.mem.mu.Unlock()
	for k, s := range db.mem.m {
		if s.Expires.IsZero() { // ended while read-only
			if _, err := w.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", []byte(k)); err != nil {
				return fmt.Errorf("delete session: %w", err)
			}
			continue
		}
		if _, err := w.ExecContext(ctx, "INSERT OR IGNORE INTO sessions (id, csrf, user, expires) VALUES (?, ?, ?, ?)",
			[]byte(k), s.CSRF, s.User, s.Expires.Unix()); err != nil {
			return fmt.Errorf("save session: %w", err)
		}
	}
	db.mem.m = nil
	return nil
}

// memSession stores s in memory (read-only database); it refuses beyond
// maxMemSessions, after dropping the expired ones.
func (db *DB) memSession(s Session, now time.Time) error {
	db.mem.mu.Lock()
	defer db.mem.mu.Unlock()
	if db.mem.m == nil {
		db.mem.m = map[string]Session{}
	}
	if len(db.mem.m) >= maxMemSessions {
		for k, v := range db.mem.m {
			if !v.Expires.IsZero() && !now.Before(v.Expires) {
				delete(db.mem.m, k)
			}
		}
	}
	if len(db.mem.m) >= maxMemSessions {
		return fmt.Errorf("create session: %d sessions in memory while the disk is full: %w", maxMemSessions, ErrFull)
	}
	db.mem.m[string(sessionKey(s.ID))] = s
	return nil
}

// lookupMemSession returns a session kept in memory.
func (db *DB) lookupMemSession(id string) (Session, bool) {
	db.mem.mu.Lock()
	defer db.mem.mu.Unlock()
	s, ok := db.mem.m[string(sessionKey(id))]
	return s, ok
}

// deleteMemSession ends a session while read-only: one in memory goes,
// one in the database is remembered as ended (a zero Expires) until
// recovery deletes it there. It reports whether nothing is left to do.
func (db *DB) deleteMemSession(id string) bool {
	db.mem.mu.Lock()
	defer db.mem.mu.Unlock()
	k := string(sessionKey(id))
	if _, ok := db.mem.m[k]; ok {
		delete(db.mem.m, k)
		return true
	}
	if !db.readOnly.Load() {
		return false
	}
	if db.mem.m == nil {
		db.mem.m = map[string]Session{}
	}
	if len(db.mem.m) < 2*maxMemSessions {
		db.mem.m[k] = Session{}
	}
	return true
}
