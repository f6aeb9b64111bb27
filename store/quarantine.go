package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A stored row that cannot be read (damaged on disk, or written by a
// version that checked less) must never make a listing, a series or
// maintenance fail as a whole: readers skip it, and it is moved into the
// quarantine table (as JSON, blobs in hex) for an operator to look at,
// counted, and logged once.

// quarantineData is the SQL expression that keeps every column of a row.
var quarantineData = func() string {
	var b strings.Builder
	b.WriteString("json_object('server', server, 'start', start, 'sensor', sensor")
	for _, c := range counterCols {
		fmt.Fprintf(&b, ", '%[1]s', %[1]s", c)
	}
	for _, c := range metricCols {
		fmt.Fprintf(&b, ", '%[1]s', hex(%[1]s)", c)
	}
	return b.String() + ")"
}()

// moveAside moves row rowid of table (windows or hours) into quarantine,
// within the caller's write transaction.
func (db *DB) moveAside(ctx context.Context, tx querier, table string, rowid int64, reason error) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO quarantine (tbl, server, start, sensor, data, reason, moved) SELECT ?, "+
		"coalesce(server, -1), coalesce(start, -1), coalesce(sensor, -1), "+quarantineData+", ?, ? FROM "+table+" WHERE rowid = ?",
		table, reason.Error(), time.Now().Unix(), rowid)
	if err == nil {
		_, err = tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE rowid = ?", rowid)
	}
	if err != nil {
		return fmt.Errorf("move unreadable %s row %d aside: %w", table, rowid, err)
	}
	slog.Warn("moved an unreadable stored row aside", "table", table, "rowid", rowid, "reason", reason)
	db.bad.quarantined.Add(1)
	return nil
}

// badRow is an unreadable row a reader skipped.
type badRow struct {
	table  string
	rowid  int64
	reason error
}

// badRowStats counts rows moved aside and rows skipped; logged remembers
// (boundedly) the skipped rows already logged, for rows that cannot be
// moved (a read-only database).
type badRowStats struct {
	quarantined, skipped atomic.Uint64
	mu                   sync.Mutex
	logged               map[badRowKey]bool
}

type badRowKey struct {
	table string
	rowid int64
}

const maxLoggedBadRows = 10000

// skipped handles the rows a reader skipped: it counts them and moves
// them aside through the writer (logging what it cannot move, once).
func (db *DB) skipped(ctx context.Context, rows []badRow) {
	for _, r := range rows {
		db.bad.skipped.Add(1)
		err := db.writeTx(ctx, func(tx querier) error { return db.moveAside(ctx, tx, r.table, r.rowid, r.reason) })
		if err == nil {
			continue
		}
		k := badRowKey{r.table, r.rowid}
		db.bad.mu.Lock()
		first := !db.bad.logged[k]
		if first && len(db.bad.logged) < maxLoggedBadRows {
			if db.bad.logged == nil {
				db.bad.logged = map[badRowKey]bool{}
			}
			db.bad.logged[k] = true
		}
		db.bad.mu.Unlock()
		if first {
			slog.Error("skipping an unreadable stored row", "table", r.table, "rowid", r.rowid, "reason", r.reason, "err", err)
		}
	}
}

// writeTx runs f in a write transaction.
func (db *DB) writeTx(ctx context.Context, f func(tx querier) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// BadRows counts the unreadable stored rows found since the process
// started.
type BadRows struct {
	Skipped     uint64 // rows readers skipped
	Quarantined uint64 // rows moved into the quarantine table
}

// BadRows returns the unreadable rows found since start (for /metrics).
func (db *DB) BadRows() BadRows {
	return BadRows{Skipped: db.bad.skipped.Load(), Quarantined: db.bad.quarantined.Load()}
}

// Quarantined returns how many rows the quarantine table holds.
func (db *DB) Quarantined(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM quarantine").Scan(&n); err != nil {
		return 0, fmt.Errorf("count quarantined rows: %w", err)
	}
	return n, nil
}
