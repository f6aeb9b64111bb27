package store

// The benchmarks run against a database of benchServers servers ×
// benchSensors sensors × PASTMON_BENCH_DAYS days (default 30) of 5-minute
// windows plus their hourly rollups, built once with bulk inserts (one
// transaction per day) and kept at PASTMON_BENCH_DB (default in the
// temporary directory) for later runs:
//
//	go test -run '^$' -bench . -benchtime 200x -timeout 3h ./store/
//
// The build logs its own timing (run with -v to see it).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

const (
	benchServers = 1000
	benchSensors = 3
	benchPool    = 64 // distinct window contents, reused round robin
	benchValues  = 20 // values per metric per window and sensor
)

// benchEnd is the end of the benchmark data (exclusive).
var benchEnd = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func benchDays(tb testing.TB) int {
	days := 30
	if s := os.Getenv("PASTMON_BENCH_DAYS"); s != "" {
		var err error
		if days, err = strconv.Atoi(s); err != nil || days < 1 {
			tb.Fatalf("PASTMON_BENCH_DAYS=%q: want a positive number", s)
		}
	}
	return days
}

// benchDB opens the benchmark database, building it when needed.
func benchDB(b *testing.B) (*DB, int) {
	b.Helper()
	days := benchDays(b)
	path := os.Getenv("PASTMON_BENCH_DB")
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("pastmon-bench-%dd.db", days))
	}
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	var built int
	if err := db.w.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'bench_built'").Scan(&built); err != nil {
		db.Close()
		b.Fatal(err)
	}
	if built == 0 {
		// A build that did not finish (interrupted, or failed) leaves its
		// servers behind: start again from an empty file.
		db.Close()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				b.Fatal(err)
			}
		}
		if db, err = Open(ctx, path); err != nil {
			b.Fatal(err)
		}
		if err := buildBench(ctx, b, db, days); err != nil {
			db.Close()
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { db.Close() })
	return db, days
}

func buildBench(ctx context.Context, b *testing.B, db *DB, days int) error {
	g := newGen(42)
	var fine, hourly [benchPool][]any
	for i := range fine {
		var h rowAcc
		for range 12 {
			s, _ := g.summary(addr(1), t0, benchValues)
			e, _ := encodeSummary(&s)
			if err := h.addEncoded(&e); err != nil {
				return err
			}
			if fine[i] == nil {
				a, err := e.args()
				if err != nil {
					return err
				}
				fine[i] = a
			}
		}
		e, _ := h.encoded()
		a, err := e.args()
		if err != nil {
			return err
		}
		hourly[i] = a
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA cache_size = -1000000"); err != nil {
		return err
	}
	defer db.w.ExecContext(ctx, "PRAGMA cache_size = -65536")
	if err := benchIDs(ctx, db); err != nil {
		return err
	}
	start := benchEnd.Add(-time.Duration(days) * 24 * time.Hour)
	began := time.Now()
	for d := range days {
		t := time.Now()
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		if err := benchDay(ctx, db, day, fine, hourly); err != nil {
			return fmt.Errorf("day %d: %w", d, err)
		}
		rows := 288 * benchServers * benchSensors
		b.Logf("bench db: day %d/%d: %d window rows + %d hourly rows in %s (%.0f window rows/s)",
			d+1, days, rows, rows/12, time.Since(t).Round(time.Millisecond), float64(rows)/time.Since(t).Seconds())
	}
	if _, err := db.w.ExecContext(ctx, "UPDATE rollup SET hour = ?, server = 0", benchEnd.Unix()); err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, "CREATE TABLE bench_built (days INTEGER); PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	size, _ := db.Size(ctx)
	b.Logf("bench db: %d days built in %s, %.1f GB", days, time.Since(began).Round(time.Second), float64(size)/1e9)
	return nil
}

func benchIDs(ctx context.Context, db *DB) error {
	for i := range benchServers {
		if _, err := db.w.ExecContext(ctx, "INSERT INTO servers (id, addr) VALUES (?, ?)", i+1, addr(i).String()); err != nil {
			return err
		}
	}
	for i := range benchSensors {
		if _, err := db.w.ExecContext(ctx, "INSERT INTO sensors (id, name, first_seen, last_seen) VALUES (?, ?, 0, 0)", i+1, fmt.Sprintf("sensor-%d", i)); err != nil {
			return err
		}
	}
	return nil
}

// benchDay inserts one day of 5-minute rows and hourly rows in one
// transaction, in arrival order (time, then server, then sensor).
func benchDay(ctx context.Context, db *DB, day time.Time, fine, hourly [benchPool][]any) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins := func(table string) (*sql.Stmt, error) {
		return tx.PrepareContext(ctx, "INSERT INTO "+table+" (server, start, sensor, "+dataCols+
			") VALUES (?, ?, ?"+dataHoles+")")
	}
	w, err := ins("windows")
	if err != nil {
		return err
	}
	h, err := ins("hours")
	if err != nil {
		return err
	}
	k := 0
	for step := range 288 {
		t := day.Add(time.Duration(step) * window.Width).Unix()
		for server := 1; server <= benchServers; server++ {
			for sensor := 1; sensor <= benchSensors; sensor++ {
				k++
				if _, err := w.ExecContext(ctx, append([]any{server, t, sensor}, fine[k%benchPool]...)...); err != nil {
					return err
				}
				if step%12 == 11 {
					if _, err := h.ExecContext(ctx, append([]any{server, hourOf(t), sensor}, hourly[k%benchPool]...)...); err != nil {
						return err
					}
				}
			}
		}
	}
	return tx.Commit()
}

// cpuTime is the CPU time (user + system) the process has used: on a
// shared machine it says what an operation costs better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration, n int) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/1000/float64(n), "cpu-ms/op")
}

// latencies reports p50 and p99 of the recorded durations.
func latencies(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, "max-ms")
}

func BenchmarkSeries(b *testing.B) {
	db, days := benchDB(b)
	ctx := context.Background()
	for _, r := range []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		if r > time.Duration(days)*24*time.Hour {
			continue
		}
		b.Run(r.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var d []time.Duration
			points := 0
			cpu := cpuTime()
			for b.Loop() {
				q := SeriesQuery{Server: addr(rng.IntN(benchServers)), Metric: window.Metric(rng.IntN(int(window.NumMetrics))), From: benchEnd.Add(-r), To: benchEnd}
				t := time.Now()
				s, err := db.Series(ctx, q)
				d = append(d, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				points = len(s.Points)
			}
			reportCPU(b, cpu, len(d))
			latencies(b, d)
			b.ReportMetric(float64(points), "points")
		})
	}
}

func BenchmarkServers(b *testing.B) {
	db, _ := benchDB(b)
	ctx := context.Background()
	var d []time.Duration
	n := 0
	cpu := cpuTime()
	for b.Loop() {
		t := time.Now()
		s, err := db.Servers(ctx, benchEnd.Add(-time.Hour), benchEnd)
		d = append(d, time.Since(t))
		if err != nil {
			b.Fatal(err)
		}
		n = len(s)
	}
	reportCPU(b, cpu, len(d))
	latencies(b, d)
	b.ReportMetric(float64(n), "servers")
}

// BenchmarkServersFiltered lists the last hour's servers filtered by q:
// one that every server matches through a sensor's name, one that none
// matches (address, ports, sensors and protocols all read).
func BenchmarkServersFiltered(b *testing.B) {
	db, _ := benchDB(b)
	for _, q := range []string{"sensor-0", "no-such-server"} {
		b.Run(q, func(b *testing.B) {
			var d []time.Duration
			cpu := cpuTime()
			n := 0
			for b.Loop() {
				t := time.Now()
				l, err := db.ServerList(b.Context(), ServersQuery{From: benchEnd.Add(-time.Hour), To: benchEnd, Q: q, QPorts: []uint16{443}, Limit: 100})
				d = append(d, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				n = l.Matched
			}
			reportCPU(b, cpu, len(d))
			latencies(b, d)
			b.ReportMetric(float64(n), "matched")
		})
	}
}

// BenchmarkIngest sends batches of 1,000 windows (one window of 1,000
// servers) through Ingest into the benchmark database, after its data,
// and removes them afterwards.
func BenchmarkIngest(b *testing.B) {
	db, _ := benchDB(b)
	ctx := context.Background()
	g := newGen(43)
	var pool [benchPool]window.Summary
	for i := range pool {
		pool[i], _ = g.summary(addr(0), t0, benchValues)
	}
	b.Cleanup(func() {
		for _, table := range []string{"windows", "hours"} {
			if err := db.deleteOld(ctx, table, "rowid", "-start", -benchEnd.Unix()+1); err != nil {
				b.Error(err)
			}
		}
	})
	sums := make([]window.Summary, benchServers)
	n, windows := 0, 0
	var elapsed, cpu time.Duration
	for b.Loop() {
		start := benchEnd.Add(time.Duration(n/benchSensors) * window.Width)
		for i := range sums {
			sums[i] = pool[(n+i)%benchPool]
			sums[i].Server, sums[i].Start = addr(i), start
		}
		bt := batch(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), n), fmt.Sprintf("sensor-%d", n%benchSensors), sums...)
		t, c := time.Now(), cpuTime()
		if _, err := db.Ingest(ctx, bt, start.Add(window.Width)); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t)
		cpu += cpuTime() - c
		windows += len(sums)
		n++
	}
	b.ReportMetric(float64(windows)/elapsed.Seconds(), "windows/s")
	b.ReportMetric(float64(windows)/cpu.Seconds(), "windows/cpu-s")
}

// BenchmarkRollupHour rolls up one hour of 1,000 servers × 3 sensors
// (36,000 window rows) into hourly rows, in a fresh database each time,
// and reports the longest single rollup transaction: how long ingest may
// wait for the writer.
func BenchmarkRollupHour(b *testing.B) {
	ctx := context.Background()
	g := newGen(44)
	var pool [benchPool][]any
	for i := range pool {
		s, _ := g.summary(addr(0), t0, benchValues)
		e, _ := encodeSummary(&s)
		a, err := e.args()
		if err != nil {
			b.Fatal(err)
		}
		pool[i] = a
	}
	var longest, total, cpu time.Duration
	for range b.N {
		b.StopTimer()
		db, err := Open(ctx, filepath.Join(b.TempDir(), "pastmon.db"))
		if err != nil {
			b.Fatal(err)
		}
		if err := benchIDs(ctx, db); err != nil {
			b.Fatal(err)
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for w := range 12 {
			for server := 1; server <= benchServers; server++ {
				for sensor := 1; sensor <= benchSensors; sensor++ {
					e := pool[(w+server+sensor)%benchPool]
					_, err := tx.Exec("INSERT INTO windows (server, start, sensor, "+dataCols+") VALUES (?, ?, ?"+
						strings.Repeat(", ?", len(counterCols)+len(metricCols))+")",
						append([]any{server, t0.Add(time.Duration(w) * window.Width).Unix(), sensor}, e...)...)
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c := cpuTime()
		limit := t0.Unix() + 3600
		for {
			t := time.Now()
			done, err := db.rollupStep(ctx, limit)
			d := time.Since(t)
			if err != nil {
				b.Fatal(err)
			}
			total += d
			longest = max(longest, d)
			if done {
				break
			}
		}
		cpu += cpuTime() - c
		b.StopTimer()
		db.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/hour")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/hour")
	b.ReportMetric(float64(longest.Microseconds())/1000, "longest-tx-ms")
}
