package window

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddBatchMatchesAdd: additions through an AddBatch, interleaved over
// several distributions, flushed when full and when asked, leave every
// distribution exactly as calling Add in the same order does: the figures
// bit for bit and the same sketch.
func TestAddBatchMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	values := map[string]func() float64{
		"timings":  func() float64 { return math.Exp(rng.NormFloat64()*2 + 5) },
		"zeros":    func() float64 { return float64(rng.IntN(2)) / 1e6 },
		"wide":     func() float64 { return math.Exp(rng.Float64()*35 - 10) },
		"bad":      func() float64 { return []float64{-1, math.NaN(), 0, MaxMicros, 2 * MaxMicros, 1e-300}[rng.IntN(6)] },
		"one page": func() float64 { return 100 + rng.Float64() },
	}
	for name, gen := range values {
		for _, n := range []int{0, 1, batchLen - 1, batchLen, 3*batchLen + 17} {
			want := make([]Dist, 5)
			got := make([]Dist, 5)
			var b AddBatch
			for i := range n {
				d, v := rng.IntN(len(want)), gen()
				want[d].Add(v)
				b.Add(&got[d], v)
				if i == n/2 && rng.IntN(2) == 0 {
					b.Flush()
				}
			}
			b.Flush()
			for d := range want {
				w, g := &want[d], &got[d]
				if g.Count != w.Count || math.Float64bits(g.Sum) != math.Float64bits(w.Sum) ||
					g.Min != w.Min || g.Max != w.Max {
					t.Fatalf("%s, %d values: dist %d = %d %v %v %v, want %d %v %v %v", name, n, d,
						g.Count, g.Sum, g.Min, g.Max, w.Count, w.Sum, w.Min, w.Max)
				}
				if !bytes.Equal(g.Sketch(), w.Sketch()) {
					t.Fatalf("%s, %d values: dist %d: sketch differs", name, n, d)
				}
			}
		}
	}
}

// TestAddBatchHoldsNothing: a flushed batch keeps no pointer to the
// distributions it added to.
func TestAddBatchHoldsNothing(t *testing.T) {
	var b AddBatch
	var d Dist
	for range batchLen + 3 {
		b.Add(&d, 5)
	}
	b.Flush()
	for i, e := range b.buf {
		if e.d != nil || e.sk != nil || e.bin != nil {
			t.Fatalf("entry %d still points at a distribution", i)
		}
	}
	if d.Count != batchLen+3 {
		t.Fatalf("count %d, want %d", d.Count, batchLen+3)
	}
}
