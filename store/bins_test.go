package store

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	ddstore "github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/pastmon/pastmon/capture/window"
)

// TestBinsDecode decodes sketches that sketches-go encodes with each kind
// of store (so each bin encoding) and compares every bin with the store's.
func TestBinsDecode(t *testing.T) {
	m, err := mapping.NewLogarithmicMapping(window.RelativeAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	values := map[string][]float64{
		"one":         {1234.5},
		"zeros":       {0, 0, 17},
		"distinct":    {1, 10, 100, 1000, 10000},
		"dense":       nil,
		"wide sparse": {0.001, 5e10},
	}
	for range 5000 {
		values["dense"] = append(values["dense"], 800*math.Exp(rng.NormFloat64()*0.3))
	}
	stores := map[string]ddstore.Provider{
		"dense":     ddstore.DenseStoreConstructor,
		"sparse":    ddstore.SparseStoreConstructor,
		"paginated": ddstore.BufferedPaginatedStoreConstructor,
	}
	for vname, vals := range values {
		for sname, provider := range stores {
			sk := ddsketch.NewDDSketchFromStoreProvider(m, provider)
			for _, v := range vals {
				if err := sk.Add(v); err != nil {
					t.Fatal(err)
				}
			}
			var b []byte
			sk.Encode(&b, true)
			var h bins
			if err := h.decode(b); err != nil {
				t.Fatalf("%s/%s: %v", vname, sname, err)
			}
			if h.zero != sk.GetZeroCount() || h.total() != sk.GetCount() {
				t.Errorf("%s/%s: zero %v total %v, want %v %v", vname, sname, h.zero, h.total(), sk.GetZeroCount(), sk.GetCount())
			}
			sk.GetPositiveValueStore().ForEach(func(index int, count float64) bool {
				i := int64(index) - h.lo
				if i < 0 || i >= int64(len(h.counts)) || h.counts[i] != count {
					t.Errorf("%s/%s: bin %d: want %v", vname, sname, index, count)
				}
				return false
			})
			// And what bins encode decodes to the same sketch.
			var again []byte
			h.encode(&again)
			back, err := ddsketch.DecodeDDSketch(again, ddstore.SparseStoreConstructor, m)
			if err != nil {
				t.Fatalf("%s/%s: re-encoded: %v", vname, sname, err)
			}
			for _, q := range []float64{0, 0.5, 0.99, 1} {
				want, _ := sk.GetValueAtQuantile(q)
				got, _ := back.GetValueAtQuantile(q)
				if got != want {
					t.Errorf("%s/%s: q%v = %v after re-encoding, want %v", vname, sname, q, got, want)
				}
			}
		}
	}
}

func TestBinsBounds(t *testing.T) {
	var h bins
	if err := h.add(0, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index int64
		count float64
	}{
		{maxBinSpan, 1}, {-maxBinSpan, 1}, {maxBinIndex + 1, 1}, {5, -1}, {5, math.NaN()}, {5, math.Inf(1)},
	} {
		if err := h.add(tc.index, tc.count); err == nil {
			t.Errorf("add(%d, %v) accepted", tc.index, tc.count)
		}
	}
	if err := h.add(maxBinSpan-1, 2); err != nil || len(h.counts) != maxBinSpan || h.total() != 3 {
		t.Errorf("widest span: %v, %d bins, total %v", err, len(h.counts), h.total())
	}
}
