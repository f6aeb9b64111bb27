package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapReader reads the records of a classic pcap file. It is hand-rolled
// rather than pcapgo.Reader because pcapgo refuses records whose captured
// length exceeds the original length, which tcpdump, tshark and real
// (buggy) writers accept, and this one reuses one buffer for every record.
type pcapReader struct {
	br *bufio.Reader
	fileOrder
	nanos   bool
	link    uint16
	snaplen int
	hdrLen  int // 16, or 24 in the modified format
	hdr     [24]byte
	buf     []byte
}

func newPcapReader(br *bufio.Reader) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", eof(err))
	}
	r := &pcapReader{br: br, hdrLen: 16}
	magic := binary.LittleEndian.Uint32(h[0:4])
	if !isPcapMagic(magic) {
		r.big = true
		magic = binary.BigEndian.Uint32(h[0:4])
	}
	r.nanos = magic == magicPcapNano
	if magic == magicPcapKuz {
		r.hdrLen = 24 // ifindex, protocol, packet type, padding follow
	}
	if major := r.u16(h[4:6]); major != 2 {
		return nil, fmt.Errorf("pcap version %d.%d not supported", major, r.u16(h[6:8]))
	}
	// The upper bits of the link type field carry FCS information.
	r.link = uint16(r.u32(h[20:24]))
	r.snaplen = int(min(r.u32(h[16:20]), maxRecord))
	return r, nil
}

// read fills f with the next record; f.Data is r's buffer.
func (r *pcapReader) read(f *Frame) error {
	if _, err := io.ReadFull(r.br, r.hdr[:r.hdrLen]); err != nil {
		return err // io.EOF exactly at a record boundary
	}
	sec := int64(r.u32(r.hdr[0:4]))
	frac := int64(r.u32(r.hdr[4:8]))
	caplen := r.u32(r.hdr[8:12])
	if caplen > maxRecord {
		return fmt.Errorf("record length %d exceeds %d", caplen, maxRecord)
	}
	data, err := r.payload(int(caplen))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if !r.nanos {
		frac *= 1000
	}
	*f = Frame{Data: data, TS: sec*1e9 + frac, Link: r.link, WireLen: int(r.u32(r.hdr[12:16]))}
	return nil
}

// payload returns the next n bytes: straight from the bufio buffer when
// they fit (no copy; valid until the next read), else copied into r.buf.
func (r *pcapReader) payload(n int) ([]byte, error) {
	if n <= r.br.Size() {
		data, err := r.br.Peek(n)
		if err != nil {
			return nil, err
		}
		_, err = r.br.Discard(n)
		return data, err
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, max(n, r.snaplen))
	}
	data := r.buf[:n]
	_, err := io.ReadFull(r.br, data)
	return data, err
}
