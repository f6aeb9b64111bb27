package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/sys/unix"
)

// testPacket is one packet to lay out in a synthetic ring block.
type testPacket struct {
	sec, nsec uint32
	ifindex   int32
	wireLen   uint32
	data      []byte
}

// writeBlock lays out pkts in block as the kernel's TPACKET_V3 ABI
// (linux/if_packet.h) describes a cooked-mode block handed to user space:
// tpacket_block_desc, then per packet tpacket3_hdr, sockaddr_ll, and the
// data at TPACKET_ALIGN(hdr + sockaddr_ll) + 16.
func writeBlock(block []byte, pkts []testPacket) {
	le := binary.LittleEndian
	clear(block)
	le.PutUint32(block[0:], unix.TPACKET_V3)
	le.PutUint32(block[8:], unix.TP_STATUS_USER)
	le.PutUint32(block[12:], uint32(len(pkts)))
	le.PutUint32(block[16:], 48)
	off := 48
	for i, p := range pkts {
		h := block[off:]
		step := (96 + len(p.data) + 15) &^ 15
		if i == len(pkts)-1 {
			step = 0
		}
		le.PutUint32(h[0:], uint32(step))
		le.PutUint32(h[4:], p.sec)
		le.PutUint32(h[8:], p.nsec)
		le.PutUint32(h[12:], uint32(len(p.data)))
		le.PutUint32(h[16:], p.wireLen)
		le.PutUint16(h[24:], 96)
		le.PutUint16(h[26:], 96)
		le.PutUint16(h[48:], unix.AF_PACKET)
		le.PutUint32(h[52:], uint32(p.ifindex))
		copy(h[96:], p.data)
		off += step
	}
	le.PutUint32(block[20:], uint32(off))
}

func TestRingWalk(t *testing.T) {
	pkts := []testPacket{
		{sec: 1700000000, nsec: 1, ifindex: 2, wireLen: 60, data: []byte{0x45, 1, 2, 3}},
		{sec: 1700000000, nsec: 999999999, ifindex: 7, wireLen: 1500, data: bytes.Repeat([]byte{0x60}, 256)},
		{sec: 1700000001, nsec: 0, ifindex: 1, wireLen: 40, data: bytes.Repeat([]byte{0x45}, 40)},
	}
	const blockSize = 4096
	r := ring{mem: make([]byte, 2*blockSize), blockSize: blockSize, numBlocks: 2}
	writeBlock(r.mem[:blockSize], pkts[:2])
	writeBlock(r.mem[blockSize:], pkts[2:])

	var got []testPacket
	var f capture.Frame
	for range 2 {
		if !r.acquire() {
			t.Fatalf("block %d not handed over", r.block)
		}
		for r.left > 0 {
			if err := r.next(&f); err != nil {
				t.Fatal(err)
			}
			if f.Link != packet.LinkRaw {
				t.Errorf("Link = %d, want LinkRaw", f.Link)
			}
			got = append(got, testPacket{uint32(f.TS / 1e9), uint32(f.TS % 1e9), f.Iface, uint32(f.WireLen), bytes.Clone(f.Data)})
		}
		status := r.status()
		r.advance()
		if *status != unix.TP_STATUS_KERNEL {
			t.Errorf("block status after advance = %#x, want TP_STATUS_KERNEL", *status)
		}
	}
	if r.acquire() {
		t.Error("acquired a block the kernel owns")
	}
	if len(got) != len(pkts) {
		t.Fatalf("walked %d packets, want %d", len(got), len(pkts))
	}
	for i := range pkts {
		w, g := pkts[i], got[i]
		if w.sec != g.sec || w.nsec != g.nsec || w.ifindex != g.ifindex || w.wireLen != g.wireLen || !bytes.Equal(w.data, g.data) {
			t.Errorf("packet %d = %+v, want %+v", i, g, w)
		}
	}
}

// FuzzRing walks arbitrary block contents: a corrupt block must give an
// error, never a panic or a frame outside the block.
func FuzzRing(f *testing.F) {
	seed := make([]byte, 1024)
	writeBlock(seed, []testPacket{
		{sec: 1, ifindex: 1, wireLen: 60, data: []byte{0x45, 0, 0, 60}},
		{sec: 2, ifindex: 3, wireLen: 100, data: make([]byte, 100)},
	})
	f.Add(seed)
	f.Add(seed[:64])
	f.Fuzz(func(t *testing.T, block []byte) {
		const blockSize = 4096
		r := ring{mem: make([]byte, blockSize), blockSize: blockSize, numBlocks: 1}
		copy(r.mem, block)
		binary.LittleEndian.PutUint32(r.mem[blockStatusOff:], unix.TP_STATUS_USER)
		r.acquire()
		var fr capture.Frame
		for r.left > 0 {
			err := r.next(&fr)
			if err != nil {
				if !errors.Is(err, errCorruptRing) {
					t.Fatalf("error %v is not errCorruptRing", err)
				}
				return
			}
			if len(fr.Data) > blockSize {
				t.Fatalf("frame of %d bytes from a block of %d", len(fr.Data), blockSize)
			}
		}
	})
}

// BenchmarkRingWalk measures the per-frame cost of the ring walk alone, on
// a synthetic block of 256-byte frames.
func BenchmarkRingWalk(b *testing.B) {
	const blockSize = 1 << 20
	per := blockSize / ((96 + 256 + 15) &^ 15)
	pkts := make([]testPacket, per-1)
	for i := range pkts {
		pkts[i] = testPacket{sec: uint32(i), ifindex: 2, wireLen: 1500, data: make([]byte, 256)}
	}
	r := ring{mem: make([]byte, blockSize), blockSize: blockSize, numBlocks: 1}
	writeBlock(r.mem, pkts)
	var f capture.Frame
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r.left == 0 {
			if r.owned {
				r.advance()
				binary.LittleEndian.PutUint32(r.mem[blockStatusOff:], unix.TP_STATUS_USER)
			}
			r.acquire()
		}
		if err := r.next(&f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadFrameKeepsBlockUntilNextCall checks the contract of Frame.Data:
// the block holding the frame just returned stays ours until the next
// ReadFrame call, which releases it before moving on.
func TestReadFrameKeepsBlockUntilNextCall(t *testing.T) {
	const blockSize = 4096
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Source{ctx: ctx, ring: ring{mem: make([]byte, 2*blockSize), blockSize: blockSize, numBlocks: 2}}
	writeBlock(s.ring.mem[:blockSize], []testPacket{{ifindex: 1, data: []byte{1}}, {ifindex: 1, data: []byte{2}}})
	writeBlock(s.ring.mem[blockSize:], []testPacket{{ifindex: 2, data: []byte{3}}})
	status := func(block int) uint32 {
		return binary.LittleEndian.Uint32(s.ring.mem[block*blockSize+blockStatusOff:])
	}
	var f capture.Frame
	for i, want := range []byte{1, 2, 3} {
		if err := s.ReadFrame(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f.Data) != 1 || f.Data[0] != want {
			t.Fatalf("frame %d = %v, want [%d]", i, f.Data, want)
		}
		block := 0
		if i == 2 {
			block = 1
			if status(0) != unix.TP_STATUS_KERNEL {
				t.Errorf("block 0 not released when ReadFrame moved on")
			}
		}
		if status(block)&unix.TP_STATUS_USER == 0 {
			t.Errorf("frame %d returned from block %d, which was already released", i, block)
		}
	}
	s.done.Store(true) // as the context's AfterFunc does
	if err := s.ReadFrame(&f); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFrame at the end = %v, want context.Canceled", err)
	}
	if status(1) != unix.TP_STATUS_KERNEL {
		t.Errorf("block 1 not released by the call after its last frame")
	}
}

// TestCoalesce checks when ReadFrame, woken for a block, waits for the
// next one to fill too: only for a block the traffic filled (not the
// timer) after another such block, until the next block is handed over,
// for at most the shorter of their fill times and a quarter of the block
// timeout, not when the next block is ready, and never past a stop.
func TestCoalesce(t *testing.T) {
	const blockSize = 4096
	tests := []struct {
		name      string
		fill      time.Duration // ts_last_pkt - ts_first_pkt
		prevFill  time.Duration // of the block before; 0: timed out
		timedOut  bool          // retired by the block timer
		nextReady bool
		nextAfter time.Duration // the next block is handed over after this
		stopAfter time.Duration // the capture stops after this
		timeout   int           // ms
		min, max  time.Duration
	}{
		{name: "full after full waits the fill time", fill: 200 * time.Millisecond, prevFill: 300 * time.Millisecond, timeout: 1000, min: 190 * time.Millisecond, max: 900 * time.Millisecond},
		{name: "shorter fill of the two", fill: 2 * time.Second, prevFill: 150 * time.Millisecond, timeout: 1000, min: 140 * time.Millisecond, max: 900 * time.Millisecond},
		{name: "capped by a quarter of the block timeout", fill: 5 * time.Second, prevFill: 5 * time.Second, timeout: 400, min: 90 * time.Millisecond, max: 900 * time.Millisecond},
		{name: "first full block goes at once", fill: 2 * time.Second, timeout: 4000, max: 500 * time.Millisecond},
		{name: "timed-out block goes at once", fill: 2 * time.Second, prevFill: 2 * time.Second, timedOut: true, timeout: 4000, max: 500 * time.Millisecond},
		{name: "next block ready goes at once", fill: 2 * time.Second, prevFill: 2 * time.Second, nextReady: true, timeout: 4000, max: 500 * time.Millisecond},
		{name: "next block handed over ends the wait", fill: 2 * time.Second, prevFill: 2 * time.Second, nextAfter: 100 * time.Millisecond, timeout: 8000, min: 90 * time.Millisecond, max: 900 * time.Millisecond},
		{name: "stop cuts the wait", fill: 2 * time.Second, prevFill: 2 * time.Second, stopAfter: 100 * time.Millisecond, timeout: 8000, min: 90 * time.Millisecond, max: 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, wake := waitingSource(t, 3, blockSize)
			s.timeout, s.lastFill = tt.timeout, int64(tt.prevFill)
			le := binary.LittleEndian
			writeBlock(s.ring.mem[:blockSize], []testPacket{{ifindex: 1, data: []byte{1}}})
			status := uint32(unix.TP_STATUS_USER)
			if tt.timedOut {
				status |= unix.TP_STATUS_BLK_TMO
			}
			le.PutUint32(s.ring.mem[blockStatusOff:], status)
			first, last := int64(1_700_000_000_500_000_000), 1_700_000_000_500_000_000+int64(tt.fill)
			le.PutUint32(s.ring.mem[blockFirstTSOff:], uint32(first/1e9))
			le.PutUint32(s.ring.mem[blockFirstTSOff+4:], uint32(first%1e9))
			le.PutUint32(s.ring.mem[blockLastTSOff:], uint32(last/1e9))
			le.PutUint32(s.ring.mem[blockLastTSOff+4:], uint32(last%1e9))
			next := s.ring.mem[blockSize+blockStatusOff:]
			if tt.nextReady {
				le.PutUint32(next, unix.TP_STATUS_USER)
			}
			if tt.nextAfter > 0 {
				defer time.AfterFunc(tt.nextAfter, func() {
					atomic.StoreUint32((*uint32)(unsafe.Pointer(&next[0])), unix.TP_STATUS_USER)
					wake()
				}).Stop()
			}
			if tt.stopAfter > 0 {
				defer time.AfterFunc(tt.stopAfter, s.stop).Stop()
			}
			start := time.Now()
			s.coalesce()
			d := time.Since(start)
			if d < tt.min || d > tt.max {
				t.Errorf("coalesce waited %v, want %v..%v", d, tt.min, tt.max)
			}
			if stopped := tt.stopAfter > 0; s.done.Load() != stopped {
				t.Errorf("done = %v after coalesce, want %v", s.done.Load(), stopped)
			}
			wantFill := int64(tt.fill)
			if tt.timedOut {
				wantFill = 0
			}
			if s.lastFill != wantFill {
				t.Errorf("lastFill = %v after coalesce, want %v", time.Duration(s.lastFill), time.Duration(wantFill))
			}
		})
	}
}

// waitingSource returns a Source over an in-memory ring of n blocks that
// waits, as a capture waits on its packet socket, on an eventfd in the
// network poller; wake makes that eventfd readable, as the kernel makes the
// socket readable when it hands a block over.
func waitingSource(t *testing.T, n, blockSize int) (s *Source, wake func()) {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	s = &Source{ctx: context.Background(), ring: ring{mem: make([]byte, n*blockSize), blockSize: blockSize, numBlocks: n}}
	if err := s.initWait(os.NewFile(uintptr(efd), "eventfd")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.sock.Close() })
	return s, func() {
		one := [8]byte{1}
		if _, err := unix.Write(efd, one[:]); err != nil {
			t.Error(err)
		}
	}
}
