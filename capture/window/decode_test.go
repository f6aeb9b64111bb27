package window

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// TestSetSketchDecodesDDSketch decodes sketches that sketches-go encodes
// with each kind of store (so each bin encoding), with and without the
// index mapping, and compares every bin with the store's.
// (An encoding without the mapping is a legacy sketch: TestLegacySketches.)
func TestSetSketchDecodesDDSketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	values := map[string][]float64{
		"one":         {1234.5},
		"zeros":       {0, 0, 17},
		"distinct":    {1, 10, 100, 1000, 10000},
		"dense":       nil,
		"wide sparse": {0.001, 5e10},
		"tiny":        {1e-300, 3},
		"bounds":      {1e6, 2e6, 5e5, 1, maxUs(-100), math.Nextafter(maxUs(-100), 1e9)},
	}
	for range 5000 {
		values["dense"] = append(values["dense"], 800*math.Exp(rng.NormFloat64()*0.3))
	}
	stores := map[string]store.Provider{
		"dense":     store.DenseStoreConstructor,
		"sparse":    store.SparseStoreConstructor,
		"paginated": store.BufferedPaginatedStoreConstructor,
	}
	for vname, vals := range values {
		for sname, provider := range stores {
			{
				what := vname + "/" + sname
				ref := ddsketch.NewDDSketchFromStoreProvider(schemaMapping, provider)
				var d Dist
				for _, v := range vals {
					refAdd(ref, v)
					d.Add(v)
				}
				var b []byte
				ref.Encode(&b, false)
				got := Dist{Count: d.Count, Sum: d.Sum, Min: d.Min, Max: d.Max}
				if err := got.SetSketch(b); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				dec, err := ddsketch.DecodeDDSketch(got.Sketch(), store.SparseStoreConstructor, nil)
				if err != nil {
					t.Fatal(err)
				}
				sameBins(t, what, dec, ref)
				compareDist(t, what, &got, ref)
				// Merging the encoding gives what merging the Dist gives.
				var viaDist, viaEnc Dist
				viaDist.Merge(&d)
				viaDist.Merge(&got)
				viaEnc.Merge(&d)
				if err := viaEnc.MergeEncoded(d.Count, d.Sum, d.Min, d.Max, b); err != nil {
					t.Fatalf("%s: MergeEncoded: %v", what, err)
				}
				sameDist(t, what+" MergeEncoded", &viaEnc, &viaDist)
			}
		}
	}
}

func sameDist(t *testing.T, what string, got, want *Dist) {
	t.Helper()
	if got.Count != want.Count || got.Sum != want.Sum || got.Min != want.Min || got.Max != want.Max {
		t.Fatalf("%s: figures %+v, want %+v", what, got.Stats(), want.Stats())
	}
	if string(got.Sketch()) != string(want.Sketch()) {
		t.Fatalf("%s: sketches differ", what)
	}
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 1} {
		if g, w := got.Quantile(q), want.Quantile(q); g != w {
			t.Fatalf("%s: q%v = %v, want %v", what, q, g, w)
		}
	}
}

// TestMergeEncodedMatchesMerge merges many encoded windows into one Dist
// and compares with merging the decoded Dists.
func TestMergeEncodedMatchesMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var viaDist, viaEnc Dist
	for part := range 300 {
		var d Dist
		for range 1 + part%40 {
			d.Add(math.Exp(rng.NormFloat64()*1.5 + 7))
		}
		if part%7 == 0 {
			d.Add(0)
		}
		b, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Dist
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		viaDist.Merge(&back)
		if err := viaEnc.MergeEncoded(d.Count, d.Sum, d.Min, d.Max, d.Sketch()); err != nil {
			t.Fatal(err)
		}
	}
	sameDist(t, "merged", &viaEnc, &viaDist)
	// A failed merge leaves the Dist as it was.
	before := viaEnc.Sketch()
	bad := append(append([]byte(nil), viaEnc.Sketch()...), 0x01, 0xff) // a truncated zero count
	if err := viaEnc.MergeEncoded(viaDist.Count, viaDist.Sum, viaDist.Min, viaDist.Max, bad); err == nil {
		t.Fatal("merged a truncated sketch")
	}
	if string(viaEnc.Sketch()) != string(before) || viaEnc.Count != viaDist.Count {
		t.Fatal("failed merge changed the Dist")
	}
	if err := viaEnc.MergeEncoded(0, 0, 0, 0, nil); err != nil || viaEnc.Count != viaDist.Count {
		t.Fatalf("empty merge: %v", err)
	}
}

// encodeBins encodes a sketch of schema 5 with a positive store of
// contiguous counts from index lo.
func encodeBins(zero float64, lo int, counts ...float64) []byte {
	var b []byte
	schemaMapping.Encode(&b)
	return append(b, legacyBins(zero, lo, counts...)...)
}

// legacyBins encodes the same without an index mapping: a legacy sketch.
func legacyBins(zero float64, lo int, counts ...float64) []byte {
	var b []byte
	if zero != 0 {
		enc.EncodeFlag(&b, enc.FlagZeroCountVarFloat)
		enc.EncodeVarfloat64(&b, zero)
	}
	enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypePositiveStore, enc.BinEncodingContiguousCounts))
	enc.EncodeUvarint64(&b, uint64(len(counts)))
	enc.EncodeVarint64(&b, int64(lo))
	enc.EncodeVarint64(&b, 1)
	for _, c := range counts {
		enc.EncodeVarfloat64(&b, c)
	}
	return b
}

func TestSetSketchBounds(t *testing.T) {
	set := func(count uint64, b []byte) error {
		d := Dist{Count: count, Max: MaxMicros}
		return d.SetSketch(b)
	}
	var otherMapping []byte
	m, _ := mapping.NewLogarithmicMapping(0.02)
	m.Encode(&otherMapping)
	otherMapping = append(otherMapping, legacyBins(0, 0, 1)...)
	for _, tc := range []struct {
		name  string
		count uint64
		b     []byte
		ok    bool
	}{
		{"lowest index", 1, encodeBins(0, minIndex, 1), true},
		{"highest index", 1, encodeBins(0, maxIndex, 1), true},
		{"widest span", 2, encodeBins(0, minIndex, append(append([]float64{1}, make([]float64, maxIndex-minIndex-1)...), 1)...), true},
		{"below lowest", 1, encodeBins(0, minIndex-1, 1), false},
		{"above highest", 1, encodeBins(0, maxIndex+1, 1), false},
		{"empty bin out of range", 1, encodeBins(0, maxIndex, 1, 0), true},
		{"empty bins below", 1, encodeBins(0, minIndex-3, 0, 0, 0, 1), true},
		{"far index", 1, encodeBins(0, math.MinInt32+10, 1), false},
		{"too many bins", maxEncodedBins + 1, encodeBins(0, 0, make([]float64, maxEncodedBins+1)...), false},
		{"negative count", 1, encodeBins(0, 0, 2, -1), false},
		{"NaN count", 1, encodeBins(0, 0, math.NaN()), false},
		{"infinite count", 1, encodeBins(0, 0, math.Inf(1)), false},
		{"NaN zero count", 1, encodeBins(math.NaN(), 0, 1), false},
		{"negative zero count", 1, encodeBins(-1, 0, 2), false},
		{"count mismatch", 3, encodeBins(1, 0, 1), false},
		{"zeros only", 4, encodeBins(4, 0), true},
		{"truncated", 2, encodeBins(0, 0, 1, 1)[:5], false},
		{"unknown flag", 1, append(encodeBins(0, 0, 1), 0xff), false},
		{"legacy lowest index", 1, legacyBins(0, legacyMinIndex, 1), true},
		{"legacy highest index", 1, legacyBins(0, legacyMaxIndex, 1), true},
		{"legacy below lowest", 1, legacyBins(0, legacyMinIndex-1, 1), false},
		{"legacy above highest", 1, legacyBins(0, legacyMaxIndex+1, 1), false},
		{"mapping twice", 1, append(encodeBins(0, 0, 1)[:17], encodeBins(0, 0, 1)...), false},
		{"another mapping", 1, otherMapping, false},
	} {
		if err := set(tc.count, tc.b); (err == nil) != tc.ok {
			t.Errorf("%s: error %v", tc.name, err)
		}
	}
	// Negative values are refused, zero counts in a negative store are not.
	for _, c := range []float64{1, 0} {
		b := encodeBins(0, 5, 1)
		enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypeNegativeStore, enc.BinEncodingIndexDeltasAndCounts))
		enc.EncodeUvarint64(&b, 1)
		enc.EncodeVarint64(&b, 5)
		enc.EncodeVarfloat64(&b, c)
		if err := set(uint64(1+c), b); (err == nil) != (c == 0) {
			t.Errorf("negative count %v: error %v", c, err)
		}
	}
}

// FuzzSetSketch decodes arbitrary bytes as a sketch (with the count it
// holds, when it is a count): an error or a valid distribution, never a
// panic or an unbounded allocation, and MergeEncoded agrees.
func FuzzSetSketch(f *testing.F) {
	for _, d := range benchDists() {
		f.Add(d.Sketch())
	}
	ref := refSketch()
	for _, v := range []float64{0, 0.5, 3, 3, 1e5} {
		_ = ref.Add(v)
	}
	var b []byte
	ref.Encode(&b, false)
	f.Add(b)
	f.Add(encodeBins(2, minIndex, 1, 0, 3))
	f.Add(legacyBins(1, 300, 2, 0, 5))
	f.Add(legacyBins(0, legacyMaxIndex, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		total, err := decodeSketch(b, nil)
		count := uint64(1)
		if err == nil && total >= 1 && total < 1e15 {
			count = uint64(math.Round(total))
		}
		d := Dist{Count: count, Max: MaxMicros, Sum: MaxMicros * float64(count)}
		setErr := d.SetSketch(b)
		var m Dist
		mergeErr := m.MergeEncoded(d.Count, d.Sum, d.Min, d.Max, b)
		if (setErr == nil) != (mergeErr == nil) {
			t.Fatalf("SetSketch: %v, MergeEncoded: %v", setErr, mergeErr)
		}
		if setErr != nil {
			return
		}
		sameDist(t, "MergeEncoded", &m, &d)
		q := d.Quantile(0.5)
		if math.IsNaN(q) || q < d.Min || q > d.Max {
			t.Fatalf("median %v", q)
		}
		again := Dist{Count: d.Count, Sum: d.Sum, Min: d.Min, Max: d.Max}
		if err := again.SetSketch(d.Sketch()); err != nil {
			t.Fatalf("re-encoded sketch: %v", err)
		}
		sameDist(t, "re-encoded", &again, &d)
	})
}

// TestVarintDecodersMatchEncoding checks uvarint and varfloat against
// sketches-go's decoders, bit for bit, on encoded values and random bytes.
func TestVarintDecodersMatchEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var inputs [][]byte
	for range 20000 {
		var b []byte
		switch rng.IntN(3) {
		case 0:
			enc.EncodeUvarint64(&b, rng.Uint64()>>rng.IntN(64))
		case 1:
			enc.EncodeVarfloat64(&b, math.Float64frombits(rng.Uint64()))
		default:
			enc.EncodeVarfloat64(&b, float64(rng.IntN(1000)))
		}
		inputs = append(inputs, b, b[:rng.IntN(len(b)+1)])
		r := make([]byte, rng.IntN(12))
		for i := range r {
			r[i] = byte(rng.Uint32())
		}
		inputs = append(inputs, r)
	}
	for _, in := range inputs {
		ref := in
		want, wantErr := enc.DecodeUvarint64(&ref)
		got, rest, ok := uvarint(in)
		if ok != (wantErr == nil) || ok && (got != want || len(rest) != len(ref)) {
			t.Fatalf("uvarint(%x) = %v %d %v, want %v %d %v", in, got, len(rest), ok, want, len(ref), wantErr)
		}
		ref = in
		wantF, wantErr := enc.DecodeVarfloat64(&ref)
		gotF, rest, ok := varfloat(in)
		if ok != (wantErr == nil) || ok && (math.Float64bits(gotF) != math.Float64bits(wantF) || len(rest) != len(ref)) {
			t.Fatalf("varfloat(%x) = %v %d %v, want %v %d %v", in, gotF, len(rest), ok, wantF, len(ref), wantErr)
		}
	}
}
