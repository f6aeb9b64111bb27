package window

// AddBatch defers Dist.Add calls and applies them together, in the order they
// came. A packet path that adds one value here and one there finds the
// distributions, their sketches and their bins cold in the caches, and
// one at a time each miss stalls it; a batch of additions to different
// distributions is independent work that the CPU overlaps. Results are
// exactly those of calling Add in the same order. The zero value is an
// empty batch; it is not safe for concurrent use.
type AddBatch struct {
	n   int
	buf [batchLen]batchEntry
}

type batchEntry struct {
	d   *Dist
	us  float64
	sk  *sketch
	bin *float64 // nil: count the slow way
}

// batchLen additions (8 KiB) make a batch: enough to overlap misses,
// small enough to stay in the first-level cache.
const batchLen = 256

// Add records d.Add(us), to be done at the next Flush; a full batch
// flushes first. Nothing may read d before then.
func (b *AddBatch) Add(d *Dist, us float64) {
	if b.n == batchLen {
		b.Flush()
	}
	b.buf[b.n] = batchEntry{d: d, us: us}
	b.n++
}

// Flush does every addition recorded and empties the batch. It goes over
// the batch three times, each time one step further along the pointers
// (distribution, then sketch, then bin), so that the misses of one step
// are independent of each other and overlap.
func (b *AddBatch) Flush() {
	buf := b.buf[:b.n]
	for i := range buf {
		e := &buf[i]
		e.sk, e.us = e.d.addFigures(e.us)
	}
	for i := range buf {
		e := &buf[i]
		e.bin = e.sk.bin(e.us)
	}
	for i := range buf {
		e := &buf[i]
		if e.bin != nil {
			*e.bin++
		} else {
			e.sk.count(e.us)
		}
	}
	clear(buf) // hold no summary longer than needed
	b.n = 0
}
