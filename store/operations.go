package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// Breakdown is a server's operations and statuses merged over a range
// (at most window.MaxOperations by name, then "other"), and its protocol.
type Breakdown struct {
	Protocol   string
	Operations []window.Operation
	Statuses   map[string]uint64
	window.Counters
}

// Operations returns q.Server's breakdown by operation and status over
// [q.From, q.To), from the same rows a series of that range reads (q.Metric
// is ignored). An unknown server or sensor gives an empty breakdown.
func (db *DB) Operations(ctx context.Context, q SeriesQuery) (Breakdown, error) {
	var out Breakdown
	var sum window.Summary
	err := db.eachBreakdown(ctx, q, func(_ int64, c *window.Counters, bd []byte) error {
		out.Counters.Add(c)
		return mergeBreakdown(&sum, bd)
	})
	if err != nil {
		return out, fmt.Errorf("operations %s: %w", q.Server, err)
	}
	out.Protocol, out.Operations, out.Statuses = sum.Protocol, sum.Operations, sum.Statuses
	return out, nil
}

// operationSeries is Series for one operation (q.Operation): response_time
// is the operation's, and the counters' transactions, client_errors and
// server_errors are the operation's; the other metrics and counters are
// the server's, which no operation owns (the network times of a
// connection are the same whichever request it carries).
func (db *DB) operationSeries(ctx context.Context, q SeriesQuery) (Series, error) {
	if q.Metric != window.ResponseTime {
		q.Operation = ""
		return db.Series(ctx, q)
	}
	out := Series{Step: db.seriesStep(ctx, q)}
	points := map[int64]*SeriesPoint{}
	step := int64(out.Step / time.Second)
	err := db.eachBreakdown(ctx, q, func(start int64, c *window.Counters, bd []byte) error {
		var s window.Summary
		if err := mergeBreakdown(&s, bd); err != nil {
			return err
		}
		t := start - start%step
		p := points[t]
		if p == nil {
			p = &SeriesPoint{T: time.Unix(t, 0).UTC()}
			points[t] = p
		}
		own := *c
		own.Transactions, own.ClientErrors, own.ServerErrors = 0, 0, 0
		for i := range s.Operations {
			if o := &s.Operations[i]; o.Name == q.Operation {
				own.Transactions, own.ClientErrors, own.ServerErrors = o.Count, o.ClientError, o.ServerError
				p.Dist.Merge(&o.ResponseTime)
			}
		}
		p.Counters.Add(&own)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("series %s %s of %q: %w", q.Server, q.Metric, q.Operation, err)
	}
	for _, p := range points {
		out.Points = append(out.Points, *p)
	}
	slices.SortFunc(out.Points, func(a, b SeriesPoint) int { return a.T.Compare(b.T) })
	return out, nil
}

// seriesStep is the step Series uses for q: 5 minutes, or an hour for
// ranges over 2 days or reaching before the 5-minute rows retention kept.
func (db *DB) seriesStep(ctx context.Context, q SeriesQuery) time.Duration {
	if q.To.Sub(q.From) > seriesMaxFine {
		return time.Hour
	}
	var pruned int64
	if err := db.r.QueryRowContext(ctx, "SELECT pruned FROM rollup WHERE id = 1").Scan(&pruned); err == nil && q.From.Unix() < pruned {
		return time.Hour
	}
	return window.Width
}

// eachBreakdown calls f with the start, counters and stored breakdown of
// every row of q.Server (and q.Sensor) in [q.From, q.To): 5-minute rows,
// or hourly ones where Series would read hours.
func (db *DB) eachBreakdown(ctx context.Context, q SeriesQuery, f func(start int64, c *window.Counters, bd []byte) error) error {
	if !q.To.After(q.From) {
		return nil
	}
	hourly := db.seriesStep(ctx, q) == time.Hour
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sq := seriesQuery{q: q, tx: tx}
	found, err := sq.ids(ctx)
	if err != nil || !found {
		return err
	}
	from, to := q.From.Unix(), q.To.Unix()
	if !hourly {
		return sq.readBreakdown(ctx, "windows", from, to, f)
	}
	st, err := readRollup(ctx, tx)
	if err != nil {
		return err
	}
	from = hourOf(from)
	if err := sq.readBreakdown(ctx, "hours", from, to, f); err != nil {
		return err
	}
	unrolled := st.hour // as seriesQuery.hourly: 5-minute rows not rolled up yet
	if sq.server <= st.server {
		unrolled += 3600
	}
	return sq.readBreakdown(ctx, "windows", max(from, unrolled), to, f)
}

func (sq *seriesQuery) readBreakdown(ctx context.Context, table string, from, to int64, f func(int64, *window.Counters, []byte) error) error {
	query := "SELECT start, " + strings.Join(counterCols, ", ") + ", " + breakdownCol + " FROM " + table +
		" WHERE server = ? AND start >= ? AND start < ?"
	args := []any{sq.server, from, to}
	if sq.q.Sensor != "" {
		query += " AND sensor = ?"
		args = append(args, sq.sensor)
	}
	rows, err := sq.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var (
		start int64
		s     rowScan
	)
	dest := []any{&start}
	for i := range s.counters {
		dest = append(dest, &s.counters[i])
	}
	dest = append(dest, &s.breakdown)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		c := s.counts()
		if err := f(start, &c, s.breakdown); err != nil {
			return fmt.Errorf("stored %s row at %d: %w", table, start, err)
		}
	}
	return rows.Err()
}
