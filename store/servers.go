package store

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// ServerSort orders a server listing.
type ServerSort uint8

const (
	// SortWorst puts first the failing servers, those whose client and
	// server errors are at least FailingErrorPct percent of their
	// transactions, highest error rate first (then highest p95); then the
	// others, highest 95th percentile response time first (then highest
	// error rate); ties go to the most refused and unanswered
	// connections, then the most connections.
	SortWorst ServerSort = iota
	// SortConnections puts first the servers with the most connections.
	SortConnections
	// SortServer orders by address.
	SortServer
)

// FailingErrorPct is the error rate (percent of transactions) from which
// SortWorst ranks a server among the failing ones, before every server
// that answers correctly however slowly: a server answering errors fast
// is worse than a slow one that works.
const FailingErrorPct = 5

// ParseServerSort maps "worst", "connections" or "server" to a ServerSort.
func ParseServerSort(s string) (ServerSort, bool) {
	i := slices.Index([]string{"worst", "connections", "server"}, s)
	return ServerSort(max(i, 0)), i >= 0
}

// MaxServersLimit bounds the servers of one listing, and MaxServersDepth
// how deep into the order a page may start (Offset + Limit).
const (
	MaxServersLimit = 1000
	MaxServersDepth = 10000
)

// ServersQuery selects a page of the servers with 5-minute data in
// [From, To).
type ServersQuery struct {
	From, To time.Time
	Sort     ServerSort

	// Q, when not "", keeps the servers whose address, sensors (a name)
	// or protocol holds it, case-insensitively, or whose port is one of
	// QPorts (the caller's service names for Q).
	Q      string
	QPorts []uint16
	Limit  int // 1 … MaxServersLimit
	Offset int // Offset + Limit ≤ MaxServersDepth
	Ports  PortFilter
}

// PortFilter selects servers or closed-port buckets (ip:*, port 0).
type PortFilter uint8

const (
	AllPorts    PortFilter = iota
	OnlyServers            // leaves the closed-port buckets out
	OnlyBuckets            // the closed-port buckets only
)

// ServerList is a page of servers and how many matched in all.
type ServerList struct {
	Servers []ServerSummary
	Matched int
}

// ServerList returns a page of the servers seen in [q.From, q.To), in
// q.Sort order. It reads 5-minute rows only: it is meant for recent
// ranges (the overview's last hour or day). Memory stays bounded whatever
// is stored: a first pass streams each server's sort key (shards in
// parallel, each keeping only the best Offset+Limit keys), a second reads
// the page's servers in full. Unreadable rows are skipped and moved aside.
func (db *DB) ServerList(ctx context.Context, q ServersQuery) (ServerList, error) {
	if q.Limit < 1 || q.Limit > MaxServersLimit || q.Offset < 0 || q.Offset+q.Limit > MaxServersDepth || q.Sort > SortServer {
		return ServerList{}, fmt.Errorf("servers: limit %d, offset %d: %w", q.Limit, q.Offset, ErrInvalid)
	}
	keep := q.Offset + q.Limit
	shards := max(1, min(runtime.GOMAXPROCS(0), serverShards))
	var (
		wg   sync.WaitGroup
		outs = make([]keyHeap, shards)
		n    = make([]int, shards)
		bad  = make([][]badRow, shards)
		errs = make([]error, shards)
	)
	for i := range shards {
		wg.Go(func() { outs[i], n[i], bad[i], errs[i] = db.serverKeys(ctx, q, keep, i, shards) })
	}
	wg.Wait()
	for _, b := range bad {
		db.skipped(ctx, b)
	}
	if err := errors.Join(errs...); err != nil {
		return ServerList{}, fmt.Errorf("servers: %w", err)
	}
	var all []serverKey
	out := ServerList{}
	for i := range outs {
		all = append(all, outs[i].keys...)
		out.Matched += n[i]
	}
	slices.SortFunc(all, func(a, b serverKey) int { return a.compare(b, q.Sort) })
	if q.Offset >= len(all) {
		return out, nil
	}
	all = all[q.Offset:min(len(all), keep)]
	names, err := sensorNames(ctx, db.r)
	if err != nil {
		return out, fmt.Errorf("servers: %w", err)
	}
	for _, k := range all {
		sum, err := db.serverSummary(ctx, k, q.From, q.To, names)
		if err != nil {
			return out, fmt.Errorf("servers: %w", err)
		}
		out.Servers = append(out.Servers, sum)
	}
	return out, nil
}

// Servers returns the servers with 5-minute data in [from,to), sorted by
// address, at most MaxServersLimit of them.
func (db *DB) Servers(ctx context.Context, from, to time.Time) ([]ServerSummary, error) {
	l, err := db.ServerList(ctx, ServersQuery{From: from, To: to, Sort: SortServer, Limit: MaxServersLimit})
	return l.Servers, err
}

// serverShards bounds the parallelism of ServerList (and the read
// connections it takes from the pool).
const serverShards = 4

// serverKey is what the first pass keeps of a server.
type serverKey struct {
	id          int64
	addr        netip.AddrPort
	udp         bool
	p95         float64 // response time; -1 when none
	errPct      float64 // failed transactions, percent
	closed      uint64  // refused + unanswered
	connections uint64
}

// compare orders a before b (negative) in sort order; ties by address.
func (a serverKey) compare(b serverKey, by ServerSort) int {
	c := 0
	switch by {
	case SortWorst:
		af, bf := a.errPct >= FailingErrorPct, b.errPct >= FailingErrorPct
		c = cmpBool(bf, af)
		if af && bf {
			c = cmp.Or(c, cmp.Compare(b.errPct, a.errPct), cmp.Compare(b.p95, a.p95))
		}
		c = cmp.Or(c, cmp.Compare(b.p95, a.p95), cmp.Compare(b.errPct, a.errPct), cmp.Compare(b.closed, a.closed),
			cmp.Compare(b.connections, a.connections))
	case SortConnections:
		c = cmp.Compare(b.connections, a.connections)
	}
	return cmp.Or(c, a.addr.Compare(b.addr), cmpBool(a.udp, b.udp))
}

// keyHeap keeps the best keys: a max-heap on the order (the worst kept
// key on top, to be replaced by a better one).
type keyHeap struct {
	keys []serverKey
	by   ServerSort
}

func (h *keyHeap) Len() int           { return len(h.keys) }
func (h *keyHeap) Less(i, j int) bool { return h.keys[i].compare(h.keys[j], h.by) > 0 }
func (h *keyHeap) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *keyHeap) Push(x any)         { h.keys = append(h.keys, x.(serverKey)) }
func (h *keyHeap) Pop() any {
	k := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return k
}

func (h *keyHeap) offer(k serverKey, keep int) {
	if len(h.keys) < keep {
		heap.Push(h, k)
	} else if k.compare(h.keys[0], h.by) < 0 {
		h.keys[0] = k
		heap.Fix(h, 0)
	}
}

// likePattern is a LIKE pattern matching s anywhere, s taken literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// filter is the SQL condition (and its arguments) keeping the servers
// that match q.Q: by address, by port (q.QPorts), or by a sensor or
// protocol of one of their windows in the range. SQLite evaluates the
// subquery once, into a temporary index of server ids.
func (q ServersQuery) filter() (string, []any, error) {
	if q.Q == "" {
		return "", nil, nil
	}
	ports, err := json.Marshal(append([]uint16{}, q.QPorts...)) // [] for none, not null
	if err != nil {
		return "", nil, err
	}
	like := likePattern(q.Q)
	return " AND (s.addr LIKE ? ESCAPE '\\'" +
			" OR CAST(substr(replace(s.addr, '/udp', ''), length(rtrim(replace(s.addr, '/udp', ''), '0123456789')) + 1) AS INTEGER)" +
			" IN (SELECT value FROM json_each(?))" +
			" OR w.server IN (SELECT m.server FROM windows m JOIN sensors n ON n.id = m.sensor WHERE m.start >= ? AND m.start < ?" +
			" AND (n.name LIKE ? ESCAPE '\\' OR (json_valid(m.breakdown) AND json_extract(m.breakdown, '$.protocol') LIKE ? ESCAPE '\\'))))",
		[]any{like, string(ports), q.From.Unix(), q.To.Unix(), like, like}, nil
}

// serverKeys streams the rows of the servers whose id is shard modulo
// shards, one server at a time, and keeps the best keep keys.
func (db *DB) serverKeys(ctx context.Context, q ServersQuery, keep, shard, shards int) (keyHeap, int, []badRow, error) {
	h := keyHeap{by: q.Sort}
	col := "NULL"
	if q.Sort == SortWorst {
		col = "w.response_time"
	}
	ports := ""
	switch q.Ports {
	case OnlyServers:
		ports = " AND s.addr NOT LIKE '%:0' AND s.addr NOT LIKE '%:0/udp'"
	case OnlyBuckets:
		ports = " AND (s.addr LIKE '%:0' OR s.addr LIKE '%:0/udp')"
	}
	filter, fargs, err := q.filter()
	if err != nil {
		return h, 0, nil, err
	}
	rows, err := db.r.QueryContext(ctx, "SELECT w.rowid, w.server, s.addr, w.connections, w.transactions, w.client_errors, w.server_errors,"+
		" w.refused, w.unanswered, "+col+
		" FROM windows w JOIN servers s ON s.id = w.server WHERE w.start >= ? AND w.start < ? AND w.server % ? = ?"+
		filter+ports+" ORDER BY w.server",
		append([]any{q.From.Unix(), q.To.Unix(), shards, shard}, fargs...)...)
	if err != nil {
		return h, 0, nil, err
	}
	defer rows.Close()
	var (
		matched    int
		bad        []badRow
		cur        serverKey
		sums       [4]uint64 // connections, transactions, errors, closed
		dist       distAcc
		rowid, id  int64
		addr       string
		n          [6]int64
		resp       sql.RawBytes
		curBadAddr bool
	)
	flush := func() {
		if cur.id != 0 && !curBadAddr {
			cur.p95 = -1
			if d, _ := dist.dist(); d.Count > 0 {
				cur.p95 = d.Quantile(0.95)
			}
			cur.connections, cur.closed = sums[0], sums[3]
			if sums[1] > 0 {
				cur.errPct = 100 * float64(sums[2]) / float64(sums[1])
			}
			matched++
			h.offer(cur, keep)
		}
		dist, sums = distAcc{}, [4]uint64{}
	}
	for rows.Next() {
		if err := rows.Scan(&rowid, &id, &addr, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &resp); err != nil {
			bad = append(bad, badRow{"windows", rowid, err})
			continue
		}
		if id != cur.id {
			flush()
			host, udp := strings.CutSuffix(addr, "/udp") // transport: see ServerAddr
			ap, err := netip.ParseAddrPort(host)
			cur, curBadAddr = serverKey{id: id, addr: ap, udp: udp}, err != nil
		}
		if slices.Min(n[:]) < 0 {
			bad = append(bad, badRow{"windows", rowid, fmt.Errorf("stored negative counter in %v", n)})
			continue
		}
		if err := dist.add(resp); err != nil && !errors.Is(err, window.ErrOverflow) {
			bad = append(bad, badRow{"windows", rowid, fmt.Errorf("stored response_time: %w", err)})
			continue
		}
		for i, v := range []uint64{uint64(n[0]), uint64(n[1]), uint64(n[2]) + uint64(n[3]), uint64(n[4]) + uint64(n[5])} {
			sums[i] = satAdd(sums[i], v)
		}
	}
	flush()
	return h, matched, bad, rows.Err()
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// serverSummary reads one server's rows in [from, to) in full.
func (db *DB) serverSummary(ctx context.Context, k serverKey, from, to time.Time, names map[int64]string) (ServerSummary, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT rowid, start, sensor, "+dataCols+
		" FROM windows WHERE server = ? AND start >= ? AND start < ?", k.id, from.Unix(), to.Unix())
	if err != nil {
		return ServerSummary{}, err
	}
	defer rows.Close()
	a := &serverAgg{sensors: map[string]bool{}, spark: map[int64]*sparkAgg{}}
	a.sum.Server = k.addr
	if k.udp {
		a.sum.Transport = "udp"
	}
	var (
		rowid, start, sensor int64
		s                    rowScan
		bad                  []badRow
	)
	dest := append([]any{&rowid, &start, &sensor}, s.dests()...)
	for rows.Next() {
		err := rows.Scan(dest...)
		if err == nil {
			err = s.check()
		}
		if err != nil {
			bad = append(bad, badRow{"windows", rowid, err})
			continue
		}
		a.add(start, names[sensor], &s)
	}
	if err := rows.Err(); err != nil {
		return ServerSummary{}, err
	}
	rows.Close()
	db.skipped(ctx, bad)
	return a.summary()
}

// ServerSensors returns the names of the sensors that reported addr over
// transport ("" or "tcp", "udp") in [from, to), sorted.
func (db *DB) ServerSensors(ctx context.Context, addr netip.AddrPort, transport string, from, to time.Time) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT n.name FROM windows w JOIN servers s ON s.id = w.server
		JOIN sensors n ON n.id = w.sensor WHERE s.addr = ? AND w.start >= ? AND w.start < ? ORDER BY n.name`,
		ServerAddr(&window.Summary{Server: addr, Transport: transport}), from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("sensors of %s: %w", addr, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sensors of %s: %w", addr, err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
