package window

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// Decoding reads ddsketch's encoding (what Sketch writes: schemaMapping
// first) straight into a sketch's pages. An encoding that does not start
// with an index mapping, or starts with legacyMapping, was written before
// the bins became schema 5 (pastmon's first sketches: DDSketch's
// logarithmic mapping at 1% relative accuracy over µs, mapping omitted):
// it is decoded in its own bins and re-binned (rebin). The input may be
// damaged or hostile (a database, a spool, the network), so it is bounded:
// every bin index must lie in its mapping's [min, max] range, which bounds
// the pages a sketch can ever allocate, one store encoding lists at most
// maxEncodedBins bins, and counts must be finite and non-negative.

var (
	// minIndex is the lowest bin a value Add counts can have but the zero
	// bin; lower ones only come from damaged or hostile input.
	minIndex = minKey
	// maxIndex is the bin of 2×MaxMicros: no valid Dist has a value above
	// MaxMicros.
	maxIndex = index(2 * MaxMicros)

	// legacyMapping is the mapping of the sketches pastmon wrote first.
	legacyMapping, _ = mapping.NewLogarithmicMappingWithGamma(legacyGamma, 0)
	legacyGamma      = (1 + 0.01) / (1 - 0.01)
	// legacyMinIndex and legacyMaxIndex bound the bins of a legacy sketch
	// as they were bounded then.
	legacyMinIndex = legacyMapping.Index(legacyMapping.MinIndexableValue())
	legacyMaxIndex = func() int {
		i := legacyMapping.Index(2*MaxMicros) + 2
		for legacyMapping.Value(i) > 2*MaxMicros {
			i--
		}
		return i
	}()
)

// maxEncodedBins bounds the bins one store encoding may list (a valid
// sketch has far fewer distinct ones).
const maxEncodedBins = 1 << 16

// decodeSketch reads the encoded sketch b and returns its total count
// (zero count included). With s nil it only checks b; otherwise it also
// adds every bin and the zero count to s, whose buffer must be empty. When
// it fails, s may hold part of b. The index mapping, if any, comes before
// the stores (ddsketch writes the zero count first).
func decodeSketch(b []byte, s *sketch) (total float64, err error) {
	var (
		zero          float64
		known, legacy bool
		old           *sketch // a legacy sketch's own bins
	)
	for len(b) > 0 {
		flag, err := enc.DecodeFlag(&b)
		if err != nil {
			return 0, err
		}
		var t float64
		switch flag.Type() {
		case enc.FlagTypeIndexMapping:
			if known {
				return 0, errors.New("sketch index mapping after its bins, or twice")
			}
			known = true
			legacy, err = decodeMapping(&b, flag)
		case enc.FlagTypePositiveStore:
			if !known {
				known, legacy = true, true
			}
			if !legacy {
				t, err = decodeBins(&b, flag.SubFlag(), s, minIndex, maxIndex)
				break
			}
			if s != nil && old == nil {
				old = new(sketch)
			}
			t, err = decodeBins(&b, flag.SubFlag(), old, legacyMinIndex, legacyMaxIndex)
		case enc.FlagTypeNegativeStore:
			if t, err = decodeBins(&b, flag.SubFlag(), nil, math.MinInt, math.MaxInt); err == nil && t != 0 {
				err = errors.New("sketch has negative values")
			}
			t = 0
		default:
			t, err = decodeOther(&b, flag)
			zero += t
		}
		if err != nil {
			return 0, err
		}
		if t > MaxCount-total {
			return 0, errors.New("sketch holds more values than a distribution may")
		}
		total += t
	}
	if s != nil {
		s.zero += zero
		if old != nil {
			rebin(old, s)
		}
	}
	return total, nil
}

// decodeMapping reads an index mapping (what mapping.Decode reads, without
// making one): false for schemaMapping, true for legacyMapping, else an
// error.
func decodeMapping(b *[]byte, flag enc.Flag) (legacy bool, err error) {
	if flag != enc.FlagIndexMappingBaseLogarithmic {
		return false, errors.New("sketch has another index mapping")
	}
	g, err := enc.DecodeFloat64LE(b)
	if err != nil {
		return false, err
	}
	offset, err := enc.DecodeFloat64LE(b)
	if err != nil {
		return false, err
	}
	// As LogarithmicMapping.Equals compares them.
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12*math.Max(math.Abs(x), math.Abs(y)) }
	switch {
	case near(g, gamma) && near(offset, schemaOffset):
		return false, nil
	case near(g, legacyGamma) && offset == 0:
		return true, nil
	}
	return false, errors.New("sketch has another index mapping")
}

// decodeOther reads a flag that is neither a store nor a mapping: the zero
// count, which it returns, or summary statistics, skipped.
func decodeOther(b *[]byte, flag enc.Flag) (zero float64, err error) {
	switch flag {
	case enc.FlagZeroCountVarFloat:
		if zero, err = enc.DecodeVarfloat64(b); err == nil && !validCount(zero) {
			err = errors.New("bad zero count")
		}
		return zero, err
	case enc.FlagCount, enc.FlagSum, enc.FlagMin, enc.FlagMax:
		// Summary statistics, skipped as ddsketch skips them.
		if len(*b) < 8 {
			return 0, errors.New("truncated sketch")
		}
		*b = (*b)[8:]
		return 0, nil
	}
	return 0, fmt.Errorf("unexpected sketch flag %v", flag)
}

// rebin adds the bins of old, a legacy sketch, to s. Each legacy bin's
// whole count goes to the schema-5 bin of the legacy bin's own value (the
// point DDSketch answers for it, 1% from either end), clamped to maxIndex
// so that the result always encodes into a sketch that decodes. Counts
// stay integral and the total is kept. A value then ends at most
// (1.01 × 1.0109) − 1 ≈ 2.1% from where it was: splitting a count between
// the two bins a legacy bin overlaps would move single values further.
func rebin(old, s *sketch) {
	s.zero += old.zero
	old.forEach(func(i int, c float64) {
		k := min(keyOf(legacyMapping.Value(i)), maxIndex)
		if k < minKey {
			s.zero += c
			return
		}
		s.addCount(k, c)
	})
}

// keyOf is the bin of v ≥ 0 µs, minKey-1 for the zero bin.
func keyOf(v float64) int {
	if v <= zeroMax {
		return minKey - 1
	}
	return index(v)
}

// validCount is true for the integral counts from 0 to MaxCount: false
// for fractions, negative, infinite and NaN counts.
func validCount(c float64) bool { return c >= 0 && c <= MaxCount && c == math.Trunc(c) }

// decodeBins reads one store encoding (see sketches-go's encoding flags)
// and returns the sum of its counts, adding them to s unless s is nil.
// The indexes of non-empty bins must lie in [lo, hi].
func decodeBins(b *[]byte, mode enc.SubFlag, s *sketch, lo, hi int) (total float64, err error) {
	n, err := enc.DecodeUvarint64(b)
	if err != nil {
		return 0, err
	}
	if n > maxEncodedBins {
		return 0, fmt.Errorf("%d bins in one sketch store", n)
	}
	if n > uint64(len(*b)) { // every bin takes a byte at least
		return 0, errors.New("truncated sketch")
	}
	var index, step int64
	switch mode {
	case enc.BinEncodingContiguousCounts:
		if index, err = enc.DecodeVarint64(b); err != nil {
			return 0, err
		}
		if step, err = enc.DecodeVarint64(b); err != nil {
			return 0, err
		}
	case enc.BinEncodingIndexDeltasAndCounts, enc.BinEncodingIndexDeltas:
	default:
		return 0, errors.New("unknown bin encoding")
	}
	var (
		pg   *[pageLen]float64 // page pn of s
		pn   = math.MinInt
		rest = *b
		ok   bool
	)
	for range n {
		c := 1.0
		if mode != enc.BinEncodingContiguousCounts {
			var d uint64
			if d, rest, ok = uvarint(rest); !ok {
				return 0, io.EOF
			}
			index += int64(d>>1 ^ -(d & 1))
		}
		if mode != enc.BinEncodingIndexDeltas {
			if c, rest, ok = varfloat(rest); !ok {
				return 0, io.EOF
			}
			if !validCount(c) {
				return 0, errors.New("bad sketch bin count")
			}
		}
		if (index < int64(lo) || index > int64(hi)) && c != 0 {
			// Empty bins may lie outside: ddsketch's paginated stores
			// encode whole pages.
			return 0, fmt.Errorf("sketch bin index %d out of range", index)
		}
		if c > MaxCount-total { // exact: both are integers up to MaxCount
			return 0, errors.New("sketch store holds more values than a distribution may")
		}
		total += c
		if s != nil && c != 0 {
			i := int(index)
			if i>>pageBits != pn {
				pn = i >> pageBits
				pg = s.page(pn)
			}
			pg[i&(pageLen-1)] += c
		}
		if mode == enc.BinEncodingContiguousCounts {
			index += step
		}
	}
	*b = rest
	return total, nil
}

// uvarint is enc.DecodeUvarint64 on a slice, ok false where it returns an
// error (io.EOF), with a fast path for one byte.
func uvarint(b []byte) (v uint64, rest []byte, ok bool) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), b[1:], true
	}
	var s uint
	for i := range b {
		n := b[i]
		if n < 0x80 || i == enc.MaxVarLen64-1 {
			return v | uint64(n)<<s, b[i+1:], true
		}
		v |= uint64(n&0x7f) << s
		s += 7
	}
	return 0, nil, false
}

// varfloat is enc.DecodeVarfloat64 on a slice (bit for bit), ok false
// where it returns an error (io.EOF).
func varfloat(b []byte) (v float64, rest []byte, ok bool) {
	var x uint64
	s := uint(64 - 7)
	for i := range b {
		n := b[i]
		if i == enc.MaxVarLen64-1 {
			x |= uint64(n)
		} else if n >= 0x80 {
			x |= uint64(n&0x7f) << s
			s -= 7
			continue
		} else {
			x |= uint64(n) << s
		}
		return math.Float64frombits(bits.RotateLeft64(x, -6)+math.Float64bits(1)) - 1, b[i+1:], true
	}
	return 0, nil, false
}
