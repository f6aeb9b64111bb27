package window

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// The sketch must give exactly what ddsketch gave with the same mapping and
// a BufferedPaginatedStore (what Dist used before): the same bins, the same
// quantiles, an encoding ddsketch decodes to the same bins.

func TestIndexMatchesLogarithmicMapping(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		if !(v > minIndexable) || v > maxIndexable {
			return
		}
		if got, want := index(v), logMapping.Index(v); got != want {
			t.Fatalf("index(%v) = %d, logMapping.Index = %d", v, got, want)
		}
	}
	// Every bound, and a few ulps around it.
	for i := idxTab.minIdx - 5; i < idxTab.minIdx+len(idxTab.bounds)+5; i++ {
		b := logMapping.LowerBound(i)
		for _, v := range []float64{b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1)), b * (1 + 1e-12), b * (1 - 1e-12), b * (1 + 2e-9), b * (1 - 2e-9)} {
			check(v)
		}
	}
	// Every nanosecond count up to 2 ms as microseconds, then random values.
	for ns := int64(1); ns <= 2_000_000; ns++ {
		check(float64(ns) / 1e3)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500_000 {
		check(math.Exp(rng.Float64()*80 - 20)) // e^-20 … e^60 µs
	}
	for _, v := range []float64{math.SmallestNonzeroFloat64, minIndexable, math.Nextafter(minIndexable, 1), 1e-300, 0.5, 1, 2, 1e6, MaxMicros, 2 * MaxMicros, 1e20, 1e300, math.MaxFloat64} {
		check(v)
	}
	for k := range idxTab.first {
		v := math.Float64frombits(uint64(k+tabBias) << (52 - tabSubBits))
		check(v)
		check(math.Nextafter(v, 0))
	}
}

func refSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketchFromStoreProvider(logMapping, store.BufferedPaginatedStoreConstructor)
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
					_ = ref.Add(v)
				}
				if part == 2 {
					d.Reset()
					ref.Clear()
					for range n {
						v := gen()
						d.Add(v)
						_ = ref.Add(v)
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
		if got := d.Quantile(q); got != want {
			t.Fatalf("%s: q%v = %v, ddsketch %v", what, q, got, want)
		}
	}
	// Our encoding decodes to the reference's bins, and the reference's
	// encoding loads into the same quantiles.
	dec, err := ddsketch.DecodeDDSketch(d.Sketch(), store.SparseStoreConstructor, logMapping)
	if err != nil {
		t.Fatal(err)
	}
	sameBins(t, what, dec, ref)
	var b []byte
	ref.Encode(&b, true)
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
	ref.Encode(&b, true)
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
