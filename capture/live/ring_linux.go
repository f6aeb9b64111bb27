package live

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/sys/unix"
)

// Offsets in the ring, from the kernel's TPACKET_V3 layout: a block starts
// with tpacket_block_desc (version, offset_to_priv, then tpacket_hdr_v1);
// every packet with tpacket3_hdr followed by sockaddr_ll.
const (
	blockStatusOff  = 8
	blockNumOff     = 12
	blockFirstOff   = 16
	blockFirstTSOff = 32 // ts_first_pkt
	blockLastTSOff  = 40 // ts_last_pkt
	blockHdrLen     = 48
	pktHdrLen       = unix.SizeofTpacket3Hdr // 48, already TPACKET_ALIGNed
	sockaddrLen     = unix.SizeofSockaddrLinklayer
	// frameSize only matters to the kernel's sanity checks in V3, where
	// packets are packed into blocks back to back.
	frameSize = 1 << 11
)

// ring is the memory-mapped TPACKET_V3 receive ring and the reader's
// position in it.
type ring struct {
	mem       []byte
	blockSize int
	numBlocks int

	block int  // index of the block being read
	owned bool // block is ours (TP_STATUS_USER) and not yet released
	left  uint32
	off   int // offset of the next packet inside the block
}

func (r *ring) setup(fd int, cfg Config) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("set TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(cfg.BlockSize / frameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("set up receive ring of %d × %d bytes: %w", cfg.NumBlocks, cfg.BlockSize, err)
	}
	size := cfg.BlockSize * cfg.NumBlocks
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map receive ring of %d bytes: %w", size, err)
	}
	r.mem, r.blockSize, r.numBlocks = mem, cfg.BlockSize, cfg.NumBlocks
	return nil
}

func (r *ring) unmap() error {
	if r.mem == nil {
		return nil
	}
	mem := r.mem
	r.mem = nil
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("unmap ring: %w", err)
	}
	return nil
}

func (r *ring) status() *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[r.block*r.blockSize+blockStatusOff]))
}

// numPkts is the packet count in the current block's header, which the
// kernel keeps up to date while it fills the block. A block the kernel has
// not reopened since we released it still shows its old count, which only
// costs one needless wait at stop.
func (r *ring) numPkts() *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[r.block*r.blockSize+blockNumOff]))
}

// ready reports whether the kernel has handed over block b (mod numBlocks).
func (r *ring) ready(b int) bool {
	b %= r.numBlocks
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.mem[b*r.blockSize+blockStatusOff])))&unix.TP_STATUS_USER != 0
}

// acquire takes the current block if the kernel has handed it over.
func (r *ring) acquire() bool {
	if !r.ready(r.block) {
		return false
	}
	base := r.block * r.blockSize
	r.owned = true
	r.left = *(*uint32)(unsafe.Pointer(&r.mem[base+blockNumOff]))
	r.off = int(*(*uint32)(unsafe.Pointer(&r.mem[base+blockFirstOff])))
	return true
}

// advance gives the current block back to the kernel and moves to the next.
func (r *ring) advance() {
	atomic.StoreUint32(r.status(), unix.TP_STATUS_KERNEL)
	r.owned = false
	r.block++
	if r.block == r.numBlocks {
		r.block = 0
	}
}

var errCorruptRing = errors.New("live capture: packet outside its ring block")

// next fills f with the next packet of the owned block.
func (r *ring) next(f *capture.Frame) error {
	off := r.off
	if off < blockHdrLen || off+pktHdrLen+sockaddrLen > r.blockSize {
		return fmt.Errorf("%w: offset %d", errCorruptRing, off)
	}
	base := r.block * r.blockSize
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base+off]))
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&r.mem[base+off+pktHdrLen]))
	start := off + int(h.Mac)
	end := start + int(h.Snaplen)
	if end > r.blockSize || start < off+pktHdrLen {
		return fmt.Errorf("%w: data %d..%d", errCorruptRing, start, end)
	}
	r.left--
	if h.Next_offset != 0 {
		r.off = off + int(h.Next_offset)
	} else {
		r.left = 0
	}
	f.Data = r.mem[base+start : base+end : base+end]
	f.TS = int64(h.Sec)*1e9 + int64(h.Nsec)
	f.Iface = sll.Ifindex
	f.Link = packet.LinkRaw
	f.WireLen = int(h.Len)
	return nil
}

// ReadFrame fills f with the next captured frame. f.Data points into the
// ring and stays valid until the next call. It blocks until a frame
// arrives and returns capture.ErrIdle when none came within the poll
// interval. Once the context given to Open is done it drains: it waits one
// block timeout for the kernel to hand over the part-filled block, returns
// what the ring holds (at most one ring's worth), then the context's error.
// Without the drain, the last moments of traffic before a stop are lost.
func (s *Source) ReadFrame(f *capture.Frame) error {
	r := &s.ring
	for {
		if r.owned && r.left > 0 {
			return s.ring.next(f)
		}
		if r.owned {
			r.advance()
			if s.draining() {
				s.drainLeft--
			}
		}
		if s.draining() && s.drainLeft <= 0 {
			return s.ctx.Err()
		}
		if r.acquire() {
			continue
		}
		if s.draining() {
			if s.drained {
				return s.ctx.Err()
			}
			s.drained = true
			s.awaitRetire()
			continue
		}
		if err := s.wait(); err != nil {
			return err
		}
		s.coalesce()
	}
}

// coalesce lets a second block fill before the reader starts on the one it
// was woken for, so that each wake-up reads two blocks and costs half as
// much per packet (see Config.BlockSize). It only does so when this block
// and the last one it was woken for both filled up (rather than timed
// out), and waits until the next block is handed over, at most the shorter
// of their fill times and a quarter of the block timeout. Two fill times,
// because a block that sat part-filled before a burst shows one far too
// long: waiting through it, the reader would leave the kernel without
// free blocks.
func (s *Source) coalesce() {
	r := &s.ring
	if r.owned || s.done.Load() {
		return
	}
	base := r.block * r.blockSize
	status := atomic.LoadUint32(r.status())
	if status&unix.TP_STATUS_USER == 0 {
		return
	}
	prev := s.lastFill
	s.lastFill = 0
	if status&unix.TP_STATUS_BLK_TMO != 0 {
		return
	}
	s.lastFill = blockTime(r.mem[base+blockLastTSOff:]) - blockTime(r.mem[base+blockFirstTSOff:])
	d := min(time.Duration(min(prev, s.lastFill)), time.Duration(s.timeout)*time.Millisecond/4)
	if d >= time.Millisecond {
		_ = s.await(d, s.nextReady) // ready, stopped or out of time: go on
	}
}

// blockTime reads a block header's timestamp (seconds, then nanoseconds).
func blockTime(b []byte) int64 {
	t := (*[2]uint32)(unsafe.Pointer(&b[0]))
	return int64(t[0])*1e9 + int64(t[1])
}

// draining reports whether the context is done, starting the drain budget
// the first time it is seen.
func (s *Source) draining() bool {
	if !s.done.Load() {
		return false
	}
	if !s.drainStarted {
		s.drainStarted = true
		s.drainLeft = s.ring.numBlocks
	}
	return true
}

// awaitRetire waits, up to one block timeout, for the kernel's block timer
// to hand over the block it is filling, if that block holds any packet.
func (s *Source) awaitRetire() {
	r := &s.ring
	if r.owned || s.sock == nil || atomic.LoadUint32(r.numPkts()) == 0 {
		return
	}
	// Until the deadline whatever wakes the wait: the stop's own
	// deadline may land after this one was set.
	end := time.Now().Add(time.Duration(s.timeout+10) * time.Millisecond)
	for !r.ready(r.block) {
		d := time.Until(end)
		if d <= 0 {
			return
		}
		if err := s.await(d, s.curReady); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

// wait blocks until the kernel hands over the current block or the
// capture stops. It returns capture.ErrIdle after a quiet block timeout.
func (s *Source) wait() error {
	err := s.await(time.Duration(s.timeout)*time.Millisecond, s.readyOrStop)
	switch {
	case err == nil || s.done.Load():
		return nil // ReadFrame takes the block, or drains
	case errors.Is(err, os.ErrDeadlineExceeded):
		return capture.ErrIdle
	default:
		return fmt.Errorf("wait for capture on %s: %w", s.name, err)
	}
}

// await parks the reader in the network poller until cond (one of the
// conditions built by initWait) holds, or d has passed
// (os.ErrDeadlineExceeded). The socket becomes readable each time the
// kernel hands a block over.
func (s *Source) await(d time.Duration, cond func(uintptr) bool) error {
	if err := s.sock.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	s.woken = false
	return s.rc.Read(cond)
}

// clearSocketError reads (and so resets) a pending socket error, such as
// ENETDOWN when a captured interface goes down, which would otherwise keep
// poll returning at once. Capture resumes when the interface comes back.
func (s *Source) clearSocketError() {
	code, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && code != 0 {
		slog.Warn("live capture: socket error", "interfaces", s.name, "err", unix.Errno(code))
	}
}
