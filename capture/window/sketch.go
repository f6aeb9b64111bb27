package window

import (
	"math"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
)

// sketch holds the bins of a Dist: the counts per bin of schema 5 (see
// index.go), in pages of pageLen bins (an octave) allocated where values
// fall, plus the count of the zero bin. It is what ddsketch.DDSketch with a
// BufferedPaginatedStore holds, without the buffer, the interface calls
// and math.Log on every Add: counting is the per-sample hot path of the
// pipeline (in batches, see AddBatch). The encoding (Sketch, SetSketch) is
// ddsketch's, starting with the index mapping (schemaMapping), and the
// quantiles are computed as ddsketch computes them, from the rank.
type sketch struct {
	zero  float64
	base  int                           // page number of pages[0]
	pages []*[pageLen]float64           // nil where no value fell; starts as first[:]
	first [firstPages]*[pageLen]float64 // pages' first array, in the same object
}

const (
	pageBits   = 5
	pageLen    = 1 << pageBits
	firstPages = 8
)

// count counts one value v ≥ 0 (not NaN), as DDSketch.Add does.
func (s *sketch) count(v float64) {
	if b := s.bin(v); b != nil {
		*b++
		return
	}
	if v <= zeroMax {
		s.zero++
		return
	}
	if v > maxIndexable {
		return // DDSketch refuses it (ErrUntrackableTooHigh)
	}
	s.addCount(index(v), 1)
}

// bin returns the bin v ≥ 0 counts in, or nil if count must handle v
// (too small or too large to index, or its page not allocated yet).
func (s *sketch) bin(v float64) *float64 {
	if v <= zeroMax || v > maxIndexable {
		return nil
	}
	i := index(v)
	p := i>>pageBits - s.base
	if uint(p) < uint(len(s.pages)) {
		if pg := s.pages[p]; pg != nil {
			return &pg[i&(pageLen-1)]
		}
	}
	return nil
}

// addCount adds count to the bin of index i, making room for it.
func (s *sketch) addCount(i int, count float64) {
	if count == 0 {
		return
	}
	s.page(i >> pageBits)[i&(pageLen-1)] += count
}

// page returns page number n, allocating it (and extending pages) if needed.
func (s *sketch) page(n int) *[pageLen]float64 {
	if len(s.pages) == 0 {
		s.base = n - 2
		s.pages = s.first[:]
	}
	if p := n - s.base; p < 0 {
		grow := max(-p, len(s.pages)/2, 4)
		pages := make([]*[pageLen]float64, len(s.pages)+grow)
		copy(pages[grow:], s.pages)
		s.pages = pages
		s.base -= grow
	} else if p >= len(s.pages) {
		grow := max(p+1-len(s.pages), len(s.pages)/2, 4)
		s.pages = append(s.pages, make([]*[pageLen]float64, grow)...)
	}
	pg := &s.pages[n-s.base]
	if *pg == nil {
		*pg = new([pageLen]float64)
	}
	return *pg
}

// forEach calls f for every non-empty bin in index order.
func (s *sketch) forEach(f func(i int, count float64)) {
	for p, pg := range s.pages {
		if pg == nil {
			continue
		}
		for j, c := range pg {
			if c != 0 {
				f((s.base+p)<<pageBits+j, c)
			}
		}
	}
}

func (s *sketch) merge(o *sketch) {
	s.zero += o.zero
	for p, pg := range o.pages {
		if pg == nil {
			continue
		}
		var dst *[pageLen]float64
		for j, c := range pg {
			if c != 0 {
				if dst == nil {
					dst = s.page(o.base + p)
				}
				dst[j] += c
			}
		}
	}
}

func (s *sketch) clear() {
	s.zero = 0
	for _, pg := range s.pages {
		if pg != nil {
			*pg = [pageLen]float64{}
		}
	}
}

// total is DDSketch.GetCount.
func (s *sketch) total() float64 {
	var n float64
	s.forEach(func(_ int, c float64) { n += c })
	return s.zero + n
}

// quantile is DDSketch.GetValueAtQuantile for a sketch with no negative
// values, with BufferedPaginatedStore.KeyAtRank.
func (s *sketch) quantile(q float64) float64 {
	count := s.total()
	if q < 0 || q > 1 || count == 0 {
		return math.NaN()
	}
	rank := float64(q * (count - 1))
	if rank < s.zero {
		return 0
	}
	rank -= s.zero
	if rank < 0 {
		rank = 0
	}
	var cum float64
	key, found, last := 0, false, 0
	s.forEach(func(i int, c float64) {
		last = i
		if found {
			return
		}
		cum += c
		if cum > rank {
			key, found = i, true
		}
	})
	if !found {
		key = last // KeyAtRank falls back to the highest index
	}
	return binValue(key)
}

// encode appends the sketch in ddsketch's encoding, index mapping first
// (its absence marks the legacy mapping, see decode.go), choosing per
// store between contiguous counts and index deltas as ddsketch's
// DenseStore does, whichever is shorter.
func (s *sketch) encode(b *[]byte) {
	schemaMapping.Encode(b)
	if s.zero != 0 {
		enc.EncodeFlag(b, enc.FlagZeroCountVarFloat)
		enc.EncodeVarfloat64(b, s.zero)
	}
	lo, hi, n := 0, 0, uint64(0)
	prev := 0
	sparse := 0
	s.forEach(func(i int, c float64) {
		if n == 0 {
			lo = i
		}
		hi = i
		n++
		sparse += enc.Varint64Size(int64(i-prev)) + enc.Varfloat64Size(c)
		prev = i
	})
	if n == 0 {
		return
	}
	sparse += enc.Uvarint64Size(n)
	bins := uint64(hi-lo) + 1
	dense := enc.Uvarint64Size(bins) + enc.Varint64Size(int64(lo)) + enc.Varint64Size(1) + int(bins-n)*enc.Varfloat64Size(0)
	s.forEach(func(_ int, c float64) { dense += enc.Varfloat64Size(c) })
	t := enc.FlagTypePositiveStore
	if dense <= sparse {
		enc.EncodeFlag(b, enc.NewFlag(t, enc.BinEncodingContiguousCounts))
		enc.EncodeUvarint64(b, bins)
		enc.EncodeVarint64(b, int64(lo))
		enc.EncodeVarint64(b, 1)
		next := lo
		s.forEach(func(i int, c float64) {
			for ; next < i; next++ {
				enc.EncodeVarfloat64(b, 0)
			}
			enc.EncodeVarfloat64(b, c)
			next = i + 1
		})
		return
	}
	enc.EncodeFlag(b, enc.NewFlag(t, enc.BinEncodingIndexDeltasAndCounts))
	enc.EncodeUvarint64(b, n)
	prev = 0
	s.forEach(func(i int, c float64) {
		enc.EncodeVarint64(b, int64(i-prev))
		enc.EncodeVarfloat64(b, c)
		prev = i
	})
}
