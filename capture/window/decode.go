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

// Decoding reads ddsketch's encoding (what Sketch writes: the index mapping
// omitted, or present and equal to logMapping) straight into a sketch's
// pages. The input may be damaged or hostile (a database, a spool, the
// network), so it is bounded: every bin index must lie in
// [minIndex, maxIndex], which bounds the pages a sketch can ever allocate
// (about 1,150 pages of 32 bins), one store encoding lists at most
// maxEncodedBins bins, and counts must be finite and non-negative.

var (
	// minIndex is the lowest index a value Add indexes can have; lower
	// ones only come from damaged or hostile input.
	minIndex = logMapping.Index(minIndexable)
	// maxIndex is the highest index whose value is at most 2×MaxMicros:
	// no valid Dist has a value above MaxMicros.
	maxIndex = func() int {
		i := logMapping.Index(2*MaxMicros) + 2
		for indexMapping.Value(i) > 2*MaxMicros {
			i--
		}
		return i
	}()
)

// maxEncodedBins bounds the bins one store encoding may list (a valid
// sketch has at most maxIndex-minIndex+1 distinct ones).
const maxEncodedBins = 1 << 16

// decodeSketch reads the encoded sketch b and returns its total count
// (zero count included). With s nil it only checks b; otherwise it also
// adds every bin and the zero count to s, whose buffer must be empty. When
// it fails, s may hold part of b.
func decodeSketch(b []byte, s *sketch) (total float64, err error) {
	for len(b) > 0 {
		flag, err := enc.DecodeFlag(&b)
		if err != nil {
			return 0, err
		}
		var t float64
		switch flag.Type() {
		case enc.FlagTypePositiveStore:
			t, err = decodeBins(&b, flag.SubFlag(), s, false)
		case enc.FlagTypeNegativeStore:
			if t, err = decodeBins(&b, flag.SubFlag(), nil, true); err == nil && t != 0 {
				err = errors.New("sketch has negative values")
			}
			t = 0
		case enc.FlagTypeIndexMapping:
			var m mapping.IndexMapping
			if m, err = mapping.Decode(&b, flag); err == nil && !logMapping.Equals(m) {
				err = errors.New("sketch has another index mapping")
			}
		default:
			switch flag {
			case enc.FlagZeroCountVarFloat:
				if t, err = enc.DecodeVarfloat64(&b); err == nil && !validCount(t) {
					err = errors.New("bad zero count")
				}
				if err == nil && s != nil {
					s.zero += t
				}
			case enc.FlagCount, enc.FlagSum, enc.FlagMin, enc.FlagMax:
				// Summary statistics, skipped as ddsketch skips them.
				if len(b) < 8 {
					return 0, errors.New("truncated sketch")
				}
				b = b[8:]
			default:
				err = fmt.Errorf("unexpected sketch flag %v", flag)
			}
		}
		if err != nil {
			return 0, err
		}
		if t > MaxCount-total {
			return 0, errors.New("sketch holds more values than a distribution may")
		}
		total += t
	}
	return total, nil
}

// validCount is true for the integral counts from 0 to MaxCount: false
// for fractions, negative, infinite and NaN counts.
func validCount(c float64) bool { return c >= 0 && c <= MaxCount && c == math.Trunc(c) }

// decodeBins reads one store encoding (see sketches-go's encoding flags)
// and returns the sum of its counts, adding them to s unless s is nil.
// The indexes of a negative store are not checked (its counts must all be
// zero); those of a positive store must lie in [minIndex, maxIndex].
func decodeBins(b *[]byte, mode enc.SubFlag, s *sketch, negative bool) (total float64, err error) {
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
		if !negative && (index < int64(minIndex) || index > int64(maxIndex)) {
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
