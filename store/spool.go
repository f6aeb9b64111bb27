package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// Spool is a sensor's local queue of batches waiting for the web node's
// acknowledgement, in its own small SQLite file. It is bounded: when it
// holds more than maxWindows summaries, the oldest batches are dropped and
// counted. It is safe for concurrent use.
type Spool struct {
	path       string
	lock       interface{ Close() error }
	db         *sql.DB
	maxWindows int
	dropped    atomic.Uint64
	corrupt    atomic.Uint64
}

// spoolMigrations are the spool file's schema versions (see migrations).
var spoolMigrations = []string{`
CREATE TABLE spool (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	id      TEXT NOT NULL UNIQUE,
	windows INTEGER NOT NULL,
	data    BLOB NOT NULL
);
CREATE TABLE spool_meta (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	dropped INTEGER NOT NULL
);
INSERT INTO spool_meta (id, dropped) VALUES (1, 0);
`, `
CREATE TABLE spool_quarantine (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL,
	windows INTEGER NOT NULL,
	data    BLOB NOT NULL,
	error   TEXT NOT NULL,
	moved   INTEGER NOT NULL
);
`}

// OpenSpool opens (creating it when absent) the spool at path, holding at
// most maxWindows summaries (at least 1).
func OpenSpool(ctx context.Context, path string, maxWindows int) (*Spool, error) {
	if maxWindows < 1 {
		return nil, fmt.Errorf("open spool %s: maxWindows %d: want at least 1", path, maxWindows)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockFile(abs)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := createPrivate(abs); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{path: abs, lock: lock, maxWindows: maxWindows}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Spool) open(ctx context.Context) error {
	if err := checkHealthy(ctx, s.path, spoolMigrations); err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	var err error
	s.db, err = sql.Open("sqlite", dsn(s.path, "_journal_mode=WAL", "_synchronous=NORMAL", "_txlock=immediate"))
	if err != nil {
		return fmt.Errorf("open spool %s: %w", s.path, err)
	}
	s.db.SetMaxOpenConns(1)
	if err := migrate(ctx, s.db, spoolMigrations); err != nil {
		return fmt.Errorf("open spool %s: %w", s.path, err)
	}
	var dropped int64
	if err := s.db.QueryRowContext(ctx, "SELECT dropped FROM spool_meta WHERE id = 1").Scan(&dropped); err != nil {
		return fmt.Errorf("open spool %s: %w", s.path, err)
	}
	s.dropped.Store(uint64(dropped))
	var corrupt int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM spool_quarantine").Scan(&corrupt); err != nil {
		return fmt.Errorf("open spool %s: %w", s.path, err)
	}
	s.corrupt.Store(uint64(corrupt))
	return nil
}

// createPrivate creates an absent database file readable by its owner
// only (0600): it holds what the sensor saw. SQLite gives the -wal and
// -shm files it creates beside it the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes the spool.
func (s *Spool) Close() error {
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Put stores summaries as new batches with fresh random ids, split so that
// no batch exceeds window.MaxBatchWindows or the spool's bound (see
// PutBatch).
func (s *Spool) Put(ctx context.Context, sums []window.Summary) error {
	size := min(window.MaxBatchWindows, s.maxWindows)
	for i := 0; i < len(sums); i += size {
		if err := s.PutBatch(ctx, rand.Text(), sums[i:min(i+size, len(sums))]); err != nil {
			return err
		}
	}
	return nil
}

// PutBatch stores summaries as one batch under id; a batch already
// spooled under id is left as it is (a replay spools the same batches
// again). Then, while the spool holds more than maxWindows summaries, it
// drops the oldest batches and counts their summaries in Dropped.
func (s *Spool) PutBatch(ctx context.Context, id string, sums []window.Summary) error {
	if len(sums) == 0 {
		return nil
	}
	data, err := json.Marshal(sums)
	if err != nil {
		return fmt.Errorf("spool put: encode: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("spool put: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO spool (id, windows, data) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", id, len(sums), data); err != nil {
		return fmt.Errorf("spool put: %w", err)
	}
	dropped, err := s.trim(ctx, tx)
	if err != nil {
		return fmt.Errorf("spool put: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("spool put: commit: %w", err)
	}
	s.dropped.Add(dropped)
	return nil
}

// trim drops the oldest batches while the spool is over its bound.
func (s *Spool) trim(ctx context.Context, tx *sql.Tx) (dropped uint64, err error) {
	for {
		var total int
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(windows), 0) FROM spool").Scan(&total); err != nil {
			return 0, err
		}
		if total <= s.maxWindows {
			break
		}
		var n int64
		err := tx.QueryRowContext(ctx, "DELETE FROM spool WHERE seq = (SELECT min(seq) FROM spool) RETURNING windows").Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("drop oldest batch: %w", err)
		}
		dropped += uint64(n)
	}
	if dropped > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE spool_meta SET dropped = dropped + ? WHERE id = 1", int64(dropped)); err != nil {
			return 0, err
		}
	}
	return dropped, nil
}

// Next returns the oldest batch, or ErrNotFound when the spool is empty.
// The same batch (same id) comes back until it is acknowledged. A batch
// that cannot be decoded is moved aside into spool_quarantine (counted in
// Corrupt, logged) and the next one returned: one bad row never blocks
// the rows behind it.
func (s *Spool) Next(ctx context.Context) (id string, sums []window.Summary, err error) {
	for {
		var seq int64
		var data []byte
		err = s.db.QueryRowContext(ctx, "SELECT seq, id, data FROM spool ORDER BY seq LIMIT 1").Scan(&seq, &id, &data)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil, fmt.Errorf("spool: %w", ErrNotFound)
		}
		if err != nil {
			return "", nil, fmt.Errorf("spool next: %w", err)
		}
		sums = nil
		derr := json.Unmarshal(data, &sums)
		if derr == nil {
			return id, sums, nil
		}
		if err := s.quarantine(ctx, seq, derr); err != nil {
			return "", nil, fmt.Errorf("spool next: batch %s unreadable (%v), and moving it aside failed: %w", id, derr, err)
		}
		slog.Error("spool: unreadable batch moved aside", "spool", s.path, "batch", id, "err", derr)
	}
}

// quarantine moves the row seq into spool_quarantine.
func (s *Spool) quarantine(ctx context.Context, seq int64, why error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO spool_quarantine (seq, id, windows, data, error, moved)
		SELECT seq, id, windows, data, ?, ? FROM spool WHERE seq = ?`, why.Error(), time.Now().Unix(), seq); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM spool WHERE seq = ?", seq); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.corrupt.Add(1)
	return nil
}

// Corrupt is the number of spooled batches moved aside as unreadable, over
// the spool file's lifetime.
func (s *Spool) Corrupt() uint64 { return s.corrupt.Load() }

// Ack removes an acknowledged batch. Acknowledging a batch that is gone
// (already acknowledged, or dropped) is not an error.
func (s *Spool) Ack(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM spool WHERE id = ?", id); err != nil {
		return fmt.Errorf("spool ack %s: %w", id, err)
	}
	return nil
}

// Depth is the number of summaries waiting.
func (s *Spool) Depth(ctx context.Context) (windows int, err error) {
	if err := s.db.QueryRowContext(ctx, "SELECT coalesce(sum(windows), 0) FROM spool").Scan(&windows); err != nil {
		return 0, fmt.Errorf("spool depth: %w", err)
	}
	return windows, nil
}

// Dropped is the number of summaries dropped because the spool was full,
// over the spool file's lifetime.
func (s *Spool) Dropped() uint64 { return s.dropped.Load() }
