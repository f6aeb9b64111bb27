package store

import (
	"context"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
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

var writeLegacy = flag.Bool("write-legacy", false, "write testdata/legacy with this code (only the code before the schema 5 bins may)")

func TestWriteLegacyFixtures(t *testing.T) {
	if !*writeLegacy {
		t.Skip("-write-legacy not given")
	}
	ctx := context.Background()
	dir := filepath.Join("testdata", "legacy")
	for _, f := range []string{"pastmon.db", "sensor-spool.db"} {
		os.Remove(filepath.Join(dir, f))
	}
	db, err := Open(ctx, filepath.Join(dir, "pastmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	for sn, name := range legacySensors {
		var sums []window.Summary
		for server := 1; server <= 2; server++ {
			for w := range legacyWindows {
				sums = append(sums, legacySummary(server, sn+1, w))
			}
		}
		b := window.Batch{ID: "legacy-" + name, Sensor: window.SensorInfo{Name: name, Version: "legacy"}, Summaries: sums}
		if _, err := db.Ingest(ctx, &b, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Maintain(ctx, t0.Add(2*time.Hour+10*time.Minute), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sp, err := OpenSpool(ctx, filepath.Join(dir, "sensor-spool.db"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var sums []window.Summary
	for w := legacyWindows; w < legacyWindows+12; w++ {
		sums = append(sums, legacySummary(legacySpoolServer, 0, w))
	}
	if err := sp.Put(ctx, sums); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}
