package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// ServerSeen returns the starts of the first and the latest stored window
// (5-minute or hourly) of server over transport ("" or "tcp", "udp");
// found is false for a server never seen.
func (db *DB) ServerSeen(ctx context.Context, server netip.AddrPort, transport string) (first, last time.Time, found bool, err error) {
	var id int64
	err = db.r.QueryRowContext(ctx, "SELECT id FROM servers WHERE addr = ?", ServerAddr(&window.Summary{Server: server, Transport: transport})).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return first, last, false, nil
	}
	if err != nil {
		return first, last, false, fmt.Errorf("server seen %s: %w", server, err)
	}
	var lo, hi sql.NullInt64
	err = db.r.QueryRowContext(ctx, `SELECT min(lo), max(hi) FROM (
		SELECT min(start) AS lo, max(start) AS hi FROM windows WHERE server = ?1
		UNION ALL SELECT min(start), max(start) FROM hours WHERE server = ?1)`, id).Scan(&lo, &hi)
	if err != nil {
		return first, last, false, fmt.Errorf("server seen %s: %w", server, err)
	}
	if !lo.Valid {
		return first, last, false, nil
	}
	return time.Unix(lo.Int64, 0).UTC(), time.Unix(hi.Int64, 0).UTC(), true, nil
}
