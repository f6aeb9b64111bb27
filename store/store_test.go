package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// feed ingests windows of servers from sensors over [t0, t0+hours) and
// returns the truth per server per 5-minute window (all sensors merged)
// and per sensor.
type fed struct {
	merged    map[string]*truth // key(server, start)
	perSensor map[string]*truth // sensor + key
}

func feed(t *testing.T, db *DB, g *gen, sensors []string, servers []netip.AddrPort, hours int, now time.Time) fed {
	t.Helper()
	f := fed{merged: map[string]*truth{}, perSensor: map[string]*truth{}}
	for si, sensor := range sensors {
		var sums []window.Summary
		for _, srv := range servers {
			for w := range hours * 12 {
				start := t0.Add(time.Duration(w) * window.Width)
				if (w+si)%7 == 3 {
					continue // not every sensor sees every window
				}
				s, tr := g.summary(srv, start, 20)
				sums = append(sums, s)
				k := key(srv, start)
				if f.merged[k] == nil {
					f.merged[k] = &truth{}
				}
				f.merged[k].add(&tr)
				f.perSensor[sensor+k] = &tr
			}
		}
		mustIngest(t, db, batch(fmt.Sprintf("b-%s", sensor), sensor, sums...), now)
	}
	return f
}

func series(t *testing.T, db *DB, q SeriesQuery) Series {
	t.Helper()
	s, err := db.Series(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSeries compares a series with the truth merged into steps.
func checkSeries(t *testing.T, label string, got Series, want map[int64]*truth, m window.Metric) {
	t.Helper()
	if len(got.Points) != len(want) {
		t.Fatalf("%s: %d points, want %d", label, len(got.Points), len(want))
	}
	for i, p := range got.Points {
		if i > 0 && !p.T.After(got.Points[i-1].T) {
			t.Errorf("%s: points out of order at %d", label, i)
		}
		w := want[p.T.Unix()]
		if w == nil {
			t.Fatalf("%s: unexpected point at %s", label, p.T)
		}
		l := fmt.Sprintf("%s at %s", label, p.T.Format(time.RFC3339))
		checkCounters(t, l, p.Counters, w.Counters)
		checkDist(t, l, &p.Dist, w.vals[m])
	}
}

// steps merges the truth of one server (and sensor prefix) into steps.
func steps(f map[string]*truth, prefix string, server netip.AddrPort, hours int, step time.Duration) map[int64]*truth {
	out := map[int64]*truth{}
	for w := range hours * 12 {
		start := t0.Add(time.Duration(w) * window.Width)
		tr := f[prefix+key(server, start)]
		if tr == nil {
			continue
		}
		k := start.Truncate(step).Unix()
		if out[k] == nil {
			out[k] = &truth{}
		}
		out[k].add(tr)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	sensors := []string{"alpha", "bravo", "charlie"}
	servers := []netip.AddrPort{addr(1), addr(2)}
	const hours = 3
	now := t0.Add(hours * time.Hour)
	f := feed(t, db, newGen(1), sensors, servers, hours, now)

	fine := SeriesQuery{From: t0, To: t0.Add(hours * time.Hour)}
	long := SeriesQuery{From: t0.Add(-5 * 24 * time.Hour), To: t0.Add(hours * time.Hour)}
	check := func(stage string) {
		for _, srv := range servers {
			for _, m := range []window.Metric{window.RTT, window.ResponseTime, window.TransferTime} {
				q := fine
				q.Server, q.Metric = srv, m
				s := series(t, db, q)
				if s.Step != window.Width {
					t.Fatalf("step %s, want 5m", s.Step)
				}
				checkSeries(t, stage+" 5m merged "+srv.String()+" "+m.String(), s, steps(f.merged, "", srv, hours, window.Width), m)
				q.Sensor = "bravo"
				checkSeries(t, stage+" 5m bravo "+srv.String(), series(t, db, q), steps(f.perSensor, "bravo", srv, hours, window.Width), m)
				q = long
				q.Server, q.Metric = srv, m
				s = series(t, db, q)
				if s.Step != time.Hour {
					t.Fatalf("step %s over 5 days, want 1h", s.Step)
				}
				checkSeries(t, stage+" hourly merged "+srv.String()+" "+m.String(), s, steps(f.merged, "", srv, hours, time.Hour), m)
				q.Sensor = "charlie"
				checkSeries(t, stage+" hourly charlie "+srv.String(), series(t, db, q), steps(f.perSensor, "charlie", srv, hours, time.Hour), m)
			}
		}
	}
	check("before rollup")
	if err := db.Maintain(ctx, now.Add(10*time.Minute), 0, 0); err != nil {
		t.Fatal(err)
	}
	var hourly int
	if err := db.r.QueryRow("SELECT count(*) FROM hours").Scan(&hourly); err != nil {
		t.Fatal(err)
	}
	if want := len(servers) * len(sensors) * hours; hourly != want {
		t.Fatalf("%d hourly rows, want %d", hourly, want)
	}
	check("after rollup")
	// Once the 5-minute rows are gone, the hourly series still holds everything.
	if err := db.Maintain(ctx, now.Add(10*time.Minute), time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	for _, srv := range servers {
		for _, q := range []SeriesQuery{long, fine} {
			q.Server, q.Metric = srv, window.ConnectTime
			s := series(t, db, q)
			if s.Step != time.Hour {
				t.Errorf("step %s once 5-minute rows are gone, want 1h", s.Step)
			}
			checkSeries(t, "after retention "+srv.String(), s, steps(f.merged, "", srv, hours, time.Hour), window.ConnectTime)
		}
	}
}

func TestServers(t *testing.T) {
	db := openTest(t)
	sensors := []string{"alpha", "bravo", "charlie"}
	servers := []netip.AddrPort{addr(3), addr(1), addr(2)}
	now := t0.Add(2 * time.Hour)
	f := feed(t, db, newGen(2), sensors, servers, 2, now)
	from, to := t0.Add(time.Hour), t0.Add(2*time.Hour)
	got, err := db.Servers(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(servers)
	slices.SortFunc(want, netip.AddrPort.Compare)
	if len(got) != len(want) {
		t.Fatalf("%d servers, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.Server != want[i] {
			t.Fatalf("server %d is %s, want %s", i, s.Server, want[i])
		}
		if !slices.Equal(s.Sensors, sensors) {
			t.Errorf("%s: sensors %v, want %v", s.Server, s.Sensors, sensors)
		}
		var all truth
		var last time.Time
		var spark []SparkPoint
		for st := from; st.Before(to); st = st.Add(window.Width) {
			tr := f.merged[key(s.Server, st)]
			if tr == nil {
				continue
			}
			all.add(tr)
			last = st
			spark = append(spark, SparkPoint{T: st, RTTAvg: mean(tr.vals[window.RTT]), ResponseAvg: mean(tr.vals[window.ResponseTime]), Connections: tr.Connections})
		}
		checkCounters(t, s.Server.String(), s.Counters, all.Counters)
		for m := range s.Metrics {
			checkDist(t, s.Server.String()+" "+window.Metric(m).String(), &s.Metrics[m], all.vals[m])
		}
		if !s.LastSeen.Equal(last) {
			t.Errorf("%s: last seen %s, want %s", s.Server, s.LastSeen, last)
		}
		if len(s.Spark) != len(spark) {
			t.Fatalf("%s: %d spark points, want %d", s.Server, len(s.Spark), len(spark))
		}
		for j, p := range s.Spark {
			w := spark[j]
			if !p.T.Equal(w.T) || p.Connections != w.Connections || !near(p.RTTAvg, w.RTTAvg) || !near(p.ResponseAvg, w.ResponseAvg) {
				t.Errorf("%s: spark[%d] = %+v, want %+v", s.Server, j, p, w)
			}
		}
	}
	none, err := db.Servers(context.Background(), t0.Add(-time.Hour), t0)
	if err != nil || len(none) != 0 {
		t.Fatalf("servers before any data: %d, %v", len(none), err)
	}
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Abs(b)
}

func TestIdempotent(t *testing.T) {
	db := openTest(t)
	g := newGen(3)
	s, tr := g.summary(addr(1), t0, 10)
	b := batch("once", "alpha", s)
	mustIngest(t, db, b, t0)
	for range 2 {
		dup, err := db.Ingest(context.Background(), b, t0)
		if err != nil || !dup {
			t.Fatalf("same batch again: duplicate=%v err=%v, want true, nil", dup, err)
		}
	}
	got := series(t, db, SeriesQuery{Server: addr(1), Metric: window.RTT, From: t0, To: t0.Add(time.Hour)})
	checkSeries(t, "after duplicates", got, map[int64]*truth{t0.Unix(): &tr}, window.RTT)
	if st := db.Stats(); st != (IngestStats{Batches: 1, Windows: 1, Duplicates: 2}) {
		t.Errorf("stats %+v", st)
	}
}

func TestAtomic(t *testing.T) {
	g := newGen(4)
	good1, _ := g.summary(addr(1), t0, 10)
	good2, _ := g.summary(addr(2), t0, 10)
	for _, tc := range []struct {
		name   string
		sums   []window.Summary
		cancel bool
	}{
		{"context cancelled after the 1st window", []window.Summary{good1, good2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				db.afterWindow = func(i int) {
					if i == 0 {
						cancel()
					}
				}
			}
			_, err := db.Ingest(ctx, batch("atomic", "alpha", tc.sums...), t0)
			if err == nil {
				t.Fatal("ingest succeeded, want an error")
			}
			assertEmpty(t, db)
			if db.Stats().Errors != 1 {
				t.Errorf("stats %+v, want 1 error", db.Stats())
			}
			// The id was not recorded: the corrected batch goes in.
			db.afterWindow = nil
			mustIngest(t, db, batch("atomic", "alpha", good1, good2), t0)
		})
	}
}

func assertEmpty(t *testing.T, db *DB) {
	t.Helper()
	for _, table := range []string{"windows", "hours", "servers", "sensors", "batches"} {
		var n int
		if err := db.r.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s has %d rows after a failed batch", table, n)
		}
	}
}

func TestMergeParts(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	g := newGen(5)
	srv := addr(7)
	a, ta := g.summary(srv, t0, 15)
	b, tb := g.summary(srv, t0, 15)
	c, tc := g.summary(srv, t0.Add(window.Width), 15)
	mustIngest(t, db, batch("p1", "alpha", a), t0)
	mustIngest(t, db, batch("p2", "alpha", b, c), t0.Add(time.Hour))
	var whole truth
	whole.add(&ta)
	whole.add(&tb)
	want := map[int64]*truth{t0.Unix(): &whole, c.Start.Unix(): &tc}
	for m := range window.NumMetrics {
		checkSeries(t, "two parts "+m.String(), series(t, db, SeriesQuery{Server: srv, Metric: m, From: t0, To: t0.Add(time.Hour)}), want, m)
	}
	var n int
	if err := db.r.QueryRow("SELECT count(*) FROM windows").Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d window rows (%v), want 2", n, err)
	}

	// A part arriving after its hour was rolled up lands in the hourly row too.
	if err := db.Maintain(ctx, t0.Add(2*time.Hour), 0, 0); err != nil {
		t.Fatal(err)
	}
	late, tl := g.summary(srv, t0.Add(10*window.Width), 15)
	mustIngest(t, db, batch("p3", "alpha", late), t0.Add(2*time.Hour))
	var hour truth
	hour.add(&whole)
	hour.add(&tc)
	hour.add(&tl)
	q := SeriesQuery{Server: srv, Metric: window.RTT, From: t0.Add(-3 * 24 * time.Hour), To: t0.Add(time.Hour)}
	checkSeries(t, "late part", series(t, db, q), map[int64]*truth{t0.Unix(): &hour}, window.RTT)
	// And the rollup reads 5-minute rows only once: it does not add it twice.
	if err := db.Maintain(ctx, t0.Add(3*time.Hour), time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, "late part after retention", series(t, db, q), map[int64]*truth{t0.Unix(): &hour}, window.RTT)
}

func TestRetention(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	g := newGen(6)
	var sums []window.Summary
	for d := range 10 { // one window a day for 10 days
		s, _ := g.summary(addr(1), t0.Add(time.Duration(d)*24*time.Hour), 3)
		sums = append(sums, s)
	}
	now := t0.Add(10 * 24 * time.Hour)
	mustIngest(t, db, batch("r", "alpha", sums...), now)
	count := func(table string) int {
		var n int
		if err := db.r.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// 3.5 days of 5-minute rows keeps the windows of days 7, 8, 9;
	// 6.5 days of hourly rows keeps days 4 to 9.
	if err := db.Maintain(ctx, now, 84*time.Hour, 156*time.Hour); err != nil {
		t.Fatal(err)
	}
	if w, h := count("windows"), count("hours"); w != 3 || h != 6 {
		t.Errorf("after retention: %d windows, %d hours, want 3 and 6", w, h)
	}
	// Batch ids are kept a week.
	if err := db.Maintain(ctx, now.Add(batchIDRetention+time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	if n := count("batches"); n != 0 {
		t.Errorf("%d batch ids left after %s", n, batchIDRetention)
	}
}

func TestMaintainChunks(t *testing.T) {
	// More servers than one rollup transaction handles, ingest between
	// steps, and a cancelled Maintain that the next call completes.
	db := openTest(t)
	ctx := context.Background()
	g := newGen(7)
	var sums []window.Summary
	var all truth
	n := rollupChunk*2 + 17
	for i := range n {
		s, tr := g.summary(addr(i), t0.Add(time.Duration(i%12)*window.Width), 2)
		sums = append(sums, s)
		all.add(&tr)
	}
	mustIngest(t, db, batch("many", "alpha", sums...), t0.Add(time.Hour))
	if _, err := db.rollupStep(ctx, hourOf(t0.Unix())+3600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.rollupStep(ctx, hourOf(t0.Unix())+3600); err != nil {
		t.Fatal(err)
	}
	st, err := readRollup(ctx, db.w)
	if err != nil || st.hour != t0.Unix() || st.server == 0 {
		t.Fatalf("rollup state %+v, %v: want in the middle of the first hour", st, err)
	}
	// A second part of a rolled-up server and of one not rolled up yet.
	extra1, tr1 := g.summary(addr(0), t0, 2)
	extra2, tr2 := g.summary(addr(n-1), t0.Add(time.Duration((n-1)%12)*window.Width), 2)
	mustIngest(t, db, batch("extra", "alpha", extra1, extra2), t0.Add(time.Hour))
	all.add(&tr1)
	all.add(&tr2)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Maintain(cctx, t0.Add(2*time.Hour), 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Maintain: %v", err)
	}
	if err := db.Maintain(ctx, t0.Add(2*time.Hour), 0, 0); err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.Query("SELECT " + dataCols + " FROM hours")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sum part
	var s rowScan
	k := 0
	for rows.Next() {
		if err := rows.Scan(s.dests()...); err != nil {
			t.Fatal(err)
		}
		p, err := s.part()
		if err != nil {
			t.Fatal(err)
		}
		sum.merge(&p)
		k++
	}
	if k != n {
		t.Errorf("%d hourly rows, want %d", k, n)
	}
	checkCounters(t, "hourly total", sum.Counters, all.Counters)
	for m := range sum.Metrics {
		checkDist(t, "hourly total "+window.Metric(m).String(), &sum.Metrics[m], all.vals[m])
	}
}

func TestSensors(t *testing.T) {
	db := openTest(t)
	info := window.SensorInfo{Name: "node-1", Version: "v1", Interfaces: []string{"eth0", "veth1"}, Packets: 10, Drops: 1, Flows: 3, SpoolDepth: 4, SpoolLost: 5}
	mustIngest(t, db, &window.Batch{ID: "h1", Sensor: info}, t0)
	info.Packets, info.Version = 20, "v2"
	mustIngest(t, db, &window.Batch{ID: "h2", Sensor: info}, t0.Add(time.Minute))
	mustIngest(t, db, &window.Batch{ID: "h3", Sensor: window.SensorInfo{Name: "a-node"}}, t0)
	got, err := db.Sensors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a-node" || got[1].Name != "node-1" {
		t.Fatalf("sensors %+v", got)
	}
	s := got[1]
	if !slices.Equal(s.Interfaces, info.Interfaces) || s.Packets != 20 || s.Version != "v2" || s.Drops != 1 || s.Flows != 3 || s.SpoolDepth != 4 || s.SpoolLost != 5 {
		t.Errorf("sensor %+v, want %+v", s.SensorInfo, info)
	}
	if !s.FirstSeen.Equal(t0) || !s.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("first/last seen %s/%s", s.FirstSeen, s.LastSeen)
	}
}

func TestBadInput(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	g := newGen(8)
	s, _ := g.summary(addr(1), t0, 3)
	future := s
	future.Start = t0.Add(window.MaxSkew + window.Width)
	odd := s
	odd.Start = t0.Add(time.Minute)
	for _, b := range []*window.Batch{
		batch("", "alpha", s),
		batch("x", "", s),
	} {
		if _, err := db.Ingest(ctx, b, t0); err == nil {
			t.Errorf("batch %+v accepted", b)
		}
	}
	assertEmpty(t, db)
	for i, w := range []window.Summary{future, odd} {
		res, err := db.IngestWindows(ctx, batch(fmt.Sprint("bad-", i), "alpha", s, w), t0)
		if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || res.Accepted != 1 {
			t.Errorf("window %+v: %+v %v, want it refused alone", w, res, err)
		}
	}
	if _, err := db.Series(ctx, SeriesQuery{Server: addr(1), Metric: window.NumMetrics, From: t0, To: t0.Add(time.Hour)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("series of a bad metric: %v", err)
	}
	got := series(t, db, SeriesQuery{Server: addr(99), Metric: window.RTT, From: t0, To: t0.Add(time.Hour)})
	if len(got.Points) != 0 {
		t.Errorf("unknown server: %d points", len(got.Points))
	}
}

func TestMaintainDuringIngest(t *testing.T) {
	// Sensors keep sending (some windows late, some in parts) while the web
	// node runs Maintain: every value ends up exactly once in the hourly series.
	db := openTest(t)
	ctx := context.Background()
	g := newGen(13)
	servers := []netip.AddrPort{addr(1), addr(2), addr(3)}
	const hours = 4
	type sent struct {
		b  *window.Batch
		tr []truth
	}
	var batches []sent
	for w := range hours * 12 {
		for part := range 2 {
			var sums []window.Summary
			var trs []truth
			for _, srv := range servers {
				// Windows arrive up to 70 minutes late.
				start := t0.Add(time.Duration(max(0, w-(w*7+part*5)%15)) * window.Width)
				s, tr := g.summary(srv, start, 4)
				sums, trs = append(sums, s), append(trs, tr)
			}
			batches = append(batches, sent{batch(fmt.Sprintf("c-%d-%d", w, part), fmt.Sprintf("s%d", part), sums...), trs})
		}
	}
	// One Maintain runs in the background all along; another, in step with
	// the batches, rolls hours up while late windows are still to come.
	stop, done := make(chan struct{}), make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := db.Maintain(ctx, t0.Add(time.Duration(hours)*time.Hour), 0, 0); err != nil {
				done <- err
				return
			}
		}
	}()
	want := map[int64]*truth{}
	for i, s := range batches {
		now := t0.Add(time.Duration(i/2+1) * window.Width)
		mustIngest(t, db, s.b, now)
		if i%4 == 0 {
			if err := db.Maintain(ctx, now, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		for j := range s.tr {
			if s.b.Summaries[j].Server != servers[0] {
				continue
			}
			h := s.b.Summaries[j].Start.Truncate(time.Hour).Unix()
			if want[h] == nil {
				want[h] = &truth{}
			}
			want[h].add(&s.tr[j])
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := db.Maintain(ctx, t0.Add(hours*time.Hour+10*time.Minute), 0, 0); err != nil {
		t.Fatal(err)
	}
	q := SeriesQuery{Server: servers[0], Metric: window.ResponseTime, From: t0.Add(-48 * time.Hour), To: t0.Add(hours * time.Hour)}
	checkSeries(t, "hourly after concurrent maintain", series(t, db, q), want, window.ResponseTime)
	// Dropping the 5-minute rows changes nothing.
	if err := db.Maintain(ctx, t0.Add(hours*time.Hour+10*time.Minute), time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, "hourly rows only", series(t, db, q), want, window.ResponseTime)
}
