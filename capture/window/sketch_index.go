package window

import (
	"math"

	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// logMapping is the index mapping of every sketch: logarithmic, at
// RelativeAccuracy. Encoded sketches omit it, so readers elsewhere must use
// the same.
var logMapping = func() *mapping.LogarithmicMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

var (
	indexMapping mapping.IndexMapping = logMapping
	minIndexable                      = logMapping.MinIndexableValue()
	maxIndexable                      = logMapping.MaxIndexableValue()
)

// index returns logMapping.Index(v) for v > minIndexable, exactly, without
// math.Log for the values timings take: a table lookup on the exponent and
// the top mantissa bits gives the candidate bin, and the value is checked
// against the bin's bounds. The bounds are narrowed by a relative margin far
// above the rounding error of math.Log and math.Exp, so a value inside them
// has the candidate index whatever the rounding; values within the margin of
// a bound, or outside the table's range, take logMapping.Index itself.
func index(v float64) int {
	k := int(math.Float64bits(v)>>(52-tabSubBits)) - tabBias
	if uint(k) >= uint(len(idxTab.first)) {
		return logMapping.Index(v)
	}
	i := int(idxTab.first[k])
	j := i - idxTab.minIdx
	if uint(j+1) >= uint(len(idxTab.bounds)) {
		return logMapping.Index(v)
	}
	b := idxTab.bounds[j]
	if v >= b.hi {
		i++
		b = idxTab.bounds[j+1]
	}
	if v < b.lo || v >= b.hi {
		return logMapping.Index(v)
	}
	return i
}

const (
	tabMinExp  = -12 // 2^-12 µs: below a nanosecond
	tabMaxExp  = 40  // 2^40 µs: above MaxMicros
	tabSubBits = 6   // 64 parts per octave, each narrower than a bin
	tabBias    = (1023 + tabMinExp) << tabSubBits
	// boundMargin is the relative margin by which a bin's bounds are
	// narrowed: math.Log and math.Exp are off by a few ulps (~1e-16), so
	// the index they give is certain 1e-9 inside a bound.
	boundMargin = 1e-9
)

type binBounds struct{ lo, hi float64 }

var idxTab = func() (t struct {
	first  [(tabMaxExp - tabMinExp) << tabSubBits]int32 // index at each part's lowest value
	minIdx int
	bounds []binBounds // [i-minIdx]: values surely of index i
}) {
	for k := range t.first {
		t.first[k] = int32(logMapping.Index(math.Float64frombits(uint64(k+tabBias) << (52 - tabSubBits))))
	}
	t.minIdx = int(t.first[0]) - 1
	maxIdx := logMapping.Index(math.Ldexp(1, tabMaxExp)) + 2
	t.bounds = make([]binBounds, maxIdx-t.minIdx+1)
	for j := range t.bounds {
		i := t.minIdx + j
		t.bounds[j] = binBounds{
			lo: logMapping.LowerBound(i) * (1 + boundMargin),
			hi: logMapping.LowerBound(i+1) * (1 - boundMargin),
		}
	}
	return t
}()
