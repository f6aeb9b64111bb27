package window

import (
	"math"
	"sort"

	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// Every sketch's bins are those of a Prometheus native histogram of schema
// 5 (an OpenTelemetry exponential histogram of scale 5) over seconds: bin
// k holds the values in (2^((k-1)/32), 2^(k/32)] seconds, upper bound
// included, and values of at most ZeroThreshold seconds count as zero.
// Values are kept in microseconds; the bin of v µs is the bin of v/1e6
// seconds, with the bounds Prometheus's client library uses, so a Dist's
// bins are exported as they are.
const (
	// Schema is the Prometheus native histogram schema of every Dist (the
	// OpenTelemetry exponential histogram scale): 2^Schema bins per octave.
	Schema = 5
	// ZeroThreshold is the upper bound, in seconds, of the zero bin: 2^-32 s
	// (a quarter of a nanosecond), the bound of bin -1024.
	ZeroThreshold = 0x1p-32

	binsPerOctave = 1 << Schema
	// minKey is the lowest bin above the zero bin.
	minKey = -32*binsPerOctave + 1
)

// promBounds are Prometheus's bounds for schema 5 within an octave,
// 2^(i/32 - 1) as client_golang's nativeHistogramBounds[5] and Prometheus's
// own tables give them: some differ by an ulp from the correctly rounded
// values, and a value on a bound must fall where Prometheus puts it.
var promBounds = [binsPerOctave]float64{
	0.5, 0.5109485743270583, 0.5221368912137069, 0.5335702003384117,
	0.5452538663326288, 0.5571933712979462, 0.5693943173783458, 0.5818624293887887,
	0.5946035575013605, 0.6076236799902344, 0.620928906036742, 0.6345254785958666,
	0.6484197773255048, 0.6626183215798706, 0.6771277734684463, 0.6919549409819159,
	0.7071067811865475, 0.7225904034885232, 0.7384130729697496, 0.7545822137967112,
	0.7711054127039704, 0.7879904225539431, 0.805245165974627, 0.8228777390769823,
	0.8408964152537144, 0.8593096490612387, 0.8781260801866495, 0.8973545375015533,
	0.9170040432046711, 0.9370838170551498, 0.9576032806985735, 0.9785720620876999,
}

// secondsKey is the bin of v > 0 seconds as client_golang computes it.
func secondsKey(v float64) int {
	frac, exp := math.Frexp(v)
	return sort.SearchFloat64s(promBounds[:], frac) + (exp-1)*binsPerOctave
}

// slowIndex is the bin of v µs (v > zeroMax), computed from its definition.
func slowIndex(v float64) int { return secondsKey(v / 1e6) }

// upper returns the upper bound of bin k, in seconds.
func upper(k int) float64 {
	i, e := k%binsPerOctave, k/binsPerOctave
	if i < 0 {
		i += binsPerOctave
		e--
	}
	return math.Ldexp(promBounds[i], e+1)
}

// binValue is the value a quantile in bin k is estimated by, in µs: the
// harmonic mean of its bounds, which no value of the bin is more than
// (γ-1)/(γ+1) = 1.08% away from.
func binValue(k int) float64 {
	return 2 * upper(k) * 1e6 / (1 + gamma)
}

var gamma = math.Exp2(1.0 / binsPerOctave)

// maxUs is the largest value in µs whose bin is at most k: the upper bound
// of bin k in µs, exactly as slowIndex rounds.
func maxUs(k int) float64 {
	u := upper(k) * 1e6
	for slowIndex(u) > k {
		u = math.Nextafter(u, 0)
	}
	for n := math.Nextafter(u, math.Inf(1)); slowIndex(n) <= k; n = math.Nextafter(n, math.Inf(1)) {
		u = n
	}
	return u
}

var (
	// zeroMax is the largest value in µs that counts as zero.
	zeroMax = maxUs(minKey - 1)
	// maxIndexable is the largest value a sketch counts (as DDSketch,
	// which refuses infinity).
	maxIndexable = math.MaxFloat64
)

// schemaMapping is the bins as a DDSketch logarithmic mapping over µs, the
// index mapping every encoded sketch starts with: DDSketch's bin j holds
// [γ^(j-offset), γ^(j+1-offset)), which with this offset is [2^((j-1)/32),
// 2^(j/32)) seconds, so DDSketch decoders read the bins right but for
// values exactly on a bound.
var (
	schemaMapping, _ = mapping.NewLogarithmicMappingWithGamma(gamma, schemaOffset)
	schemaOffset     = 1 - binsPerOctave*math.Log2(1e6)
)

// index returns slowIndex(v) for zeroMax < v ≤ maxIndexable, exactly,
// without a division or a search for the values timings take: the exponent
// and the top 6 mantissa bits of v select a part of an octave narrower than
// a bin, which holds the lowest bin of its values and that bin's upper
// bound, so one comparison decides between that bin and the next.
func index(v float64) int {
	p := int(math.Float64bits(v)>>(52-tabSubBits)) - tabBias
	if uint(p) >= uint(len(idxTab)) {
		return slowIndex(v)
	}
	e := &idxTab[p]
	if v > e.hi {
		return int(e.k) + 1
	}
	return int(e.k)
}

const (
	tabMinExp  = -13 // 2^-13 µs: below zeroMax
	tabMaxExp  = 40  // 2^40 µs: above MaxMicros
	tabSubBits = 6   // 64 parts per octave, each narrower than a bin
	tabBias    = (1023 + tabMinExp) << tabSubBits
)

type part struct {
	hi float64 // upper bound of bin k in µs
	k  int32   // bin of the part's lowest value
}

var idxTab = func() *[(tabMaxExp - tabMinExp) << tabSubBits]part {
	t := new([(tabMaxExp - tabMinExp) << tabSubBits]part)
	his := map[int]float64{}
	for p := range t {
		lo := math.Float64frombits(uint64(p+tabBias) << (52 - tabSubBits))
		k := slowIndex(lo)
		if lo <= zeroMax {
			k = minKey - 1 // bin never used: count handles zero first
		}
		hi, ok := his[k]
		if !ok {
			hi = maxUs(k)
			his[k] = hi
		}
		t[p] = part{hi: hi, k: int32(k)}
	}
	return t
}()
