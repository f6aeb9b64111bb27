package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// counterCols and metricCols name the columns of a window row, in the
// order of window.Counter and of window.Metric. A new counter needs a
// migration that adds its column (see schema.go).
var (
	counterCols = func() []string {
		c := make([]string, window.NumCounters)
		for i := range c {
			c[i] = window.Counter(i).String()
		}
		return c
	}()
	metricCols = func() []string {
		c := make([]string, window.NumMetrics)
		for i := range c {
			c[i] = window.Metric(i).String()
		}
		return c
	}()
	// breakdownCol holds a row's operation breakdown (see breakdown).
	breakdownCol = "breakdown"
	allCols      = append(append(append([]string{}, counterCols...), metricCols...), breakdownCol)
	dataCols     = strings.Join(allCols, ", ")
	dataHoles    = strings.Repeat(", ?", len(allCols))
)

// breakdown is what a row keeps of a summary's protocol fields, as JSON.
type breakdown struct {
	Protocol   string             `json:"protocol,omitempty"`
	Operations []window.Operation `json:"operations,omitempty"`
	Statuses   map[string]uint64  `json:"statuses,omitempty"`
}

func encodeBreakdown(s *window.Summary) ([]byte, error) {
	if s.Protocol == "" && len(s.Operations) == 0 && len(s.Statuses) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(breakdown{s.Protocol, s.Operations, s.Statuses})
	if err != nil {
		return nil, fmt.Errorf("breakdown: %w", err)
	}
	return b, nil
}

// mergeBreakdown merges a stored breakdown into s.
func mergeBreakdown(s *window.Summary, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var bd breakdown
	if err := json.Unmarshal(b, &bd); err != nil {
		return fmt.Errorf("breakdown: %w", err)
	}
	s.MergeBreakdown(&window.Summary{Protocol: bd.Protocol, Operations: bd.Operations, Statuses: bd.Statuses})
	return nil
}

// encoded is the data of one window row as stored: counters and one
// encoded distribution per metric (nil when empty).
type encoded struct {
	window.Counters
	blobs     [window.NumMetrics][]byte
	breakdown []byte // JSON, nil for none
}

func encodeSummary(s *window.Summary) (encoded, error) {
	e := encoded{Counters: s.Counters}
	for i := range s.Metrics {
		e.blobs[i] = encodeDist(&s.Metrics[i])
	}
	var err error
	e.breakdown, err = encodeBreakdown(s)
	return e, err
}

func counterPtrs(c *window.Counters) []*uint64 {
	p := make([]*uint64, window.NumCounters)
	for i := range p {
		p[i] = c.Field(window.Counter(i))
	}
	return p
}

// args returns the values of dataCols. Counters saturate at the largest
// value SQLite holds rather than fail or wrap.
func (e *encoded) args() ([]any, error) {
	out := make([]any, 0, len(allCols))
	for _, c := range counterPtrs(&e.Counters) {
		out = append(out, clamp(*c))
	}
	for _, b := range e.blobs {
		if len(b) == 0 {
			out = append(out, nil)
		} else {
			out = append(out, b)
		}
	}
	if e.breakdown == nil {
		out = append(out, nil)
	} else {
		out = append(out, string(e.breakdown))
	}
	return out, nil
}

// rowScan receives the dataCols of a row. The blobs (and parsed, after
// check) are only valid until the next Scan or Next.
type rowScan struct {
	counters  [window.NumCounters]int64
	blobs     [window.NumMetrics]sql.RawBytes
	breakdown sql.RawBytes
	parsed    [window.NumMetrics]window.Encoded
	bd        *window.Summary // the breakdown, after check; nil for none
}

func (s *rowScan) dests() []any {
	d := make([]any, 0, len(allCols))
	for i := range s.counters {
		d = append(d, &s.counters[i])
	}
	for i := range s.blobs {
		d = append(d, &s.blobs[i])
	}
	return append(d, &s.breakdown)
}

// check reads a scanned row completely: counters that are not negative
// and distributions that decode to what they claim. A row that fails is
// unreadable (damaged on disk, or stored by a version that checked less)
// and must be skipped whole.
func (s *rowScan) check() error {
	for i, c := range s.counters {
		if c < 0 {
			return fmt.Errorf("stored %s = %d", counterCols[i], c)
		}
	}
	for i, b := range s.blobs {
		s.parsed[i] = window.Encoded{}
		if len(b) == 0 {
			continue
		}
		e, err := window.ParseBinary(b)
		if err == nil {
			err = e.Check()
		}
		if err != nil {
			return fmt.Errorf("stored %s: %w", window.Metric(i), err)
		}
		s.parsed[i] = e
	}
	s.bd = nil
	if len(s.breakdown) > 0 {
		var bd breakdown
		if err := json.Unmarshal(s.breakdown, &bd); err != nil {
			return fmt.Errorf("stored breakdown: %w", err)
		}
		s.bd = &window.Summary{Protocol: bd.Protocol, Operations: bd.Operations, Statuses: bd.Statuses}
	}
	return nil
}

func (s *rowScan) counts() window.Counters {
	var c window.Counters
	for i, p := range counterPtrs(&c) {
		*p = uint64(s.counters[i])
	}
	return c
}

// rowAcc merges rows: counters summed, distributions merged.
type rowAcc struct {
	window.Counters
	dists [window.NumMetrics]distAcc
	bd    window.Summary // the breakdown fields only
}

// addScan merges a row that check accepted, all of it or (on overflow,
// error window.ErrOverflow) nothing.
func (a *rowAcc) addScan(s *rowScan) error {
	for i := range a.dists {
		if a.dists[i].d.Count > window.MaxCount-s.parsed[i].Count {
			return fmt.Errorf("%s: %w", window.Metric(i), window.ErrOverflow)
		}
	}
	c := s.counts()
	a.Counters.Add(&c)
	for i := range a.dists {
		if err := a.dists[i].d.MergeChecked(s.parsed[i]); err != nil {
			panic("store: merge failed after its check: " + err.Error())
		}
	}
	if s.bd != nil {
		a.bd.MergeBreakdown(s.bd)
	}
	return nil
}

// addEncoded merges a window being ingested, all of it or nothing.
func (a *rowAcc) addEncoded(e *encoded) error {
	var s rowScan
	for i, c := range counterPtrs(&e.Counters) {
		s.counters[i] = clamp(*c)
	}
	for i, b := range e.blobs {
		s.blobs[i] = b
	}
	s.breakdown = e.breakdown
	if err := s.check(); err != nil {
		return err
	}
	return a.addScan(&s)
}

func (a *rowAcc) encoded() (encoded, error) {
	e := encoded{Counters: a.Counters}
	for i := range a.dists {
		e.blobs[i] = a.dists[i].blob()
	}
	var err error
	e.breakdown, err = encodeBreakdown(&a.bd)
	return e, err
}

// IngestResult is the outcome of a batch: whether its id was seen before,
// how many windows were stored, and the windows refused and why.
type IngestResult struct {
	Duplicate bool
	Accepted  int
	Rejected  []Rejected
}

// Rejected is a window of a batch that was not stored: it is invalid, or
// merging it with what is stored would overflow.
type Rejected struct {
	Index  int
	Server netip.AddrPort
	Start  time.Time
	Reason string
}

// errRejected marks an error that refuses one window, not the batch.
var errRejected = errors.New("window refused")

// IngestWindows stores the valid windows of a batch in one transaction
// and lists the others in Rejected; an error means nothing was stored. A
// batch id seen before returns Duplicate and stores nothing. Windows that
// already exist for (server, sensor, start) are merged with what is stored
// (a window can arrive in parts), never replaced; windows of hours already
// rolled up are merged into the hourly rows too. Merged counters saturate
// at the largest value the database holds; a merge that would overflow a
// distribution refuses the window. A stored row that cannot be read is
// moved aside (see Quarantined) and the window stored in its place. It
// also upserts the sensor row (last_seen = now). A batch with no windows
// is a heartbeat.
func (db *DB) IngestWindows(ctx context.Context, b *window.Batch, now time.Time) (res IngestResult, err error) {
	defer func() {
		switch {
		case err != nil:
			db.stats.errors.Add(1)
		case res.Duplicate:
			db.stats.duplicates.Add(1)
		default:
			db.stats.batches.Add(1)
			db.stats.windows.Add(uint64(res.Accepted))
			db.stats.rejected.Add(uint64(len(res.Rejected)))
		}
	}()
	if err := b.Validate(); err != nil {
		return res, fmt.Errorf("ingest batch %q: %w", b.ID, err)
	}
	in := ingest{db: db, b: b, now: now, servers: map[string]int64{}}
	if err := db.noteWrite(in.run(ctx)); err != nil {
		return res, fmt.Errorf("ingest batch %q from %s: %w", b.ID, b.Sensor.Name, err)
	}
	if !in.duplicate {
		db.mu.Lock()
		for k, v := range in.servers {
			db.servers[k] = v
		}
		db.mu.Unlock()
	}
	res.Duplicate, res.Rejected = in.duplicate, in.rejected
	if !in.duplicate {
		res.Accepted = len(b.Summaries) - len(in.rejected)
	}
	return res, nil
}

// Ingest is IngestWindows for callers that treat a refused window as an
// error: the valid windows are stored all the same.
func (db *DB) Ingest(ctx context.Context, b *window.Batch, now time.Time) (duplicate bool, err error) {
	res, err := db.IngestWindows(ctx, b, now)
	if err == nil && len(res.Rejected) > 0 {
		r := res.Rejected[0]
		err = fmt.Errorf("ingest batch %q: %d windows refused, windows[%d] (%s at %s): %s", b.ID, len(res.Rejected),
			r.Index, r.Server, r.Start.UTC().Format(time.RFC3339), r.Reason)
	}
	return res.Duplicate, err
}

// ingest is the state of one Ingest transaction.
type ingest struct {
	db        *DB
	b         *window.Batch
	now       time.Time
	tx        *sql.Tx
	duplicate bool
	sensor    int64
	servers   map[string]int64 // ids looked up or created in this transaction
	rolled    rollupState
	insert    *sql.Stmt
	stmts     *stmtCache
	rejected  []Rejected
}

// querier is what mergeRow and insertRow need: a *sql.Tx, or a stmtCache
// over one.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// stmtCache prepares each statement once per transaction: re-parsing the
// same SQL for every merged row otherwise costs a quarter of ingest.
// Statements prepared on a transaction close with it.
type stmtCache struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (in *ingest) run(ctx context.Context) error {
	tx, err := in.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	in.tx = tx
	in.stmts = &stmtCache{tx: tx}
	res, err := tx.ExecContext(ctx, "INSERT INTO batches (id, received) VALUES (?, ?) ON CONFLICT DO NOTHING", in.b.ID, in.now.Unix())
	if err != nil {
		return fmt.Errorf("record batch id: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		in.duplicate = true
		return err
	}
	if in.sensor, err = upsertSensor(ctx, tx, &in.b.Sensor, in.now); err != nil {
		return err
	}
	if in.rolled, err = readRollup(ctx, tx); err != nil {
		return err
	}
	in.insert, err = tx.PrepareContext(ctx, "INSERT INTO windows (server, start, sensor, "+dataCols+
		") VALUES (?, ?, ?"+dataHoles+") ON CONFLICT DO NOTHING")
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer in.insert.Close()
	for i := range in.b.Summaries {
		s := &in.b.Summaries[i]
		if err := in.savepoint(ctx, s); errors.Is(err, errRejected) {
			in.rejected = append(in.rejected, Rejected{Index: i, Server: s.Server, Start: s.Start, Reason: err.Error()})
		} else if err != nil {
			return fmt.Errorf("windows[%d] (%s at %s): %w", i, s.Server, s.Start.UTC().Format(time.RFC3339), err)
		}
		if in.db.afterWindow != nil {
			in.db.afterWindow(i)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// savepoint stores one window under a savepoint, so that a window refused
// halfway (its 5-minute row merged, its hourly row not) leaves nothing.
func (in *ingest) savepoint(ctx context.Context, s *window.Summary) error {
	if err := s.Validate(in.now); err != nil {
		return fmt.Errorf("%w: %w", errRejected, err)
	}
	if _, err := in.stmts.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := in.window(ctx, s)
	if errors.Is(err, errRejected) {
		if _, err2 := in.stmts.ExecContext(ctx, "ROLLBACK TO w"); err2 != nil {
			return fmt.Errorf("roll back refused window: %w", err2)
		}
	}
	if _, err2 := in.stmts.ExecContext(ctx, "RELEASE w"); err2 != nil && err == nil {
		err = fmt.Errorf("release savepoint: %w", err2)
	}
	return err
}

func (in *ingest) window(ctx context.Context, s *window.Summary) error {
	server, err := in.serverID(ctx, ServerAddr(s))
	if err != nil {
		return err
	}
	e, err := encodeSummary(s)
	if err != nil {
		return err
	}
	args, err := e.args()
	if err != nil {
		return err
	}
	start := s.Start.Unix()
	res, err := in.insert.ExecContext(ctx, append([]any{server, start, in.sensor}, args...)...)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if err := in.db.mergeRow(ctx, in.stmts, "windows", server, start, in.sensor, &e); err != nil {
			return err
		}
	}
	if in.rolled.covers(server, start) {
		return in.db.mergeRow(ctx, in.stmts, "hours", server, hourOf(start), in.sensor, &e)
	}
	return nil
}

// serverID returns the id of a server address, creating it when new.
func (in *ingest) serverID(ctx context.Context, addr string) (int64, error) {
	if id, ok := in.servers[addr]; ok {
		return id, nil
	}
	in.db.mu.Lock()
	id, ok := in.db.servers[addr]
	in.db.mu.Unlock()
	if !ok {
		err := in.tx.QueryRowContext(ctx, "SELECT id FROM servers WHERE addr = ?", addr).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			err = in.tx.QueryRowContext(ctx, "INSERT INTO servers (addr) VALUES (?) RETURNING id", addr).Scan(&id)
		}
		if err != nil {
			return 0, fmt.Errorf("server id of %s: %w", addr, err)
		}
	}
	in.servers[addr] = id
	return id, nil
}

// mergeRow merges e into the row (server, start, sensor) of table,
// inserting it when absent. A stored row that cannot be read is moved
// aside and e stored in its place; a merge that would overflow, or give a
// row that does not read back, refuses the window (errRejected).
func (db *DB) mergeRow(ctx context.Context, tx querier, table string, server, start, sensor int64, e *encoded) error {
	rows, err := tx.QueryContext(ctx, "SELECT rowid, "+dataCols+" FROM "+table+" WHERE server = ? AND start = ? AND sensor = ?",
		server, start, sensor)
	if err != nil {
		return fmt.Errorf("read %s row: %w", table, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read %s row: %w", table, err)
		}
		rows.Close()
		return insertRow(ctx, tx, table, server, start, sensor, e)
	}
	var (
		rowid int64
		s     rowScan
		acc   rowAcc
	)
	bad := rows.Scan(append([]any{&rowid}, s.dests()...)...)
	if bad == nil {
		bad = s.check()
	}
	if bad == nil {
		bad = acc.addScan(&s)
	}
	rows.Close()
	if bad != nil {
		if err := db.moveAside(ctx, tx, table, rowid, bad); err != nil {
			return err
		}
		return insertRow(ctx, tx, table, server, start, sensor, e)
	}
	if err := acc.addEncoded(e); err != nil {
		return fmt.Errorf("%w: merging it into the stored %s row: %w", errRejected, table, err)
	}
	merged, err := acc.encoded()
	if err != nil {
		return fmt.Errorf("merged %s row: %w", table, err)
	}
	if err := merged.check(); err != nil {
		return fmt.Errorf("%w: merging it into the stored %s row gives an unreadable row: %w", errRejected, table, err)
	}
	args, err := merged.args()
	if err != nil {
		return fmt.Errorf("merged %s row: %w", table, err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE "+table+" SET "+setCols+" WHERE rowid = ?", append(args, rowid)...)
	if err != nil {
		return fmt.Errorf("update %s row: %w", table, err)
	}
	return nil
}

// check verifies that e reads back as it would be stored.
func (e *encoded) check() error {
	var s rowScan
	for i, c := range counterPtrs(&e.Counters) {
		s.counters[i] = clamp(*c)
	}
	for i, b := range e.blobs {
		s.blobs[i] = b
	}
	s.breakdown = e.breakdown
	return s.check()
}

var setCols = strings.Join(allCols, " = ?, ") + " = ?"

// ServerAddr is how the servers table names a summary's server: "ip:port"
// for TCP, "ip:port/udp" for UDP.
func ServerAddr(s *window.Summary) string {
	if s.UDP() {
		return s.Server.String() + "/udp"
	}
	return s.Server.String()
}

func insertRow(ctx context.Context, tx querier, table string, server, start, sensor int64, e *encoded) error {
	args, err := e.args()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (server, start, sensor, "+dataCols+
		") VALUES (?, ?, ?"+dataHoles+")",
		append([]any{server, start, sensor}, args...)...)
	if err != nil {
		return fmt.Errorf("insert %s row: %w", table, err)
	}
	return nil
}

func upsertSensor(ctx context.Context, tx *sql.Tx, s *window.SensorInfo, now time.Time) (int64, error) {
	ifaces, err := json.Marshal(s.Interfaces)
	if err != nil {
		return 0, fmt.Errorf("sensor interfaces: %w", err)
	}
	if s.Interfaces == nil {
		ifaces = []byte("[]")
	}
	var skew any // NULL when the sensor does not say its clock
	if !s.Clock.IsZero() {
		skew = clampSkew(s.Clock.Sub(now))
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO sensors (name, version, interfaces, packets, drops, flows, spool_depth, spool_lost,
			clock_skew_ms, windows_rejected, spool_corrupt, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET version = excluded.version, interfaces = excluded.interfaces,
			packets = excluded.packets, drops = excluded.drops, flows = excluded.flows,
			spool_depth = excluded.spool_depth, spool_lost = excluded.spool_lost,
			clock_skew_ms = excluded.clock_skew_ms, windows_rejected = excluded.windows_rejected,
			spool_corrupt = excluded.spool_corrupt, last_seen = excluded.last_seen
		RETURNING id`,
		s.Name, s.Version, string(ifaces), clamp(s.Packets), clamp(s.Drops), clamp(s.Flows),
		clamp(s.SpoolDepth), clamp(s.SpoolLost), skew, clamp(s.WindowsRejected), clamp(s.SpoolCorrupt),
		now.Unix(), now.Unix()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("upsert sensor %s: %w", s.Name, err)
	}
	return id, nil
}

// clampSkew returns d in milliseconds, bounded to ±10 years (a sensor's
// clock can be anything).
func clampSkew(d time.Duration) int64 {
	const bound = 10 * 365 * 24 * time.Hour
	return (min(max(d, -bound), bound)).Milliseconds()
}

// clamp maps a uint64 health counter to SQLite's int64.
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func hourOf(unix int64) int64 { return unix - unix%3600 }
