package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost // hashing at the default cost would dominate the run
	os.Exit(m.Run())
}

// t0 is a window-aligned packet time well in the past.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "pastmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// truth is what a test fed in: counters and every raw value per metric.
type truth struct {
	window.Counters
	vals [window.NumMetrics][]float64
}

func (tr *truth) add(o *truth) {
	tr.Counters.Add(&o.Counters)
	for i := range tr.vals {
		tr.vals[i] = append(tr.vals[i], o.vals[i]...)
	}
}

// gen makes synthetic summaries from raw values it remembers.
type gen struct{ rng *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, 1))} }

// summary makes a window with n values per metric (log-normal around a
// metric-specific median) and random counters.
func (g *gen) summary(server netip.AddrPort, start time.Time, n int) (window.Summary, truth) {
	s := window.Summary{Server: server, Start: start}
	var tr truth
	for m := range s.Metrics {
		median := 200.0 * float64(m+1)
		k := n + g.rng.IntN(n+1) - n/2
		if m == int(window.TransferTime) && g.rng.IntN(4) == 0 {
			k = 0 // some windows lack a metric
		}
		for range k {
			v := math.Round(median*math.Exp(g.rng.NormFloat64()*0.8)*1000) / 1000
			s.Metrics[m].Add(v)
			tr.vals[m] = append(tr.vals[m], v)
		}
	}
	for _, p := range counterPtrs(&s.Counters) {
		*p = uint64(g.rng.IntN(1000))
	}
	tr.Counters = s.Counters
	return s, tr
}

func addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(8000+i%3))
}

func batch(id, sensor string, sums ...window.Summary) *window.Batch {
	return &window.Batch{ID: id, Sensor: window.SensorInfo{Name: sensor, Version: "test"}, Summaries: sums}
}

func mustIngest(t testing.TB, db *DB, b *window.Batch, now time.Time) {
	t.Helper()
	dup, err := db.Ingest(context.Background(), b, now)
	if err != nil {
		t.Fatal(err)
	}
	if dup {
		t.Fatalf("batch %s: unexpected duplicate", b.ID)
	}
}

// trueQuantile is the value at rank floor(q·(n−1)) of the sorted values,
// the rank DDSketch estimates.
func trueQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

// checkDist compares a stored distribution with the raw values: count, min
// and max exactly, the sum up to float rounding, quantiles within 2%.
func checkDist(t testing.TB, label string, d *window.Dist, vals []float64) {
	t.Helper()
	if d.Count != uint64(len(vals)) {
		t.Errorf("%s: count %d, want %d", label, d.Count, len(vals))
		return
	}
	if len(vals) == 0 {
		return
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	var sum float64
	for _, v := range vals {
		sum += v
	}
	if d.Min != sorted[0] || d.Max != sorted[len(sorted)-1] {
		t.Errorf("%s: min/max %v/%v, want %v/%v", label, d.Min, d.Max, sorted[0], sorted[len(sorted)-1])
	}
	if math.Abs(d.Sum-sum) > 1e-9*sum {
		t.Errorf("%s: sum %v, want %v", label, d.Sum, sum)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, want := d.Quantile(q), trueQuantile(sorted, q)
		if math.Abs(got-want) > 0.02*want {
			t.Errorf("%s: p%g = %v, want %v ± 2%%", label, q*100, got, want)
		}
	}
}

func checkCounters(t testing.TB, label string, got, want window.Counters) {
	t.Helper()
	if got != want {
		t.Errorf("%s: counters\n got %+v\nwant %+v", label, got, want)
	}
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(server netip.AddrPort, t time.Time) string { return fmt.Sprintf("%s@%d", server, t.Unix()) }

// part is a decoded window row (tests only).
type part struct {
	window.Counters
	Metrics window.Metrics
}

func (p *part) merge(o *part) {
	p.Counters.Add(&o.Counters)
	for i := range p.Metrics {
		p.Metrics[i].Merge(&o.Metrics[i])
	}
}

func (s *rowScan) part() (part, error) {
	p := part{Counters: s.counts()}
	for i := range p.Metrics {
		d, err := decodeDist(s.blobs[i])
		if err != nil {
			return p, err
		}
		p.Metrics[i] = d
	}
	return p, nil
}
