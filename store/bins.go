package store

import (
	"errors"
	"fmt"
	"math"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
)

// bins is the histogram of a quantile sketch as window encodes it (a
// DDSketch without its index mapping): a count per bin index, dense and
// bounded, plus the count of zeros. Decoding sketches straight into it is
// what makes merging thousands of stored distributions cheap, and its
// bounds keep a damaged blob from allocating without limit.
type bins struct {
	lo     int64     // index of counts[0]
	counts []float64 // first and last are non-zero
	zero   float64
}

const (
	// maxBinSpan bounds the index range: 4096 bins at 1% cover 1 ns to far
	// beyond window.MaxMicros.
	maxBinSpan = 4096
	// maxBinIndex bounds any index (values of 10^-300 to 10^300 µs).
	maxBinIndex = 40000
	// maxEncodedBins bounds the bins one encoding may list.
	maxEncodedBins = 1 << 16
)

func (h *bins) add(index int64, c float64) error {
	if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
		return errors.New("bad bin count")
	}
	if index < -maxBinIndex || index > maxBinIndex {
		return fmt.Errorf("bin index %d out of range", index)
	}
	if c == 0 {
		return nil
	}
	if len(h.counts) == 0 {
		if cap(h.counts) == 0 {
			h.counts = make([]float64, 0, 128)
		}
		h.lo, h.counts = index, append(h.counts[:0], c)
		return nil
	}
	hi := h.lo + int64(len(h.counts)) - 1
	if min(index, h.lo) < max(index, hi)-maxBinSpan+1 {
		return errors.New("sketch bins span too wide a range")
	}
	switch {
	case index < h.lo:
		grown := make([]float64, hi-index+1, hi-index+1+16)
		copy(grown[h.lo-index:], h.counts)
		h.lo, h.counts = index, grown
	case index > hi:
		n := int(index-h.lo) + 1
		if n > cap(h.counts) {
			grown := make([]float64, len(h.counts), max(n, 2*cap(h.counts)))
			copy(grown, h.counts)
			h.counts = grown
		}
		old := len(h.counts)
		h.counts = h.counts[:n]
		clear(h.counts[old:])
	}
	h.counts[index-h.lo] += c
	return nil
}

func (h *bins) total() float64 {
	t := h.zero
	for _, c := range h.counts {
		t += c
	}
	return t
}

// decode merges an encoded sketch into h.
func (h *bins) decode(b []byte) error {
	for len(b) > 0 {
		flag, err := enc.DecodeFlag(&b)
		if err != nil {
			return err
		}
		switch flag.Type() {
		case enc.FlagTypePositiveStore:
			err = decodeBins(&b, flag.SubFlag(), h.add)
		case enc.FlagTypeNegativeStore:
			err = decodeBins(&b, flag.SubFlag(), func(_ int64, c float64) error {
				if c != 0 {
					return errors.New("sketch has negative values")
				}
				return nil
			})
		default:
			if flag != enc.FlagZeroCountVarFloat {
				return fmt.Errorf("unexpected sketch flag %#v", flag)
			}
			var z float64
			if z, err = enc.DecodeVarfloat64(&b); err == nil && (math.IsNaN(z) || math.IsInf(z, 0) || z < 0) {
				err = errors.New("bad zero count")
			}
			h.zero += z
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeBins reads one store encoding (see sketches-go's encoding flags).
func decodeBins(b *[]byte, mode enc.SubFlag, add func(index int64, c float64) error) error {
	n, err := enc.DecodeUvarint64(b)
	if err != nil {
		return err
	}
	if n > maxEncodedBins {
		return fmt.Errorf("%d bins in one sketch", n)
	}
	var index, step int64
	if mode == enc.BinEncodingContiguousCounts {
		if index, err = enc.DecodeVarint64(b); err != nil {
			return err
		}
		if step, err = enc.DecodeVarint64(b); err != nil {
			return err
		}
	} else if mode != enc.BinEncodingIndexDeltasAndCounts && mode != enc.BinEncodingIndexDeltas {
		return errors.New("unknown bin encoding")
	}
	for i := uint64(0); i < n; i++ {
		c := 1.0
		if mode != enc.BinEncodingContiguousCounts {
			d, err := enc.DecodeVarint64(b)
			if err != nil {
				return err
			}
			if d < -2*maxBinIndex || d > 2*maxBinIndex {
				return errors.New("bin index out of range")
			}
			index += d
		}
		if mode != enc.BinEncodingIndexDeltas {
			if c, err = enc.DecodeVarfloat64(b); err != nil {
				return err
			}
		}
		if err := add(index, c); err != nil {
			return err
		}
		if mode == enc.BinEncodingContiguousCounts {
			if step < -2*maxBinIndex || step > 2*maxBinIndex {
				return errors.New("bin index out of range")
			}
			index += step
		}
	}
	return nil
}

// encode appends h in the encoding window.Dist.SetSketch reads.
func (h *bins) encode(b *[]byte) {
	if h.zero != 0 {
		enc.EncodeFlag(b, enc.FlagZeroCountVarFloat)
		enc.EncodeVarfloat64(b, h.zero)
	}
	if len(h.counts) == 0 {
		return
	}
	enc.EncodeFlag(b, enc.NewFlag(enc.FlagTypePositiveStore, enc.BinEncodingContiguousCounts))
	enc.EncodeUvarint64(b, uint64(len(h.counts)))
	enc.EncodeVarint64(b, h.lo)
	enc.EncodeVarint64(b, 1)
	for _, c := range h.counts {
		enc.EncodeVarfloat64(b, c)
	}
}
