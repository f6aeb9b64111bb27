package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each once, each in its own transaction.
// Never edit a released migration: append a new one.
var migrations = []string{
	// 1: windows, rollups, sensors, users, sessions.
	`
CREATE TABLE servers (
	id   INTEGER PRIMARY KEY,
	addr TEXT NOT NULL UNIQUE
);
CREATE TABLE sensors (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	version     TEXT NOT NULL DEFAULT '',
	interfaces  TEXT NOT NULL DEFAULT '[]',
	packets     INTEGER NOT NULL DEFAULT 0,
	drops       INTEGER NOT NULL DEFAULT 0,
	flows       INTEGER NOT NULL DEFAULT 0,
	spool_depth INTEGER NOT NULL DEFAULT 0,
	spool_lost  INTEGER NOT NULL DEFAULT 0,
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL
);
CREATE TABLE batches (
	id       TEXT PRIMARY KEY,
	received INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX batches_received ON batches(received);
` + windowTable("windows", 300) + windowTable("hours", 3600) + `
CREATE TABLE rollup (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	hour   INTEGER NOT NULL,
	server INTEGER NOT NULL
);
INSERT INTO rollup (id, hour, server) VALUES (1, 0, 0);
CREATE TABLE users (
	name        TEXT PRIMARY KEY,
	hash        BLOB NOT NULL,
	admin       INTEGER NOT NULL,
	must_change INTEGER NOT NULL,
	created     INTEGER NOT NULL
);
CREATE TABLE sessions (
	id      BLOB PRIMARY KEY,
	csrf    TEXT NOT NULL,
	user    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	expires INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user);
CREATE INDEX sessions_expires ON sessions(expires);
`,
	// 2: how far retention has deleted 5-minute rows, so that series over
	// that time come from the hourly rows.
	`ALTER TABLE rollup ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;`,
	// 3: the sensors' clock skew and what they dropped; stored rows that
	// could not be read, moved aside.
	`
ALTER TABLE sensors ADD COLUMN clock_skew_ms INTEGER;
ALTER TABLE sensors ADD COLUMN windows_rejected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sensors ADD COLUMN spool_corrupt INTEGER NOT NULL DEFAULT 0;
CREATE TABLE quarantine (
	id     INTEGER PRIMARY KEY,
	tbl    TEXT NOT NULL,
	server INTEGER NOT NULL,
	start  INTEGER NOT NULL,
	sensor INTEGER NOT NULL,
	data   TEXT NOT NULL,
	reason TEXT NOT NULL,
	moved  INTEGER NOT NULL
);
`,
	// 4: application protocols: the error counters, and each row's
	// breakdown by operation and status (window.Summary's protocol,
	// operations and statuses as JSON, NULL for plain tcp).
	breakdownColumns("windows") + breakdownColumns("hours"),
}

func breakdownColumns(table string) string {
	return fmt.Sprintf(`
ALTER TABLE %[1]s ADD COLUMN client_errors INTEGER NOT NULL DEFAULT 0 CHECK (client_errors >= 0);
ALTER TABLE %[1]s ADD COLUMN server_errors INTEGER NOT NULL DEFAULT 0 CHECK (server_errors >= 0);
ALTER TABLE %[1]s ADD COLUMN breakdown TEXT;
`, table)
}

// windowTable is the schema of a table of summaries of width seconds:
// one row per (server, start, sensor), counters as columns and one
// window.Dist (MarshalBinary) per metric, NULL when empty. Rows are
// appended in arrival order (rowid), the unique index serves series
// queries and the start index the overview and rollups.
func windowTable(name string, width int) string {
	return fmt.Sprintf(`
CREATE TABLE %[1]s (
	server            INTEGER NOT NULL REFERENCES servers(id),
	start             INTEGER NOT NULL CHECK (start %% %[2]d = 0),
	sensor            INTEGER NOT NULL REFERENCES sensors(id),
	connections       INTEGER NOT NULL CHECK (connections >= 0),
	established       INTEGER NOT NULL CHECK (established >= 0),
	refused           INTEGER NOT NULL CHECK (refused >= 0),
	unanswered        INTEGER NOT NULL CHECK (unanswered >= 0),
	resets            INTEGER NOT NULL CHECK (resets >= 0),
	syn_retries       INTEGER NOT NULL CHECK (syn_retries >= 0),
	retransmits       INTEGER NOT NULL CHECK (retransmits >= 0),
	transactions      INTEGER NOT NULL CHECK (transactions >= 0),
	bytes_to_server   INTEGER NOT NULL CHECK (bytes_to_server >= 0),
	bytes_from_server INTEGER NOT NULL CHECK (bytes_from_server >= 0),
	rtt               BLOB,
	rtt_server        BLOB,
	rtt_client        BLOB,
	connect_time      BLOB,
	response_time     BLOB,
	transfer_time     BLOB
);
CREATE UNIQUE INDEX %[1]s_key ON %[1]s(server, start, sensor);
CREATE INDEX %[1]s_start ON %[1]s(start, server);
`, name, width)
}

// migrate applies the migrations the database has not seen yet.
func migrate(ctx context.Context, w *sql.DB, migs []string) error {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := w.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migs) {
		return fmt.Errorf("schema version %d is newer than this pastmon knows (%d): upgrade pastmon", have, len(migs))
	}
	for v := have + 1; v <= len(migs); v++ {
		if err := applyMigration(ctx, w, v, migs[v-1]); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, w *sql.DB, v int, m string) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", v, time.Now().Unix()); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", v, err)
	}
	return nil
}
