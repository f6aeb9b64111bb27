package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// pcapngReader reads the packets of a pcapng file: every section, every
// interface with its own link type, timestamp resolution and offset, and
// enhanced, simple and obsolete packet blocks; other blocks are skipped.
//
// It is hand-rolled rather than pcapgo.NgReader so that a block's length
// is checked before anything is read into memory (pcapgo grows its buffer
// while it reads a hostile 4 GiB record), and so that packet data is
// handed out straight from the read buffer.
type pcapngReader struct {
	br *bufio.Reader
	fileOrder
	ifaces []ngInterface
	skip   int // bytes of the last packet block still to be skipped
	buf    []byte
}

type ngInterface struct {
	link    uint16
	snaplen uint32
	perSec  uint64 // timestamp units per second
	offset  int64  // if_tsoffset, seconds
}

// Block types of the pcapng specification.
const (
	ngSectionHeader   = 0x0a0d0d0a
	ngInterfaceBlock  = 1
	ngPacketObsolete  = 2
	ngSimplePacket    = 3
	ngEnhancedPacket  = 6
	ngByteOrderMagic  = 0x1a2b3c4d
	maxNgControlBlock = 1 << 20 // section and interface blocks are parsed in memory
)

func newPcapngReader(br *bufio.Reader) (*pcapngReader, error) {
	r := &pcapngReader{br: br}
	typ, length, err := r.blockHeader()
	if err != nil {
		return nil, fmt.Errorf("pcapng header: %w", eof(err))
	}
	if typ != ngSectionHeader {
		return nil, fmt.Errorf("pcapng: first block is of type 0x%x, not a section header", typ)
	}
	if err := r.section(length); err != nil {
		return nil, fmt.Errorf("pcapng header: %w", eof(err))
	}
	return r, nil
}

// blockHeader peeks at the next block's type and total length, taking the
// byte order from a section header's byte-order magic. Nothing is consumed.
func (r *pcapngReader) blockHeader() (typ, length uint32, err error) {
	h, err := r.br.Peek(8)
	if err != nil {
		if len(h) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	if binary.LittleEndian.Uint32(h) == ngSectionHeader {
		if h, err = r.br.Peek(12); err != nil {
			return 0, 0, eof(err)
		}
		switch {
		case binary.LittleEndian.Uint32(h[8:12]) == ngByteOrderMagic:
			r.big = false
		case binary.BigEndian.Uint32(h[8:12]) == ngByteOrderMagic:
			r.big = true
		default:
			return 0, 0, errors.New("pcapng section header without byte-order magic")
		}
	}
	typ, length = r.u32(h[0:4]), r.u32(h[4:8])
	if length < 12 || length%4 != 0 {
		return 0, 0, fmt.Errorf("pcapng block of type 0x%x with length %d", typ, length)
	}
	return typ, length, nil
}

// body reads a whole control block (section or interface) into r.buf and
// returns what lies between the 8-byte header and the trailing length.
func (r *pcapngReader) body(length uint32) ([]byte, error) {
	if length > maxNgControlBlock {
		return nil, fmt.Errorf("pcapng block length %d exceeds %d", length, maxNgControlBlock)
	}
	if cap(r.buf) < int(length) {
		r.buf = make([]byte, length)
	}
	b := r.buf[:length]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, eof(err)
	}
	return b[8 : length-4], nil
}

func (r *pcapngReader) section(length uint32) error {
	b, err := r.body(length)
	if err != nil {
		return err
	}
	if len(b) < 16 {
		return errors.New("pcapng section header too short")
	}
	if major := r.u16(b[4:6]); major != 1 {
		return fmt.Errorf("pcapng version %d.%d not supported", major, r.u16(b[6:8]))
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

func (r *pcapngReader) iface(length uint32) error {
	b, err := r.body(length)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return errors.New("pcapng interface block too short")
	}
	ifc := ngInterface{link: r.u16(b[0:2]), snaplen: r.u32(b[4:8]), perSec: 1e6}
	for opt := b[8:]; len(opt) >= 4; {
		code, n := r.u16(opt[0:2]), int(r.u16(opt[2:4]))
		if code == 0 || 4+n > len(opt) {
			break
		}
		val := opt[4 : 4+n]
		switch {
		case code == 9 && n >= 1: // if_tsresol
			if ifc.perSec, err = unitsPerSecond(val[0]); err != nil {
				return err
			}
		case code == 14 && n >= 8: // if_tsoffset
			ifc.offset = int64(r.u64(val))
		}
		step := 4 + (n+3)&^3 // values are padded to 32 bits
		if step >= len(opt) {
			break
		}
		opt = opt[step:]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// unitsPerSecond decodes if_tsresol: 10^-n, or 2^-n with the top bit set.
func unitsPerSecond(res uint8) (uint64, error) {
	n := res & 0x7f
	if res&0x80 != 0 {
		if n > 63 {
			return 0, fmt.Errorf("pcapng timestamp resolution 2^-%d not supported", n)
		}
		return 1 << n, nil
	}
	if n > 19 {
		return 0, fmt.Errorf("pcapng timestamp resolution 10^-%d not supported", n)
	}
	u := uint64(1)
	for range n {
		u *= 10
	}
	return u, nil
}

// read fills f with the next packet, skipping every other block.
func (r *pcapngReader) read(f *Frame) error {
	for {
		if r.skip > 0 {
			// The rest of the previous packet block is skipped only now,
			// since skipping may refill the buffer its data lies in.
			if _, err := r.br.Discard(r.skip); err != nil {
				return eof(err)
			}
			r.skip = 0
		}
		typ, length, err := r.blockHeader()
		if err != nil {
			return err
		}
		switch typ {
		case ngEnhancedPacket, ngPacketObsolete, ngSimplePacket:
			return r.packet(typ, length, f)
		case ngSectionHeader:
			err = r.section(length)
		case ngInterfaceBlock:
			err = r.iface(length)
		default:
			_, err = r.br.Discard(int(length))
			err = eof(err)
		}
		if err != nil {
			return err
		}
	}
}

// packet reads a packet block; f.Data points into the read buffer when
// the record fits in it.
func (r *pcapngReader) packet(typ, length uint32, f *Frame) error {
	fixed := 28 // header and fields up to the data
	if typ == ngSimplePacket {
		fixed = 12
	}
	h, err := r.br.Peek(fixed)
	if err != nil {
		return eof(err)
	}
	var id, caplen, wire uint32
	var ts uint64
	switch typ {
	case ngEnhancedPacket:
		id, caplen, wire = r.u32(h[8:12]), r.u32(h[20:24]), r.u32(h[24:28])
		ts = uint64(r.u32(h[12:16]))<<32 | uint64(r.u32(h[16:20]))
	case ngPacketObsolete:
		id, caplen, wire = uint32(r.u16(h[8:10])), r.u32(h[20:24]), r.u32(h[24:28])
		ts = uint64(r.u32(h[12:16]))<<32 | uint64(r.u32(h[16:20]))
	case ngSimplePacket:
		// No interface field, no timestamp: interface 0, time 0; the
		// captured part is what the block holds, up to the snap length.
		wire = r.u32(h[8:12])
		caplen = min(wire, length-16)
	}
	if int(id) >= len(r.ifaces) {
		return fmt.Errorf("pcapng packet of interface %d, but the section has %d", id, len(r.ifaces))
	}
	ifc := &r.ifaces[id]
	if typ == ngSimplePacket && ifc.snaplen > 0 {
		caplen = min(caplen, ifc.snaplen)
	}
	if caplen > maxRecord {
		return fmt.Errorf("record length %d exceeds %d", caplen, maxRecord)
	}
	if uint32(fixed)+caplen+4 > length {
		return fmt.Errorf("pcapng record length %d does not fit its block of %d bytes", caplen, length)
	}
	if _, err := r.br.Discard(fixed); err != nil {
		return eof(err)
	}
	data, err := readPayload(r.br, &r.buf, int(caplen), 0)
	if err != nil {
		return eof(err)
	}
	r.skip = int(length) - fixed - int(caplen)
	*f = Frame{Data: data, Iface: int32(id), Link: ifc.link, WireLen: int(wire)}
	if typ != ngSimplePacket {
		f.TS = ifc.nanos(ts)
	}
	return nil
}

// nanos converts a timestamp in the interface's units to Unix nanoseconds.
func (ifc *ngInterface) nanos(ts uint64) int64 {
	sec, frac := ts/ifc.perSec, ts%ifc.perSec
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, ifc.perSec) // frac < perSec, so hi < perSec
	return (int64(sec)+ifc.offset)*1e9 + int64(ns)
}
