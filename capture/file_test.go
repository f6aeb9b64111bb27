package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pastmon/pastmon/capture/packet"
)

// rec is one record as written to a test file.
type rec struct {
	iface int
	link  uint16
	ts    int64 // Unix ns, already at the resolution the file stores
	data  []byte
	wire  int
}

// testRecords makes n records with distinct contents, lengths and times.
func testRecords(n int, link uint16, step time.Duration) []rec {
	base := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC).UnixNano()
	out := make([]rec, n)
	for i := range out {
		data := make([]byte, 40+i%50)
		for j := range data {
			data[j] = byte(i + j)
		}
		out[i] = rec{link: link, ts: base + int64(i)*int64(step), data: data, wire: len(data) + i%3*100}
	}
	return out
}

func writePcap(t testing.TB, nanos bool, link uint16, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkType(link)); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, r.ts), CaptureLength: len(r.data), Length: r.wire}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// bigEndianPcap writes a pcap file the way a big-endian machine does,
// from the file format's definition (pcapgo only writes little-endian).
func bigEndianPcap(nanos bool, link uint16, recs []rec) []byte {
	be := binary.BigEndian
	magic, div := uint32(0xa1b2c3d4), int64(1000)
	if nanos {
		magic, div = 0xa1b23c4d, 1
	}
	b := be.AppendUint32(nil, magic)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, uint32(link))
	for _, r := range recs {
		b = be.AppendUint32(b, uint32(r.ts/1e9))
		b = be.AppendUint32(b, uint32(r.ts%1e9/div))
		b = be.AppendUint32(b, uint32(len(r.data)))
		b = be.AppendUint32(b, uint32(r.wire))
		b = append(b, r.data...)
	}
	return b
}

// kuznetzovPcap writes the modified pcap format of old Red Hat/SuSE
// tcpdump: magic 0xa1b2cd34, µs, records with 8 more header bytes
// (ifindex, protocol, packet type, padding).
func kuznetzovPcap(link uint16, recs []rec) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2cd34)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, uint32(link))
	for _, r := range recs {
		b = le.AppendUint32(b, uint32(r.ts/1e9))
		b = le.AppendUint32(b, uint32(r.ts%1e9/1000))
		b = le.AppendUint32(b, uint32(len(r.data)))
		b = le.AppendUint32(b, uint32(r.wire))
		b = le.AppendUint32(b, 2)          // ifindex
		b = append(b, 0x08, 0x00, 0, 0xff) // protocol, packet type, padding
		b = append(b, r.data...)
	}
	return b
}

// ngIface describes one pcapng interface: link type and if_tsresol byte.
type ngIface struct {
	link  uint16
	tsres uint8 // 6 = µs, 9 = ns, 0x80|n = 2^-n
}

// pcapng builds a pcapng file from the format's definition (pcapgo's
// writer always uses nanoseconds): one section, the interfaces, then an
// enhanced packet block per record, timestamps in each interface's units.
func pcapng(order binary.ByteOrder, ifaces []ngIface, recs []rec) []byte {
	ab := order.(binary.AppendByteOrder)
	block := func(b []byte, typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		b = ab.AppendUint32(b, typ)
		b = ab.AppendUint32(b, n)
		b = append(b, body...)
		return ab.AppendUint32(b, n)
	}
	shb := ab.AppendUint32(nil, 0x1a2b3c4d)
	shb = ab.AppendUint16(shb, 1)
	shb = ab.AppendUint16(shb, 0)
	shb = ab.AppendUint64(shb, ^uint64(0))
	b := block(nil, 0x0a0d0d0a, shb)
	for _, ifc := range ifaces {
		idb := ab.AppendUint16(nil, ifc.link)
		idb = ab.AppendUint16(idb, 0)
		idb = ab.AppendUint32(idb, 262144)
		idb = ab.AppendUint16(idb, 9) // if_tsresol
		idb = ab.AppendUint16(idb, 1)
		idb = append(idb, ifc.tsres, 0, 0, 0)
		idb = ab.AppendUint32(idb, 0) // opt_endofopt
		b = block(b, 1, idb)
	}
	for _, r := range recs {
		units := uint64(tsUnits(ifaces[r.iface].tsres, r.ts))
		epb := ab.AppendUint32(nil, uint32(r.iface))
		epb = ab.AppendUint32(epb, uint32(units>>32))
		epb = ab.AppendUint32(epb, uint32(units))
		epb = ab.AppendUint32(epb, uint32(len(r.data)))
		epb = ab.AppendUint32(epb, uint32(r.wire))
		epb = append(epb, r.data...)
		b = block(b, 6, epb)
	}
	return b
}

// tsUnits converts ns to if_tsresol units; rec times are chosen to be
// exact in every resolution used.
func tsUnits(res uint8, ns int64) int64 {
	if res&0x80 != 0 {
		return ns/1e9<<(res&0x7f) + ns%1e9*(1<<(res&0x7f))/1e9
	}
	div := int64(1)
	for range 9 - int(res) {
		div *= 10
	}
	return ns / div
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readFile writes b to a file named name, opens it and reads every record,
// failing the test on any error. The source, at its end, is closed when
// the test ends.
func readFile(t *testing.T, name string, b []byte) (Source, []rec) {
	t.Helper()
	src, err := OpenFile(writeFile(t, name, b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	got, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return src, got
}

// readAll reads every frame, copying the data, until the first error.
func readAll(t *testing.T, src Source) ([]rec, error) {
	t.Helper()
	var out []rec
	for {
		var f Frame
		err := src.ReadFrame(&f)
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, rec{iface: int(f.Iface), link: f.Link, ts: f.TS, data: append([]byte(nil), f.Data...), wire: f.WireLen})
	}
}

func sameRecords(t *testing.T, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.iface != w.iface || g.link != w.link || g.ts != w.ts || g.wire != w.wire || !bytes.Equal(g.data, w.data) {
			t.Fatalf("frame %d: got iface %d link %d ts %d wire %d len %d, want iface %d link %d ts %d wire %d len %d",
				i, g.iface, g.link, g.ts, g.wire, len(g.data), w.iface, w.link, w.ts, w.wire, len(w.data))
		}
	}
}

// mixed spreads records over the interfaces. Times step by 1 ms, exact in
// every decimal resolution used; binary resolutions get whole seconds,
// the only times exact in both ns and 2^-n.
func mixed(ifaces []ngIface, n int) []rec {
	recs := testRecords(n, 0, time.Millisecond)
	for i := range recs {
		recs[i].iface = i % len(ifaces)
		recs[i].link = ifaces[recs[i].iface].link
		if ifaces[recs[i].iface].tsres&0x80 != 0 {
			recs[i].ts = recs[i].ts / 1e9 * 1e9
		}
	}
	return recs
}

func TestOpenFileFormats(t *testing.T) {
	micro := testRecords(50, packet.LinkEthernet, 1001*time.Microsecond)
	nano := testRecords(50, packet.LinkLinuxSLL2, 1001*time.Nanosecond+3)
	ifaces := []ngIface{{packet.LinkEthernet, 6}, {packet.LinkLinuxSLL2, 9}, {packet.LinkRaw, 3}, {packet.LinkNull, 0x80 | 10}}
	ng := mixed(ifaces, 60)
	cases := []struct {
		name string
		file []byte
		want []rec
	}{
		{"pcap µs little-endian", writePcap(t, false, packet.LinkEthernet, micro), micro},
		{"pcap ns little-endian", writePcap(t, true, packet.LinkLinuxSLL2, nano), nano},
		{"pcap µs big-endian", bigEndianPcap(false, packet.LinkEthernet, micro), micro},
		{"pcap ns big-endian", bigEndianPcap(true, packet.LinkLinuxSLL2, nano), nano},
		{"pcap modified (Kuznetzov)", kuznetzovPcap(packet.LinkEthernet, micro), micro},
		{"pcap empty", writePcap(t, false, packet.LinkEthernet, nil), nil},
		{"pcapng four interfaces little-endian", pcapng(binary.LittleEndian, ifaces, ng), ng},
		{"pcapng four interfaces big-endian", pcapng(binary.BigEndian, ifaces, ng), ng},
		{"pcapng no packets", pcapng(binary.LittleEndian, ifaces, nil), nil},
		{"gzip pcap", gz(t, writePcap(t, true, packet.LinkLinuxSLL2, nano)), nano},
		{"gzip pcap big-endian", gz(t, bigEndianPcap(false, packet.LinkEthernet, micro)), micro},
		{"gzip pcapng", gz(t, pcapng(binary.LittleEndian, ifaces, ng)), ng},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The name says nothing about the format: magic bytes decide.
			src, got := readFile(t, "capture.dat", c.file)
			sameRecords(t, got, c.want)
			if err := src.ReadFrame(&Frame{}); err != io.EOF {
				t.Fatalf("after the end: %v, want io.EOF", err)
			}
			p, ok := src.(Progresser)
			if !ok {
				t.Fatal("file source is no Progresser")
			}
			if done, total := p.Progress(); done != int64(len(c.file)) || total != int64(len(c.file)) {
				t.Fatalf("progress %d/%d, want %d/%d", done, total, len(c.file), len(c.file))
			}
		})
	}
}

// TestOpenFileNgWriter reads what pcapgo's own pcapng writer produces,
// with interfaces added after packets were written.
func TestOpenFileNgWriter(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs := testRecords(30, 0, 7*time.Nanosecond+time.Millisecond)
	links := []uint16{packet.LinkEthernet, packet.LinkLinuxSLL2, packet.LinkLinuxSLL}
	for i := range recs {
		recs[i].iface = i % 3
		recs[i].link = links[i%3]
		if i == 1 || i == 2 {
			if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkType(links[i]), SnapLength: 65535}); err != nil {
				t.Fatal(err)
			}
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, recs[i].ts), CaptureLength: len(recs[i].data), Length: recs[i].wire, InterfaceIndex: recs[i].iface}
		if err := w.WritePacket(ci, recs[i].data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, got := readFile(t, "x.pcapng", buf.Bytes())
	sameRecords(t, got, recs)
}

func TestOpenFileStdin(t *testing.T) {
	recs := testRecords(20, packet.LinkEthernet, time.Second)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write(gz(t, writePcap(t, false, packet.LinkEthernet, recs)))
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	src, err := OpenFile("-")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, recs)
	if _, total := src.(Progresser).Progress(); total != -1 {
		t.Fatalf("stdin total %d, want -1", total)
	}
}

func TestOpenFileErrors(t *testing.T) {
	recs := testRecords(10, packet.LinkEthernet, time.Second)
	pcapFile := writePcap(t, false, packet.LinkEthernet, recs)
	hugeSnap := patchBytes(pcapFile, func(b []byte) { binary.LittleEndian.PutUint32(b[16:20], 0xffffffff) })
	cases := []struct {
		name     string
		file     []byte
		openErr  string // substring of OpenFile's error; "" when it opens
		frames   int    // frames delivered before the read error
		readErr  string
		sentinel error
	}{
		{name: "text", file: []byte("hello, world\n"), openErr: "not a pcap or pcapng file (magic 0x68656c6c)"},
		{name: "empty", file: nil, openErr: "empty file"},
		{name: "three bytes", file: []byte{0xd4, 0xc3, 0xb2}, openErr: "only 3 bytes"},
		{name: "gzip of text", file: gz(t, []byte("GIF89a....")), openErr: "not a pcap or pcapng file (magic 0x47494638)"},
		{name: "broken gzip", file: gz(t, pcapFile)[:30], openErr: "unexpected EOF", sentinel: io.ErrUnexpectedEOF},
		{name: "pcap header cut", file: pcapFile[:20], openErr: "pcap header", sentinel: io.ErrUnexpectedEOF},
		{name: "pcapng header cut", file: pcapng(binary.LittleEndian, []ngIface{{1, 6}}, nil)[:20], openErr: "pcapng header", sentinel: io.ErrUnexpectedEOF},
		{name: "last record cut in data", file: pcapFile[:len(pcapFile)-5], frames: 9, readErr: "packet 10", sentinel: io.ErrUnexpectedEOF},
		{name: "last record cut in header", file: pcapFile[:len(pcapFile)-len(recs[9].data)-7], frames: 9, readErr: "packet 10", sentinel: io.ErrUnexpectedEOF},
		{name: "gzip, last record cut", file: gz(t, pcapFile[:len(pcapFile)-1]), frames: 9, readErr: "packet 10", sentinel: io.ErrUnexpectedEOF},
		{name: "pcapng last block cut in its data", file: func() []byte { b := pcapng(binary.LittleEndian, []ngIface{{1, 6}}, recs); return b[:len(b)-20] }(),
			frames: 9, readErr: "packet 10", sentinel: io.ErrUnexpectedEOF},
		// The record is whole, the block's trailing length is not: the
		// record is delivered, the damage reported on the next read.
		{name: "pcapng last block cut in its trailer", file: func() []byte { b := pcapng(binary.LittleEndian, []ngIface{{1, 6}}, recs); return b[:len(b)-3] }(),
			frames: 10, readErr: "packet 11", sentinel: io.ErrUnexpectedEOF},
		{name: "record length 4 GiB", file: patchBytes(pcapFile, func(b []byte) { binary.LittleEndian.PutUint32(b[24+8:], 0xffffffff) }),
			frames: 0, readErr: "packet 1"},
		{name: "snaplen 4 GiB, record 1 MiB", file: patchBytes(hugeSnap, func(b []byte) {
			binary.LittleEndian.PutUint32(b[24+8:], 1<<20)
			binary.LittleEndian.PutUint32(b[24+12:], 1<<20)
		}), frames: 0, readErr: "packet 1"},
		{name: "pcapng record length 4 GiB", file: patchBytes(pcapng(binary.LittleEndian, []ngIface{{1, 6}}, recs), func(b []byte) {
			// SHB 28 bytes, IDB 32 bytes, then the EPB's captured length.
			binary.LittleEndian.PutUint32(b[28+32+20:], 0xfffffff0)
		}), frames: 0, readErr: "packet 1"},
		{name: "pcapng unknown interface", file: patchBytes(pcapng(binary.LittleEndian, []ngIface{{1, 6}}, recs), func(b []byte) {
			binary.LittleEndian.PutUint32(b[28+32+8:], 5)
		}), frames: 0, readErr: "packet 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "bad.pcap", c.file)
			src, err := OpenFile(path)
			if c.openErr != "" {
				if err == nil {
					src.Close()
					t.Fatal("opened")
				}
				checkErr(t, err, path, c.openErr, c.sentinel)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := readAll(t, src)
			if len(got) != c.frames {
				t.Fatalf("%d frames before the error, want %d", len(got), c.frames)
			}
			if c.frames > 0 {
				sameRecords(t, got, recs[:c.frames])
			}
			checkErr(t, err, path, c.readErr, c.sentinel)
			if again := src.ReadFrame(&Frame{}); again == nil || again.Error() != err.Error() {
				t.Fatalf("second read after the error: %v", again)
			}
		})
	}
}

func checkErr(t *testing.T, err error, path, want string, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s and say %q", err, path, want)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
}

func patchBytes(b []byte, f func([]byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

func TestOpenFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.pcap")
	_, err := OpenFile(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
}
