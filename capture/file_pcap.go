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
	data, err := readPayload(r.br, &r.buf, int(caplen), r.snaplen)
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

// readPayload returns the next n bytes of br: straight from its buffer when
// they fit (no copy; valid until the next read), else copied into *buf,
// grown to at least minCap bytes so that it is not regrown per record.
func readPayload(br *bufio.Reader, buf *[]byte, n, minCap int) ([]byte, error) {
	if n <= br.Size() {
		data, err := br.Peek(n)
		if err != nil {
			return nil, err
		}
		_, err = br.Discard(n)
		return data, err
	}
	if cap(*buf) < n {
		*buf = make([]byte, max(n, minCap))
	}
	data := (*buf)[:n]
	_, err := io.ReadFull(br, data)
	return data, err
}
