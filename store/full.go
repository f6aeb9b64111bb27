package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrFull marks a write that failed because the disk (or the database's
// size limit, LimitSize) is full: nothing of it was stored, and the same
// write succeeds once there is room. Callers answer "try again later".
var ErrFull = errors.New("database full")

// isFull tells a full disk from other failures.
func isFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_FULL) {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// noteWrite records the outcome of a write: a full disk is remembered
// (WriteFailure) until a write succeeds again. It returns err, marked
// with ErrFull when the disk is full.
func (db *DB) noteWrite(err error) error {
	switch {
	case err == nil:
		if !db.readOnly.Load() {
			db.full.Store(nil)
		}
	case db.readOnly.Load(): // keeps the reason found at Open
		return fmt.Errorf("%w: read-only: %w", ErrFull, err)
	case isFull(err):
		db.full.Store(&err)
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// WriteFailure returns why writes fail now (a full disk), nil while they
// succeed. It clears with the next successful write.
func (db *DB) WriteFailure() error {
	if p := db.full.Load(); p != nil {
		return *p
	}
	return nil
}

// LimitSize caps the database file at about bytes (SQLite's
// max_page_count): writes that would grow it further fail as on a full
// disk (ErrFull). 0 lifts the cap.
func (db *DB) LimitSize(ctx context.Context, bytes int64) error {
	var size int64
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return fmt.Errorf("limit size: %w", err)
	}
	pages := int64(4294967294) // SQLite's largest
	if bytes > 0 {
		pages = max(1, bytes/size)
	}
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		return fmt.Errorf("limit size: %w", err)
	}
	return nil
}
