package tcp

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"

	"github.com/pastmon/pastmon/capture/packet"
)

// flowKey is the direction-independent 4-tuple: the lower endpoint first.
// An endpoint is its address as two big-endian words (IPv4 addresses
// IPv4-mapped, so that they never collide with IPv6 ones) and its port;
// endpoints order as the bytes of address then port would. addr holds the
// lower address then the higher, ports the lower endpoint's port in the
// high half.
type flowKey struct {
	addr  [4]uint64
	ports uint32
}

func (c *conn) hasKey(k *flowKey) bool {
	return c.addr[1] == k.addr[1] && c.addr[3] == k.addr[3] && c.ports == k.ports &&
		c.addr[0] == k.addr[0] && c.addr[2] == k.addr[2]
}

// addrWords returns an address as two big-endian words, IPv4 mapped.
func addrWords(a *[16]byte, v6 bool) (x, y uint64) {
	if v6 {
		return binary.BigEndian.Uint64(a[0:8]), binary.BigEndian.Uint64(a[8:16])
	}
	return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(a[0:4]))
}

// makeKey fills k from p and reports whether p's source is the lower
// endpoint (or both are the same).
func makeKey(p *packet.Packet, k *flowKey) (srcLo bool) {
	sa, sb := addrWords(&p.Src, p.V6)
	da, db := addrWords(&p.Dst, p.V6)
	srcLo = sa < da || sa == da && (sb < db || sb == db && p.SrcPort <= p.DstPort)
	// Field by field: a composite literal is built on the stack and copied
	// with 16-byte moves, which stall on its 8-byte stores.
	lp, hp := uint32(p.SrcPort), uint32(p.DstPort)
	if !srcLo {
		sa, sb, da, db = da, db, sa, sb
		lp, hp = hp, lp
	}
	k.addr[0], k.addr[1], k.addr[2], k.addr[3] = sa, sb, da, db
	k.ports = lp<<16 | hp
	return srcLo
}

// table maps flow keys to slab indexes: linear probing over uint64 slots
// holding (index+1)<<32 | hash32, with backward-shift deletion. The load
// stays at or below one half.
type table struct {
	seed  [6]uint64
	slots []uint64
	mask  uint64
	n     int
}

// newTable returns an empty table. It starts small and grows with the
// flows, whatever the maximum: a table sized for the peak would spread the
// few flows of a quiet link over many cache lines and pages.
func newTable() *table {
	const size = 1024
	t := &table{slots: make([]uint64, size), mask: uint64(size - 1)}
	for i := range t.seed {
		t.seed[i] = rand.Uint64() | 1
	}
	return t
}

// hash mixes the key with the table's random seed by 64×64→128-bit
// multiplications (as wyhash does): a few cycles, and no tuples that
// collide for every process.
func (t *table) hash(k *flowKey) uint32 {
	h := mix(k.addr[0]^t.seed[0], k.addr[1]^t.seed[1]) ^ mix(k.addr[2]^t.seed[2], k.addr[3]^t.seed[3])
	return uint32(mix(h^uint64(k.ports)^t.seed[4], t.seed[5]))
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// lookup returns the slab index stored for k, or -1.
func (t *table) lookup(k *flowKey, h uint32, s *slab) int32 {
	for i := uint64(h) & t.mask; ; i = (i + 1) & t.mask {
		v := t.slots[i]
		if v == 0 {
			return -1
		}
		if uint32(v) == h {
			if idx := int32(v>>32) - 1; s.at(idx).hasKey(k) {
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

// keyEndpoint returns an endpoint of a flow key: lo or hi as stored.
func keyEndpoint(k *flowKey, hi bool) Endpoint {
	a, b, port := k.addr[0], k.addr[1], uint16(k.ports>>16)
	if hi {
		a, b, port = k.addr[2], k.addr[3], uint16(k.ports)
	}
	e := Endpoint{Port: port}
	if a == 0 && b>>32 == 0xffff {
		binary.BigEndian.PutUint32(e.Addr[:4], uint32(b))
	} else {
		binary.BigEndian.PutUint64(e.Addr[:8], a)
		binary.BigEndian.PutUint64(e.Addr[8:], b)
		e.V6 = true
	}
	return e
}
