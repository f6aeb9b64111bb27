package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// ServerSummary is what the overview shows of one server over a range.
type ServerSummary struct {
	Server          netip.AddrPort
	Transport       string         // "" for TCP, "udp"
	Protocol        string         // application protocol recognised ("http", …); "" for plain tcp
	Sensors         []string       // sensors that saw it in [from,to), sorted
	window.Counters                // summed over [from,to)
	Metrics         window.Metrics // merged over [from,to)
	LastSeen        time.Time      // start of its latest window
	Spark           []SparkPoint   // one per 5-minute window in [from,to) that has data
}

// SparkPoint is one 5-minute window of a server, all sensors merged.
type SparkPoint struct {
	T                   time.Time
	RTTAvg, ResponseAvg float64 // µs; NaN where no samples
	Connections         uint64
}

type serverAgg struct {
	sum     ServerSummary
	dists   [window.NumMetrics]distAcc
	sensors map[string]bool
	spark   map[int64]*sparkAgg
}

type sparkAgg struct {
	rtt, resp   countSum
	connections uint64
}

// add merges a row that check accepted. Distributions whose sum would
// pass window.MaxCount keep what fits.
func (a *serverAgg) add(start int64, sensor string, s *rowScan) {
	if a.sum.Protocol == "" && len(s.breakdown) > 0 {
		var bd struct {
			Protocol string `json:"protocol"`
		}
		if json.Unmarshal(s.breakdown, &bd) == nil { // checked when the row was read
			a.sum.Protocol = bd.Protocol
		}
	}
	c := s.counts()
	a.sum.Counters.Add(&c)
	a.sensors[sensor] = true
	t := time.Unix(start, 0).UTC()
	if t.After(a.sum.LastSeen) {
		a.sum.LastSeen = t
	}
	sp := a.spark[start]
	if sp == nil {
		sp = &sparkAgg{}
		a.spark[start] = sp
	}
	sp.connections = satAdd(sp.connections, c.Connections)
	for i := range a.dists {
		_ = a.dists[i].d.MergeChecked(s.parsed[i])
	}
	sp.rtt.addEncoded(s.parsed[window.RTT])
	sp.resp.addEncoded(s.parsed[window.ResponseTime])
}

func (a *serverAgg) summary() (ServerSummary, error) {
	s := a.sum
	for i := range a.dists {
		d, err := a.dists[i].dist()
		if err != nil {
			return s, fmt.Errorf("%s: %w", window.Metric(i), err)
		}
		s.Metrics[i] = d
	}
	for name := range a.sensors {
		s.Sensors = append(s.Sensors, name)
	}
	slices.Sort(s.Sensors)
	for start, sp := range a.spark {
		s.Spark = append(s.Spark, SparkPoint{T: time.Unix(start, 0).UTC(), RTTAvg: sp.rtt.avg(), ResponseAvg: sp.resp.avg(), Connections: sp.connections})
	}
	slices.SortFunc(s.Spark, func(a, b SparkPoint) int { return a.T.Compare(b.T) })
	return s, nil
}

// SeriesQuery selects one metric of one server over [From, To).
type SeriesQuery struct {
	Server   netip.AddrPort
	Metric   window.Metric
	From, To time.Time
	Sensor   string // "" = all sensors merged
	// Operation, when set, narrows response_time and the transaction
	// counters to one operation (see operationSeries).
	Operation string
	// Transport is "" (or "tcp") for a TCP server, "udp" for UDP.
	Transport string
}

// SeriesPoint is one step of a series: counters summed and the metric's
// distribution merged over the step.
type SeriesPoint struct {
	T time.Time
	window.Counters
	Dist window.Dist
}

// Series is a metric over time; Points only where there is data.
type Series struct {
	Step   time.Duration
	Points []SeriesPoint
}

// seriesMaxFine is the longest range served with 5-minute points.
const seriesMaxFine = 48 * time.Hour

// Series returns 5-minute points of one server's metric, or hourly points
// (whole hours, from the hour containing From) when the range is longer
// than 2 days or starts before the 5-minute rows that retention kept;
// Step says which. Points are merged across sensors unless
// q.Sensor names one. An unknown server or sensor gives no points.
func (db *DB) Series(ctx context.Context, q SeriesQuery) (Series, error) {
	if q.Operation != "" {
		return db.operationSeries(ctx, q)
	}
	out := Series{Step: window.Width}
	if q.To.Sub(q.From) > seriesMaxFine {
		out.Step = time.Hour
	}
	if q.Metric >= window.NumMetrics {
		return out, fmt.Errorf("series: unknown metric %d: %w", q.Metric, ErrInvalid)
	}
	if !q.To.After(q.From) {
		return out, nil
	}
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("series: %w", err)
	}
	defer tx.Rollback()
	sq := seriesQuery{q: q, tx: tx, col: metricCols[q.Metric], points: map[int64]*pointAcc{}}
	defer func() { db.skipped(ctx, sq.bad) }()
	found, err := sq.ids(ctx)
	if err != nil || !found {
		return out, err
	}
	from, to := q.From.Unix(), q.To.Unix()
	if out.Step == window.Width {
		// Where retention has deleted the 5-minute rows, only hours remain.
		var pruned int64
		if err := tx.QueryRowContext(ctx, "SELECT pruned FROM rollup WHERE id = 1").Scan(&pruned); err != nil {
			return out, fmt.Errorf("series: %w", err)
		}
		if from < pruned {
			out.Step = time.Hour
		}
	}
	if out.Step == window.Width {
		err = sq.read(ctx, "windows", from, to, 300)
	} else {
		err = sq.hourly(ctx, hourOf(from), to)
	}
	if err != nil {
		return out, fmt.Errorf("series %s %s: %w", q.Server, q.Metric, err)
	}
	out.Points, err = sq.sorted()
	if err != nil {
		return out, fmt.Errorf("series %s %s: %w", q.Server, q.Metric, err)
	}
	return out, nil
}

type seriesQuery struct {
	q              SeriesQuery
	tx             *sql.Tx
	col            string
	server, sensor int64
	points         map[int64]*pointAcc
	bad            []badRow
}

type pointAcc struct {
	window.Counters
	dist distAcc
}

// ids looks up the server and sensor ids; found is false when either is
// unknown.
func (sq *seriesQuery) ids(ctx context.Context) (found bool, err error) {
	err = sq.tx.QueryRowContext(ctx, "SELECT id FROM servers WHERE addr = ?",
		ServerAddr(&window.Summary{Server: sq.q.Server, Transport: sq.q.Transport})).Scan(&sq.server)
	if err == nil && sq.q.Sensor != "" {
		err = sq.tx.QueryRowContext(ctx, "SELECT id FROM sensors WHERE name = ?", sq.q.Sensor).Scan(&sq.sensor)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("series: %w", err)
	}
	return true, nil
}

func (sq *seriesQuery) hourly(ctx context.Context, from, to int64) error {
	st, err := readRollup(ctx, sq.tx)
	if err != nil {
		return err
	}
	if err := sq.read(ctx, "hours", from, to, 3600); err != nil {
		return err
	}
	// 5-minute rows not rolled up yet complete the recent hours.
	unrolled := st.hour
	if sq.server <= st.server {
		unrolled += 3600
	}
	return sq.read(ctx, "windows", max(from, unrolled), to, 3600)
}

// read merges the rows of table with start in [from, to) into points of
// step seconds.
func (sq *seriesQuery) read(ctx context.Context, table string, from, to, step int64) error {
	query := "SELECT rowid, start, " + strings.Join(counterCols, ", ") + ", " + sq.col + " FROM " + table +
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
		rowid, start int64
		s            rowScan
	)
	dest := []any{&rowid, &start}
	for i := range s.counters {
		dest = append(dest, &s.counters[i])
	}
	dest = append(dest, &s.blobs[sq.q.Metric])
	for rows.Next() {
		err := rows.Scan(dest...)
		if err == nil {
			err = s.check()
		}
		if err != nil {
			sq.bad = append(sq.bad, badRow{table, rowid, err})
			continue
		}
		t := start - start%step
		p := sq.points[t]
		if p == nil {
			p = &pointAcc{}
			sq.points[t] = p
		}
		if err := p.dist.d.MergeChecked(s.parsed[sq.q.Metric]); err != nil {
			continue // a sum past MaxCount: the point keeps what fits
		}
		c := s.counts()
		p.Counters.Add(&c)
	}
	return rows.Err()
}

// sorted converts the points to window.Dists (the costly part of a long
// series, spread over the CPUs) and sorts them by time.
func (sq *seriesQuery) sorted() ([]SeriesPoint, error) {
	out := make([]SeriesPoint, 0, len(sq.points))
	accs := make([]*distAcc, 0, len(sq.points))
	for t, p := range sq.points {
		out = append(out, SeriesPoint{T: time.Unix(t, 0).UTC(), Counters: p.Counters})
		accs = append(accs, &p.dist)
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(out)/64))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(out); i += workers {
				if out[i].Dist, errs[w] = accs[i].dist(); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b SeriesPoint) int { return a.T.Compare(b.T) })
	return out, nil
}

// Sensor is a sensor as last reported.
type Sensor struct {
	window.SensorInfo
	FirstSeen, LastSeen time.Time
	// ClockSkew is the sensor's clock minus the web node's when its last
	// batch arrived (transit time included); HasSkew is false when the
	// sensor did not send its clock.
	ClockSkew time.Duration
	HasSkew   bool
}

// Sensors returns every sensor that ever reported, sorted by name.
func (db *DB) Sensors(ctx context.Context) ([]Sensor, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, version, interfaces, packets, drops, flows, spool_depth, spool_lost,
		windows_rejected, spool_corrupt, clock_skew_ms, first_seen, last_seen FROM sensors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sensors: %w", err)
	}
	defer rows.Close()
	var out []Sensor
	for rows.Next() {
		var (
			s           Sensor
			ifaces      string
			n           [7]int64
			skew        sql.NullInt64
			first, last int64
		)
		if err := rows.Scan(&s.Name, &s.Version, &ifaces, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &skew, &first, &last); err != nil {
			return nil, fmt.Errorf("sensors: %w", err)
		}
		if err := json.Unmarshal([]byte(ifaces), &s.Interfaces); err != nil {
			return nil, fmt.Errorf("sensor %s: interfaces: %w", s.Name, err)
		}
		s.Packets, s.Drops, s.Flows, s.SpoolDepth, s.SpoolLost = uint64(n[0]), uint64(n[1]), uint64(n[2]), uint64(n[3]), uint64(n[4])
		s.WindowsRejected, s.SpoolCorrupt = uint64(n[5]), uint64(n[6])
		s.ClockSkew, s.HasSkew = time.Duration(skew.Int64)*time.Millisecond, skew.Valid
		s.FirstSeen, s.LastSeen = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

func sensorNames(ctx context.Context, db *sql.DB) (map[int64]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, name FROM sensors")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		names[id] = name
	}
	return names, rows.Err()
}

// serverAddr reads the address of server id.
func (db *DB) serverAddr(ctx context.Context, id int64) (netip.AddrPort, error) {
	var addr string
	if err := db.r.QueryRowContext(ctx, "SELECT addr FROM servers WHERE id = ?", id).Scan(&addr); err != nil {
		return netip.AddrPort{}, fmt.Errorf("server %d: %w", id, err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSuffix(addr, "/udp")) // transport: see ServerAddr
	if err != nil {
		return ap, fmt.Errorf("stored server address %q: %w", addr, err)
	}
	return ap, nil
}

func serverAddrs(ctx context.Context, db *sql.DB) (map[int64]netip.AddrPort, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, addr FROM servers")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	addrs := map[int64]netip.AddrPort{}
	for rows.Next() {
		var id int64
		var addr string
		if err := rows.Scan(&id, &addr); err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(strings.TrimSuffix(addr, "/udp")) // transport: see ServerAddr
		if err != nil {
			return nil, fmt.Errorf("stored server address %q: %w", addr, err)
		}
		addrs[id] = ap
	}
	return addrs, rows.Err()
}
