package capture

import (
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/capture/packet"
)

// ngFile assembles pcapng blocks in one byte order, from the format's
// definition: type, total length, body padded to 32 bits, total length.
type ngFile struct {
	b  []byte
	ab binary.AppendByteOrder
}

func (w *ngFile) block(typ uint32, body []byte) *ngFile {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	w.b = w.ab.AppendUint32(w.b, typ)
	w.b = w.ab.AppendUint32(w.b, n)
	w.b = append(w.b, body...)
	w.b = w.ab.AppendUint32(w.b, n)
	return w
}

func (w *ngFile) section(ab binary.AppendByteOrder) *ngFile {
	w.ab = ab
	body := ab.AppendUint32(nil, 0x1a2b3c4d)
	body = ab.AppendUint16(body, 1)
	body = ab.AppendUint16(body, 0)
	body = ab.AppendUint64(body, ^uint64(0))
	body = ab.AppendUint16(body, 3) // shb_userappl
	body = ab.AppendUint16(body, 4)
	body = append(body, "test"...)
	body = ab.AppendUint32(body, 0)
	return w.block(0x0a0d0d0a, body)
}

// iface adds an interface; tsres 0 leaves if_tsresol out (µs default),
// offset 0 leaves if_tsoffset out.
func (w *ngFile) iface(link uint16, snaplen uint32, tsres uint8, offset int64) *ngFile {
	body := w.ab.AppendUint16(nil, link)
	body = w.ab.AppendUint16(body, 0)
	body = w.ab.AppendUint32(body, snaplen)
	body = w.ab.AppendUint16(body, 2) // if_name, 3 bytes: padding follows
	body = w.ab.AppendUint16(body, 3)
	body = append(body, 'e', 't', 'h', 0)
	if tsres != 0 {
		body = w.ab.AppendUint16(body, 9)
		body = w.ab.AppendUint16(body, 1)
		body = append(body, tsres, 0, 0, 0)
	}
	if offset != 0 {
		body = w.ab.AppendUint16(body, 14)
		body = w.ab.AppendUint16(body, 8)
		body = w.ab.AppendUint64(body, uint64(offset))
	}
	body = w.ab.AppendUint32(body, 0)
	return w.block(1, body)
}

func (w *ngFile) epb(id uint32, units uint64, data []byte, wire uint32, comment string) *ngFile {
	body := w.ab.AppendUint32(nil, id)
	body = w.ab.AppendUint32(body, uint32(units>>32))
	body = w.ab.AppendUint32(body, uint32(units))
	body = w.ab.AppendUint32(body, uint32(len(data)))
	body = w.ab.AppendUint32(body, wire)
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	if comment != "" {
		body = w.ab.AppendUint16(body, 1)
		body = w.ab.AppendUint16(body, uint16(len(comment)))
		body = append(body, comment...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		body = w.ab.AppendUint32(body, 0)
	}
	return w.block(6, body)
}

func (w *ngFile) spb(data []byte, wire uint32) *ngFile {
	return w.block(3, append(w.ab.AppendUint32(nil, wire), data...))
}

func (w *ngFile) obsoletePB(id uint16, units uint64, data []byte, wire uint32) *ngFile {
	body := w.ab.AppendUint16(nil, id)
	body = w.ab.AppendUint16(body, 0) // drops
	body = w.ab.AppendUint32(body, uint32(units>>32))
	body = w.ab.AppendUint32(body, uint32(units))
	body = w.ab.AppendUint32(body, uint32(len(data)))
	body = w.ab.AppendUint32(body, wire)
	return w.block(2, append(body, data...))
}

func bytesOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// blocksFile is a pcapng file with every kind of block a reader meets:
// two sections of opposite byte order, interface options, timestamp
// offsets, simple and obsolete packet blocks, and blocks to skip.
func blocksFile() ([]byte, []rec) {
	const sec = 1795548251 // a second in 2026
	w := &ngFile{}
	w.section(binary.LittleEndian).
		iface(packet.LinkEthernet, 0, 0, 0).                     // iface 0: µs by default
		iface(packet.LinkLinuxSLL2, 128, 9, 0).                  // iface 1: ns, snaplen 128
		iface(packet.LinkRaw, 0, 0x80|16, 3600).                 // iface 2: 2^-16 s, +1 h
		block(4, []byte{0, 0, 0, 0}).                            // name resolution
		epb(0, sec*1e6+123456, bytesOf(60, 1), 60, "a comment"). // µs
		epb(1, sec*1e9+987654321, bytesOf(61, 2), 1500, "").     // ns, cut
		epb(2, sec<<16|0x8000, bytesOf(62, 3), 62, "").          // half a second
		spb(bytesOf(200, 4), 200).                               // no time; iface 0 has no snap length
		block(5, make([]byte, 12)).                              // interface statistics
		block(0x40000bad, []byte("custom")).                     // custom block
		obsoletePB(1, sec*1e9+5, bytesOf(63, 5), 63).            // obsolete packet block, ns
		section(binary.BigEndian).                               // new section: interfaces reset
		iface(packet.LinkNull, 0, 3, 0).                         // iface 0 again: ms
		epb(0, sec*1e3+7, bytesOf(64, 6), 64, "").
		block(0x0000000a, []byte{0, 0, 0, 0, 0, 0, 0, 0}) // decryption secrets
	want := []rec{
		{iface: 0, link: packet.LinkEthernet, ts: sec*1e9 + 123456000, data: bytesOf(60, 1), wire: 60},
		{iface: 1, link: packet.LinkLinuxSLL2, ts: sec*1e9 + 987654321, data: bytesOf(61, 2), wire: 1500},
		{iface: 2, link: packet.LinkRaw, ts: (sec+3600)*1e9 + 5e8, data: bytesOf(62, 3), wire: 62},
		{iface: 0, link: packet.LinkEthernet, ts: 0, data: bytesOf(200, 4), wire: 200},
		{iface: 1, link: packet.LinkLinuxSLL2, ts: sec*1e9 + 5, data: bytesOf(63, 5), wire: 63},
		{iface: 0, link: packet.LinkNull, ts: sec*1e9 + 7e6, data: bytesOf(64, 6), wire: 64},
	}
	return w.b, want
}

func TestPcapngBlocks(t *testing.T) {
	file, want := blocksFile()
	_, got := readFile(t, "blocks", file)
	sameRecords(t, got, want)
}

// TestPcapngSimplePacketSnaplen: a simple packet block holds the packet
// up to the interface's snap length.
func TestPcapngSimplePacketSnaplen(t *testing.T) {
	w := &ngFile{}
	w.section(binary.LittleEndian).iface(packet.LinkEthernet, 64, 0, 0).spb(bytesOf(64, 9), 1514)
	_, got := readFile(t, "spb", w.b)
	sameRecords(t, got, []rec{{link: packet.LinkEthernet, data: bytesOf(64, 9), wire: 1514}})
}

func TestPcapngBad(t *testing.T) {
	good := func() *ngFile {
		w := &ngFile{}
		return w.section(binary.LittleEndian).iface(packet.LinkEthernet, 0, 0, 0)
	}
	cases := []struct {
		name    string
		file    []byte
		openErr string
		readErr string
	}{
		{name: "no byte-order magic", file: patchBytes(good().b, func(b []byte) { b[8] = 0 }), openErr: "without byte-order magic"},
		{name: "version 2", file: patchBytes(good().b, func(b []byte) { b[12] = 2 }), openErr: "version 2.0"},
		{name: "first block not a section", file: (&ngFile{ab: binary.LittleEndian}).block(1, make([]byte, 8)).b, openErr: "not a pcap or pcapng"},
		{name: "block length 8", file: append(good().b, 6, 0, 0, 0, 8, 0, 0, 0), readErr: "length 8"},
		{name: "block length not a multiple of 4", file: append(good().b, 6, 0, 0, 0, 33, 0, 0, 0), readErr: "length 33"},
		{name: "interface block 2 GiB", file: append(good().b, 1, 0, 0, 0, 0, 0, 0, 0x80), readErr: "exceeds"},
		{name: "record longer than its block", file: patchBytes(good().epb(0, 1, bytesOf(40, 0), 40, "").b, func(b []byte) {
			binary.LittleEndian.PutUint32(b[len(b)-72+20:], 100)
		}), readErr: "does not fit its block"},
		{name: "unknown interface", file: good().epb(3, 1, bytesOf(40, 0), 40, "").b, readErr: "interface 3"},
		{name: "resolution 10^-20", file: func() []byte {
			w := &ngFile{}
			return w.section(binary.LittleEndian).iface(1, 0, 20, 0).b
		}(), openErr: "", readErr: "10^-20"},
		{name: "resolution 2^-64", file: func() []byte {
			w := &ngFile{}
			return w.section(binary.LittleEndian).iface(1, 0, 0x80|64, 0).b
		}(), openErr: "", readErr: "2^-64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "bad.pcapng", c.file)
			src, err := OpenFile(path)
			if c.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.openErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("open error %v, want one naming the file and saying %q", err, c.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			_, err = readAll(t, src)
			if err == nil || err == io.EOF || !strings.Contains(err.Error(), c.readErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("read error %v, want one naming the file and saying %q", err, c.readErr)
			}
			t.Log(err)
		})
	}
}
