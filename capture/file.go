package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Progresser is implemented by sources that know how far through their
// input they are, for a progress line. total is -1 when unknown (stdin).
type Progresser interface {
	Progress() (done, total int64)
}

// maxRecord is the longest record a capture file may hold: libpcap's
// MAXIMUM_SNAPLEN. Longer records are refused rather than buffered, so a
// hostile length field cannot make the reader allocate gigabytes.
const maxRecord = 262144

const readBufferSize = 1 << 20

const (
	magicPcapMicro = 0xa1b2c3d4
	magicPcapNano  = 0xa1b23c4d
	magicPcapKuz   = 0xa1b2cd34 // Alexey Kuznetzov's modified pcap, µs
	magicPcapng    = 0x0a0d0d0a
)

// OpenFile opens a capture file for reading: pcap (microsecond or
// nanosecond timestamps, either byte order, also the old modified format
// of some Linux distributions), pcapng (any number of
// interfaces, each with its own link type and timestamp resolution), or
// either of them gzip-compressed. The format is told by the magic bytes,
// never by the name. path "-" reads standard input.
//
// ReadFrame returns io.EOF at the end of the file. A damaged or truncated
// file delivers every record before the damage, then an error naming the
// file and the packet number (io.ErrUnexpectedEOF for a cut-off record);
// every later call returns the same error.
func OpenFile(path string) (Source, error) {
	if path == "-" {
		return openReader("stdin", os.Stdin, nil, -1)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err // already "open <path>: ..."
	}
	total := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		total = st.Size()
	}
	return openReader(path, f, f, total)
}

// openReader reads a capture from r; file, if not nil, is closed with the
// source. total is r's size, -1 if unknown.
func openReader(name string, r io.Reader, file *os.File, total int64) (*fileSource, error) {
	s := &fileSource{name: name, file: file, counter: &countingReader{r: r}, total: total}
	if err := s.open(bufio.NewReaderSize(s.counter, readBufferSize)); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return s, nil
}

type fileSource struct {
	name    string
	file    *os.File // nil for stdin, which is not ours to close
	counter *countingReader
	total   int64
	gz      *gzip.Reader
	pcap    *pcapReader
	ng      *pcapngReader
	packets int64 // records delivered
	err     error // sticky: after an error the stream is out of step
}

// open detects the format, unwrapping one layer of gzip.
func (s *fileSource) open(br *bufio.Reader) error {
	magic, err := peekMagic(br)
	if err != nil {
		return err
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		if s.gz, err = gzip.NewReader(br); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(s.gz, readBufferSize)
		if magic, err = peekMagic(br); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	}
	le := binary.LittleEndian.Uint32(magic)
	be := binary.BigEndian.Uint32(magic)
	switch {
	case isPcapMagic(le) || isPcapMagic(be):
		return s.openPcap(br)
	case le == magicPcapng:
		return s.openPcapng(br)
	}
	return fmt.Errorf("not a pcap or pcapng file (magic 0x%08x)", be)
}

func isPcapMagic(m uint32) bool {
	return m == magicPcapMicro || m == magicPcapNano || m == magicPcapKuz
}

func peekMagic(br *bufio.Reader) ([]byte, error) {
	magic, err := br.Peek(4)
	switch {
	case len(magic) == 0 && (err == nil || err == io.EOF):
		return nil, errors.New("empty file, not a pcap or pcapng file")
	case err == io.EOF:
		return nil, fmt.Errorf("not a pcap or pcapng file (only %d bytes)", len(magic))
	case err != nil:
		return nil, err
	}
	return magic, nil
}

func (s *fileSource) openPcap(br *bufio.Reader) error {
	r, err := newPcapReader(br)
	s.pcap = r
	return err
}

func (s *fileSource) openPcapng(br *bufio.Reader) error {
	r, err := newPcapngReader(br)
	s.ng = r
	return err
}

// eof turns a clean end inside a header into the truncation it is.
func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFrame delivers the next record. f.Data is valid until the next call.
func (s *fileSource) ReadFrame(f *Frame) error {
	if s.err != nil {
		return s.err
	}
	var err error
	if s.pcap != nil {
		err = s.pcap.read(f)
	} else {
		err = s.ng.read(f)
	}
	if err != nil {
		if err == io.EOF {
			s.err = io.EOF
		} else {
			s.err = fmt.Errorf("read %s: packet %d: %w", s.name, s.packets+1, err)
		}
		return s.err
	}
	s.packets++
	return nil
}

// Progress reports the bytes read from the file (compressed bytes for a
// gzip file) and the file's size, -1 for a pipe or stdin.
func (s *fileSource) Progress() (done, total int64) {
	return s.counter.n.Load(), s.total
}

func (s *fileSource) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// countingReader counts the bytes read through it; Progress reads the
// count from another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// fileOrder is the byte order a capture file declared in its header.
type fileOrder struct{ big bool }

func (o fileOrder) u16(b []byte) uint16 {
	if o.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (o fileOrder) u32(b []byte) uint32 {
	if o.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o fileOrder) u64(b []byte) uint64 {
	if o.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}
