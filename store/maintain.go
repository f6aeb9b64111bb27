package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

const (
	// rollupServers is how many servers one rollup transaction handles,
	// so that ingest never waits long for the writer.
	rollupChunk = 50
	// deleteChunk is how many rows one retention transaction deletes.
	deleteChunk = 5000
	// batchIDRetention is how long batch ids are kept to recognize a
	// batch a sensor sends again (its acknowledgement was lost).
	batchIDRetention = 7 * 24 * time.Hour
)

// rollupState says which 5-minute rows already have their hourly rollup:
// every hour before hour, and within hour the servers with id ≤ server.
type rollupState struct{ hour, server int64 }

func (r rollupState) covers(server, start int64) bool {
	h := hourOf(start)
	return h < r.hour || (h == r.hour && server <= r.server)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readRollup(ctx context.Context, q queryRower) (rollupState, error) {
	var r rollupState
	if err := q.QueryRowContext(ctx, "SELECT hour, server FROM rollup WHERE id = 1").Scan(&r.hour, &r.server); err != nil {
		return r, fmt.Errorf("read rollup state: %w", err)
	}
	return r, nil
}

// Maintain builds hourly rollups (merged distributions and summed
// counters, per server and sensor) for every completed hour, then deletes
// 5-minute rows older than retention (only once rolled up), hourly rows
// older than hourlyRetention, old batch ids and expired sessions. A
// retention ≤ 0 keeps rows forever. It works in small transactions, so
// ingest is never blocked for long, and may be interrupted through ctx at
// any point without losing anything: the next call carries on.
func (db *DB) Maintain(ctx context.Context, now time.Time, retention, hourlyRetention time.Duration) error {
	return db.noteWrite(db.maintain(ctx, now, retention, hourlyRetention))
}

func (db *DB) maintain(ctx context.Context, now time.Time, retention, hourlyRetention time.Duration) error {
	// An hour is complete once its last window has closed and had one more
	// window's time to arrive; later windows are merged into the hour at ingest.
	limit := hourOf(now.Unix() - 300)
	for {
		done, err := db.rollupStep(ctx, limit)
		if err != nil {
			return fmt.Errorf("maintain: rollup: %w", err)
		}
		if done {
			break
		}
	}
	st, err := readRollup(ctx, db.w)
	if err != nil {
		return fmt.Errorf("maintain: %w", err)
	}
	if retention > 0 {
		cutoff := min(now.Add(-retention).Unix(), st.hour)
		if err := db.deleteOld(ctx, "windows", "rowid", "start", cutoff); err != nil {
			return err
		}
		if _, err := db.w.ExecContext(ctx, "UPDATE rollup SET pruned = max(pruned, ?) WHERE id = 1", cutoff); err != nil {
			return fmt.Errorf("maintain: %w", err)
		}
	}
	if hourlyRetention > 0 {
		if err := db.deleteOld(ctx, "hours", "rowid", "start", now.Add(-hourlyRetention).Unix()); err != nil {
			return err
		}
	}
	if err := db.deleteOld(ctx, "batches", "id", "received", now.Add(-batchIDRetention).Unix()); err != nil {
		return err
	}
	if err := db.deleteOld(ctx, "sessions", "id", "expires", now.Unix()); err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA optimize"); err != nil {
		return fmt.Errorf("maintain: optimize: %w", err)
	}
	return nil
}

// deleteOld deletes the rows of table whose column is below cutoff, a
// chunk per transaction.
func (db *DB) deleteOld(ctx context.Context, table, key, column string, cutoff int64) error {
	q := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s < ? LIMIT %[4]d)", table, key, column, deleteChunk)
	for {
		res, err := db.w.ExecContext(ctx, q, cutoff)
		if err != nil {
			return fmt.Errorf("maintain: delete old %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("maintain: delete old %s: %w", table, err)
		}
		if n < deleteChunk {
			return nil
		}
	}
}

// rollupStep rolls up the next servers of the current hour, or moves to
// the next hour that has data, in one transaction. done reports that every
// hour before limit is rolled up.
func (db *DB) rollupStep(ctx context.Context, limit int64) (done bool, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	st, err := readRollup(ctx, tx)
	if err != nil {
		return false, err
	}
	if st.hour >= limit {
		return true, nil
	}
	servers, err := nextServers(ctx, tx, st)
	if err != nil {
		return false, err
	}
	next := rollupState{hour: st.hour}
	if len(servers) == 0 {
		next, err = nextHour(ctx, tx, st.hour, limit)
	} else {
		next.server = servers[len(servers)-1]
		err = db.rollupServers(ctx, tx, st, next.server)
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE rollup SET hour = ?, server = ? WHERE id = 1", next.hour, next.server); err != nil {
		return false, fmt.Errorf("save rollup state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return next.hour >= limit, nil
}

func nextServers(ctx context.Context, tx *sql.Tx, st rollupState) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT DISTINCT server FROM windows
		WHERE start >= ? AND start < ? AND server > ? ORDER BY server LIMIT %d`, rollupChunk),
		st.hour, st.hour+3600, st.server)
	if err != nil {
		return nil, fmt.Errorf("servers of hour %d: %w", st.hour, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// nextHour is the first hour after h that has 5-minute rows, or limit.
func nextHour(ctx context.Context, tx *sql.Tx, h, limit int64) (rollupState, error) {
	var next sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT min(start) FROM windows WHERE start >= ?", h+3600).Scan(&next); err != nil {
		return rollupState{}, fmt.Errorf("next hour after %d: %w", h, err)
	}
	if !next.Valid || hourOf(next.Int64) >= limit {
		return rollupState{hour: limit}, nil
	}
	return rollupState{hour: hourOf(next.Int64)}, nil
}

type rowKey struct{ server, sensor int64 }

// rollupServers writes the hourly rows of hour st.hour for the servers in
// (st.server, last]. Unreadable rows are left out and moved aside.
func (db *DB) rollupServers(ctx context.Context, tx *sql.Tx, st rollupState, last int64) error {
	rows, err := tx.QueryContext(ctx, "SELECT rowid, server, sensor, "+dataCols+
		" FROM windows WHERE start >= ? AND start < ? AND server > ? AND server <= ?",
		st.hour, st.hour+3600, st.server, last)
	if err != nil {
		return fmt.Errorf("read hour %d: %w", st.hour, err)
	}
	defer rows.Close()
	sums := map[rowKey]*rowAcc{}
	var (
		order []rowKey
		bad   []badRow
		s     rowScan
		k     rowKey
		rowid int64
	)
	dest := append([]any{&rowid, &k.server, &k.sensor}, s.dests()...)
	for rows.Next() {
		err := rows.Scan(dest...)
		if err == nil {
			err = s.check()
		}
		if err != nil {
			bad = append(bad, badRow{"windows", rowid, err})
			continue
		}
		acc := sums[k]
		if acc == nil {
			acc = &rowAcc{}
			sums[k] = acc
			order = append(order, k)
		}
		if err := acc.addScan(&s); err != nil {
			// Valid rows whose sum overflows: the hour keeps what fits.
			slog.Warn("rollup: hour overflows, row left out", "server", k.server, "sensor", k.sensor, "hour", st.hour, "err", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read hour %d: %w", st.hour, err)
	}
	rows.Close()
	for _, b := range bad {
		db.bad.skipped.Add(1)
		if err := db.moveAside(ctx, tx, b.table, b.rowid, b.reason); err != nil {
			return err
		}
	}
	for _, k := range order {
		e, err := sums[k].encoded()
		if err != nil {
			return fmt.Errorf("server %d sensor %d hour %d: %w", k.server, k.sensor, st.hour, err)
		}
		if err := insertRow(ctx, tx, "hours", k.server, st.hour, k.sensor, &e); err != nil {
			return err
		}
	}
	return nil
}
