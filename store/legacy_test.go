package store

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// The files under testdata/legacy were written by pastmon before the
// sketches' bins became Prometheus's schema 5 (the 1%-accuracy DDSketch
// mapping over microseconds): a database (schema 2, 5-minute rows and
// hourly rollups) and a sensor spool. Their values are legacyValues, which
// the migration test recomputes.

// legacy layout: servers 1 and 2 seen by sensors s1 and s2 over two hours
// from t0, rolled up; the spool holds server 3's next hour.
const (
	legacyWindows     = 24
	legacySpoolServer = 3
)

var legacySensors = []string{"s1", "s2"}

// legacyValues are the timings of one window of one server, sensor and
// metric: a deterministic log-uniform spread over four decades with a slow
// tail, rounded to the nanosecond. It depends on nothing but its arguments.
func legacyValues(server, sensor, win int, m window.Metric) []float64 {
	h := splitmix(uint64(server)<<48 | uint64(sensor)<<40 | uint64(win)<<8 | uint64(m))
	n := 40 + int(h%40)
	if m == window.TransferTime && h%5 == 0 {
		return nil // some windows lack a metric
	}
	vals := make([]float64, n)
	median := 150.0 * float64(m+1) * float64(server)
	for i := range vals {
		h = splitmix(h)
		u := float64(h>>11) / (1 << 53)
		v := median * math.Pow(10, 2*(u-0.5))
		if h%17 == 0 {
			v *= 40 // the tail
		}
		vals[i] = math.Round(v*1000) / 1000
	}
	return vals
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// legacySummary is the window of server and sensor (0 for the spool) win
// windows after t0, with every value of legacyValues.
func legacySummary(server, sensor, win int) window.Summary {
	s := window.Summary{
		Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(server)}), 5432),
		Start:  t0.Add(time.Duration(win) * window.Width),
	}
	for m := range s.Metrics {
		for _, v := range legacyValues(server, sensor, win, window.Metric(m)) {
			s.Metrics[m].Add(v)
		}
	}
	s.Transactions = s.Metrics[window.ResponseTime].Count
	s.Connections = s.Metrics[window.ConnectTime].Count
	s.Established = s.Connections
	return s
}

// copyFixture copies testdata/legacy/name into a temporary directory.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "legacy", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// legacyTruth collects what legacySummary fed in.
type legacyTruth map[int64]map[window.Metric][]float64 // window start → values

func (lt legacyTruth) add(server, sensor, win int, step time.Duration) {
	start := t0.Add(time.Duration(win) * window.Width).Truncate(step).Unix()
	if lt[start] == nil {
		lt[start] = map[window.Metric][]float64{}
	}
	for m := range window.NumMetrics {
		lt[start][m] = append(lt[start][m], legacyValues(server, sensor, win, m)...)
	}
}

// legacyChecks counts the quantiles TestLegacyFixtures compared and how
// many were more than 2% off. A legacy bin (2% wide) goes whole to the
// schema-5 bin of its own value, so a value ends at most 1% + 1.08%
// (2.1%) off: legacyTolerance bounds every quantile, and at most 1% of
// them may be over 2%.
var legacyChecks struct{ n, over int }

const legacyTolerance = 0.0211

func checkLegacyDist(t *testing.T, label string, d *window.Dist, vals []float64) {
	t.Helper()
	if d.Count != uint64(len(vals)) {
		t.Errorf("%s: count %d, want %d", label, d.Count, len(vals))
		return
	}
	if len(vals) == 0 {
		return
	}
	sorted := slices.Sorted(slices.Values(vals))
	if d.Min != sorted[0] || d.Max != sorted[len(sorted)-1] {
		t.Errorf("%s: min/max %v/%v, want %v/%v", label, d.Min, d.Max, sorted[0], sorted[len(sorted)-1])
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, want := d.Quantile(q), trueQuantile(sorted, q)
		legacyChecks.n++
		if math.Abs(got-want) > 0.02*want {
			legacyChecks.over++
		}
		if math.Abs(got-want) > legacyTolerance*want {
			t.Errorf("%s: p%g = %v, want %v ± %.1f%%", label, q*100, got, want, 100*legacyTolerance)
		}
	}
}

func checkLegacySeries(t *testing.T, db *DB, label string, server int, from, to time.Time, want legacyTruth) {
	t.Helper()
	for m := range window.NumMetrics {
		s := series(t, db, SeriesQuery{Server: legacySummary(server, 0, 0).Server, Metric: m, From: from, To: to})
		n := 0
		for _, p := range s.Points {
			if vals := want[p.T.Unix()][m]; len(vals) > 0 {
				n++
			}
			checkLegacyDist(t, fmt.Sprintf("%s %s @%s", label, m, p.T.Format(time.TimeOnly)), &p.Dist, want[p.T.Unix()][m])
		}
		if n == 0 {
			t.Fatalf("%s %s: no points", label, m)
		}
	}
}

// TestLegacyFixtures opens the database and the spool that the code
// before the schema 5 bins wrote, and checks that their distributions are
// read (5-minute rows and hourly rollups), merged with new ones in the
// same rows, rolled up and delivered from the spool, every quantile within
// 2% of the values they hold.
func TestLegacyFixtures(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, copyFixture(t, "pastmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	end := t0.Add(legacyWindows * window.Width)
	fine, fine2, hourly := legacyTruth{}, legacyTruth{}, legacyTruth{}
	for sn := range legacySensors {
		for w := range legacyWindows {
			fine.add(1, sn+1, w, window.Width)
			fine2.add(2, sn+1, w, window.Width)
			hourly.add(1, sn+1, w, time.Hour)
		}
	}
	checkLegacySeries(t, db, "legacy 5-minute", 1, t0, end, fine)
	checkLegacySeries(t, db, "legacy 5-minute", 2, t0, end, fine2)
	// A range over 2 days is served from the hourly rollups.
	checkLegacySeries(t, db, "legacy hourly", 1, t0.Add(-47*time.Hour), end, hourly)

	// New windows merge into the legacy rows, 5-minute and hourly.
	var sums []window.Summary
	for w := range legacyWindows {
		sums = append(sums, legacySummary(1, 7, w))
		fine.add(1, 7, w, window.Width)
		hourly.add(1, 7, w, time.Hour)
	}
	mustIngest(t, db, batch("new-s1", "s1", sums...), end)
	checkLegacySeries(t, db, "mixed 5-minute", 1, t0, end, fine)
	checkLegacySeries(t, db, "mixed hourly", 1, t0.Add(-47*time.Hour), end, hourly)
	list, err := db.Servers(ctx, t0, end)
	if err != nil {
		t.Fatal(err)
	}
	all := legacyTruth{}
	for sn := range legacySensors {
		for w := range legacyWindows {
			all.add(1, sn+1, w, 24*time.Hour)
		}
	}
	for w := range legacyWindows {
		all.add(1, 7, w, 24*time.Hour)
	}
	for i := range list {
		if list[i].Server == legacySummary(1, 0, 0).Server {
			for m := range window.NumMetrics {
				checkLegacyDist(t, "servers "+m.String(), &list[i].Metrics[m], all[t0.Truncate(24*time.Hour).Unix()][m])
			}
		}
	}

	// The spool's legacy windows are delivered, stored and rolled up.
	sp, err := OpenSpool(ctx, copyFixture(t, "sensor-spool.db"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	id, spooled, err := sp.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spoolFine, spoolHour := legacyTruth{}, legacyTruth{}
	for w := legacyWindows; w < legacyWindows+12; w++ {
		spoolFine.add(legacySpoolServer, 0, w, window.Width)
		spoolHour.add(legacySpoolServer, 0, w, time.Hour)
	}
	if len(spooled) != 12 {
		t.Fatalf("spool holds %d windows, want 12", len(spooled))
	}
	for _, s := range spooled {
		for m := range window.NumMetrics {
			checkLegacyDist(t, "spooled "+m.String(), &s.Metrics[m], spoolFine[s.Start.Unix()][m])
		}
	}
	mustIngest(t, db, batch(id, "s1", spooled...), end.Add(time.Hour))
	if err := sp.Ack(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := db.Maintain(ctx, end.Add(2*time.Hour), 0, 0); err != nil {
		t.Fatal(err)
	}
	spoolEnd := end.Add(time.Hour)
	checkLegacySeries(t, db, "spooled 5-minute", legacySpoolServer, end, spoolEnd, spoolFine)
	checkLegacySeries(t, db, "spooled hourly", legacySpoolServer, spoolEnd.Add(-49*time.Hour), spoolEnd, spoolHour)
	t.Logf("%d of %d quantiles more than 2%% off", legacyChecks.over, legacyChecks.n)
	if legacyChecks.over*100 > legacyChecks.n {
		t.Errorf("%d of %d quantiles more than 2%% off", legacyChecks.over, legacyChecks.n)
	}
}
