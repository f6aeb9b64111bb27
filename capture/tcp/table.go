package tcp

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/pastmon/pastmon/capture/packet"
)

// flowKey is the direction-independent 4-tuple: the lower endpoint (address,
// then port) first. IPv4 addresses are stored IPv4-mapped so that they never
// collide with IPv6 ones.
type flowKey [36]byte

// makeKey fills k from p and reports whether p's source is the lower endpoint.
func makeKey(p *packet.Packet, k *flowKey) (srcLo bool) {
	var src, dst [18]byte
	putEnd(&src, &p.Src, p.SrcPort, p.V6)
	putEnd(&dst, &p.Dst, p.DstPort, p.V6)
	srcLo = lessEnd(&src, &dst)
	lo, hi := &src, &dst
	if !srcLo {
		lo, hi = hi, lo
	}
	copy(k[0:16], lo[:16])
	copy(k[16:32], hi[:16])
	copy(k[32:34], lo[16:])
	copy(k[34:36], hi[16:])
	return srcLo
}

func putEnd(e *[18]byte, a *[16]byte, port uint16, v6 bool) {
	if v6 {
		copy(e[:16], a[:])
	} else {
		*e = [18]byte{10: 0xff, 11: 0xff}
		copy(e[12:16], a[:4])
	}
	binary.BigEndian.PutUint16(e[16:], port)
}

func lessEnd(a, b *[18]byte) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return true
}

// table maps flow keys to slab indexes: linear probing over uint64 slots
// holding (index+1)<<32 | hash32, with backward-shift deletion. The load
// stays at or below one half.
type table struct {
	seed  maphash.Seed
	slots []uint64
	mask  uint64
	n     int
}

func newTable(hint int) *table {
	size := 1024
	for size < 2*hint && size < 1<<30 {
		size <<= 1
	}
	if hint > 1<<16 {
		// Do not allocate the table for the maximum up front.
		size = 1 << 17
	}
	return &table{seed: maphash.MakeSeed(), slots: make([]uint64, size), mask: uint64(size - 1)}
}

func (t *table) hash(k *flowKey) uint32 { return uint32(maphash.Bytes(t.seed, k[:])) }

// lookup returns the slab index stored for k, or -1.
func (t *table) lookup(k *flowKey, h uint32, s *slab) int32 {
	for i := uint64(h) & t.mask; ; i = (i + 1) & t.mask {
		v := t.slots[i]
		if v == 0 {
			return -1
		}
		if uint32(v) == h {
			idx := int32(v>>32) - 1
			if s.at(idx).key == *k {
				return idx
			}
		}
	}
}

// insert adds idx under hash h; the key must not be present.
func (t *table) insert(h uint32, idx int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	t.put(h, idx)
	t.n++
}

func (t *table) put(h uint32, idx int32) {
	i := uint64(h) & t.mask
	for t.slots[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = uint64(idx+1)<<32 | uint64(h)
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
	t.mask = uint64(len(t.slots) - 1)
	for _, s := range old {
		if s != 0 {
			t.put(uint32(s), int32(s>>32)-1)
		}
	}
}

// remove deletes the slot holding idx under hash h.
func (t *table) remove(h uint32, idx int32) {
	want := uint64(idx+1)<<32 | uint64(h)
	i := uint64(h) & t.mask
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			return
		}
		i = (i + 1) & t.mask
	}
	// Backward shift: move later entries of the probe run into the hole
	// when their home position allows it.
	for {
		t.slots[i] = 0
		j := i
		for {
			j = (j + 1) & t.mask
			s := t.slots[j]
			if s == 0 {
				t.n--
				return
			}
			home := uint64(uint32(s)) & t.mask
			// s may move to i if i lies cyclically in [home, j).
			if (j-home)&t.mask >= (j-i)&t.mask {
				t.slots[i] = s
				i = j
				break
			}
		}
	}
}
