package window

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The bins must be exactly Prometheus's schema 5 over seconds (checked
// against client_golang's own native histogram), index must compute them
// exactly, and the sketch must give what a DDSketch with the same bins
// gives: the same quantiles, an encoding ddsketch decodes to the same bins.

// testValues are values in µs around every bin bound and spread widely.
func testValues() []float64 {
	var vals []float64
	for k := minKey - 2; k <= index(math.Ldexp(1, tabMaxExp))+3; k++ {
		b := maxUs(k)
		vals = append(vals, b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1)), b*(1+1e-12), b*(1-1e-12))
	}
	for _, s := range []float64{0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 1024} { // exact bounds
		vals = append(vals, s*1e6)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		vals = append(vals, math.Exp(rng.Float64()*80-20)) // e^-20 … e^60 µs
	}
	return append(vals, math.SmallestNonzeroFloat64, zeroMax, math.Nextafter(zeroMax, 1), 1e-300, 0.5, 1, 2, 1e6, MaxMicros, 2*MaxMicros, 1e20, 1e300, math.MaxFloat64)
}

func TestIndexMatchesDefinition(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		if !(v > zeroMax) || v > maxIndexable {
			return
		}
		if got, want := index(v), slowIndex(v); got != want {
			t.Fatalf("index(%v) = %d, slowIndex = %d", v, got, want)
		}
	}
	for _, v := range testValues() {
		check(v)
	}
	// Every nanosecond count up to 2 ms as microseconds.
	for ns := int64(1); ns <= 2_000_000; ns++ {
		check(float64(ns) / 1e3)
	}
	for p := range idxTab {
		v := math.Float64frombits(uint64(p+tabBias) << (52 - tabSubBits))
		check(v)
		check(math.Nextafter(v, 0))
	}
	// Bounds: bin k's upper bound is 2^(k/32) s, bin 0 holds 1 s.
	for _, tc := range []struct {
		us float64
		k  int
	}{{1e6, 0}, {math.Nextafter(1e6, 2e6), 1}, {2e6, 32}, {5e5, -32}, {math.Nextafter(5e5, 1e6), -31}, {1, -637}} {
		if got := index(tc.us); got != tc.k {
			t.Errorf("index(%v µs) = %d, want %d", tc.us, got, tc.k)
		}
	}
}

// TestBinsArePrometheus observes the same values, in seconds, in a
// client_golang native histogram of schema 5 and in a Dist, and compares
// every bucket.
func TestBinsArePrometheus(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                            "h",
		NativeHistogramBucketFactor:     1.03, // picks schema 5
		NativeHistogramZeroThreshold:    ZeroThreshold,
		NativeHistogramMaxZeroThreshold: ZeroThreshold,
	})
	var d Dist
	for _, v := range testValues() {
		if v > MaxMicros {
			continue
		}
		h.Observe(v / 1e6)
		d.Add(v)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	ph := m.GetHistogram()
	if ph.GetSchema() != Schema || ph.GetZeroThreshold() != ZeroThreshold {
		t.Fatalf("schema %d, zero threshold %v", ph.GetSchema(), ph.GetZeroThreshold())
	}
	bins, zero := d.Bins(nil)
	if ph.GetZeroCount() != zero {
		t.Errorf("zero count %d, Prometheus %d", zero, ph.GetZeroCount())
	}
	want := map[int]uint64{}
	k, n := 0, int64(0)
	deltas := ph.GetPositiveDelta()
	for _, sp := range ph.GetPositiveSpan() {
		k += int(sp.GetOffset())
		for range sp.GetLength() {
			n += deltas[0]
			deltas = deltas[1:]
			if n != 0 {
				want[k] = uint64(n)
			}
			k++
		}
	}
	got := map[int]uint64{}
	for _, b := range bins {
		got[b.Key] = b.Count
		if want := math.Exp2(float64(b.Key)/32) * 1e6; math.Abs(b.Upper-want) > 1e-15*want {
			t.Errorf("upper bound of bin %d = %v µs, want %v", b.Key, b.Upper, want)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d bins, Prometheus %d", len(got), len(want))
	}
	for k, c := range want {
		if got[k] != c {
			t.Fatalf("bin %d holds %d, Prometheus %d", k, got[k], c)
		}
	}
}

// refSketch is a DDSketch with the same bins: what a generic DDSketch
// decoder makes of an encoded sketch.
func refSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketchFromStoreProvider(schemaMapping, store.BufferedPaginatedStoreConstructor)
}

func sameBins(t *testing.T, what string, got *ddsketch.DDSketch, want *ddsketch.DDSketch) {
	t.Helper()
	if got.GetZeroCount() != want.GetZeroCount() {
		t.Fatalf("%s: zero count %v, want %v", what, got.GetZeroCount(), want.GetZeroCount())
	}
	g, w := map[int]float64{}, map[int]float64{}
	got.GetPositiveValueStore().ForEach(func(i int, c float64) bool { g[i] += c; return false })
	want.GetPositiveValueStore().ForEach(func(i int, c float64) bool { w[i] += c; return false })
	for i, c := range w {
		if g[i] != c {
			t.Fatalf("%s: bin %d holds %v, want %v", what, i, g[i], c)
		}
	}
	for i, c := range g {
		if w[i] != c {
			t.Fatalf("%s: bin %d holds %v, want %v", what, i, c, w[i])
		}
	}
	if !got.GetNegativeValueStore().IsEmpty() {
		t.Fatalf("%s: negative values", what)
	}
}

// refAdd adds v to a reference sketch as Dist counts it (zero bin, bin
// bounds included above): DDSketch's own rounding differs on the bounds.
func refAdd(ref *ddsketch.DDSketch, v float64) {
	if v <= zeroMax {
		_ = ref.AddWithCount(0, 1)
		return
	}
	ref.GetPositiveValueStore().Add(slowIndex(v))
}

func TestSketchMatchesDDSketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func() float64{
		"lognormal": func() float64 { return math.Exp(rng.NormFloat64()*2 + 6) },
		"ns":        func() float64 { return float64(rng.Int64N(5_000_000)) / 1e3 },
		"zeros":     func() float64 { return float64(rng.IntN(3)) / 1e3 },
		"wide":      func() float64 { return math.Exp(rng.Float64()*35 - 10) }, // up to MaxMicros
		"outliers": func() float64 {
			if rng.IntN(50) == 0 {
				return MaxMicros * rng.Float64()
			}
			return 100 + rng.Float64()
		},
	}
	for name, gen := range gens {
		for _, n := range []int{1, 2, 7, 100, 5000} {
			var merged Dist
			refMerged := refSketch()
			for part := range 4 {
				var d Dist
				ref := refSketch()
				for range n {
					v := gen()
					d.Add(v)
					refAdd(ref, v)
				}
				if part == 2 {
					d.Reset()
					ref.Clear()
					for range n {
						v := gen()
						d.Add(v)
						refAdd(ref, v)
					}
				}
				compareDist(t, name, &d, ref)
				merged.Merge(&d)
				_ = refMerged.MergeWith(ref)
			}
			compareDist(t, name+" merged", &merged, refMerged)
		}
	}
}

func compareDist(t *testing.T, what string, d *Dist, ref *ddsketch.DDSketch) {
	t.Helper()
	for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want, err := ref.GetValueAtQuantile(q)
		if err != nil {
			t.Fatal(err)
		}
		want = math.Min(math.Max(want, d.Min), d.Max)
		// DDSketch computes the same estimate by another formula.
		if got := d.Quantile(q); math.Abs(got-want) > 1e-12*want {
			t.Fatalf("%s: q%v = %v, ddsketch %v", what, q, got, want)
		}
	}
	// Our encoding decodes (with the mapping it carries) to the
	// reference's bins, and the reference's encoding loads into the same
	// quantiles.
	dec, err := ddsketch.DecodeDDSketch(d.Sketch(), store.SparseStoreConstructor, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dec.IndexMapping.Equals(schemaMapping) {
		t.Fatalf("%s: decoded mapping %v", what, dec.IndexMapping)
	}
	sameBins(t, what, dec, ref)
	var b []byte
	ref.Encode(&b, false)
	back := Dist{Count: d.Count, Sum: d.Sum, Min: d.Min, Max: d.Max}
	if err := back.SetSketch(b); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if back.Quantile(q) != d.Quantile(q) {
			t.Fatalf("%s: reloaded q%v = %v, want %v", what, q, back.Quantile(q), d.Quantile(q))
		}
	}
}

func TestSetSketchRejectsFarIndexes(t *testing.T) {
	ref := refSketch()
	ref.GetPositiveValueStore().AddWithCount(math.MinInt32+10, 2)
	var b []byte
	ref.Encode(&b, false)
	d := Dist{Count: 2, Sum: 0, Min: 0, Max: 0}
	if err := d.SetSketch(b); err == nil {
		t.Fatal("accepted a bin far below any indexable value")
	}
}

func BenchmarkDistAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = math.Exp(rng.NormFloat64()*1.5 + 7)
	}
	b.Run("dist", func(b *testing.B) {
		var d Dist
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%100000 == 0 {
				d = Dist{}
			}
			d.Add(vals[i&4095])
		}
	})
	b.Run("ddsketch", func(b *testing.B) {
		sk := refSketch()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%100000 == 0 {
				sk = refSketch()
			}
			_ = sk.Add(vals[i&4095])
		}
	})
}

// TestBins checks that the bins cover every value once, each inside its
// bin's bounds, whatever the mapping.
func TestBins(t *testing.T) {
	var d Dist
	vals := []float64{0, 0, 0.57, 1.3, 1.3, 7.3, 100.3, 101.7, 5003, 123457} // none on a bound
	for _, v := range vals {
		d.Add(v)
	}
	bins, zero := d.Bins(nil)
	total, prevHi := zero, 0.0
	if zero != 2 {
		t.Errorf("zero count %d, want the 2 zeros", zero)
	}
	for _, b := range bins {
		if b.Lower > b.Upper || b.Lower < prevHi {
			t.Errorf("bin (%g, %g] out of order after %g", b.Lower, b.Upper, prevHi)
		}
		prevHi = b.Upper
		n := 0
		for _, v := range vals {
			if v > b.Lower && v < b.Upper {
				n++
			}
		}
		if uint64(n) != b.Count {
			t.Errorf("bin (%g, %g] counts %d, holds %d of the values", b.Lower, b.Upper, b.Count, n)
		}
		total += b.Count
	}
	if total != uint64(len(vals)) {
		t.Errorf("bins hold %d values, want %d", total, len(vals))
	}
	var empty Dist
	if bins, zero := empty.Bins(nil); len(bins) != 0 || zero != 0 {
		t.Errorf("empty dist has bins %v, zero %d", bins, zero)
	}
}
