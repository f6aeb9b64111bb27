package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/decode"
	"github.com/pastmon/pastmon/capture/packet"
)

// realCapture returns the real corpus capture, gzip-compressed as stored
// and uncompressed.
func realCapture(tb testing.TB) (gz, raw []byte) {
	tb.Helper()
	gz, err := os.ReadFile(filepath.Join(corpusDir(tb, "real"), "http-dev-server.pcap.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err = io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return gz, raw
}

// looping reads a capture held in memory over and over, reopening it at
// the end, so that one call of next is one packet.
type looping struct {
	tb   testing.TB
	file []byte
	src  *fileSource
}

func (l *looping) next(f *Frame) {
	for {
		if l.src != nil {
			err := l.src.ReadFrame(f)
			if err == nil {
				return
			}
			if err != io.EOF {
				l.tb.Fatal(err)
			}
		}
		src, err := openReader("bench", bytes.NewReader(l.file), nil, int64(len(l.file)))
		if err != nil {
			l.tb.Fatal(err)
		}
		l.src = src
	}
}

// BenchmarkReadDecode reads and decodes the real capture; one op is one
// packet. Reopening the file at its end costs a few allocations per pass
// of 12020 packets; TestReadAllocs shows the per-packet path itself
// allocates nothing.
func BenchmarkReadDecode(b *testing.B) {
	gz, raw := realCapture(b)
	ng := func() []byte {
		// The same frames as pcapng on an SLL2 and an Ethernet interface.
		ifaces := []ngIface{{packet.LinkEthernet, 9}, {packet.LinkLinuxSLL2, 6}}
		return pcapng(binary.LittleEndian, ifaces, mixed(ifaces, 12020))
	}()
	for _, c := range []struct {
		name string
		file []byte
	}{{"pcap", raw}, {"pcap.gz", gz}, {"pcapng-synthetic", ng}} {
		b.Run(c.name, func(b *testing.B) {
			l := &looping{tb: b, file: c.file}
			var f Frame
			var p packet.Packet
			var counts decode.Counts
			b.ReportAllocs()
			for b.Loop() {
				l.next(&f)
				p.TS, p.Iface = f.TS, f.Iface
				counts.Add(decode.Decode(f.Link, f.Data, &p))
			}
		})
	}
}

// TestReadAllocs proves that once warmed up, reading and decoding a packet
// allocates nothing, for pcap, gzip and pcapng with several link types.
func TestReadAllocs(t *testing.T) {
	gz, raw := realCapture(t)
	ifaces := []ngIface{{packet.LinkEthernet, 9}, {packet.LinkLinuxSLL2, 6}, {packet.LinkRaw, 3}}
	recs := mixed(ifaces, 3000)
	cases := []struct {
		name string
		file []byte
	}{
		{"pcap", raw},
		{"pcap.gz", gz},
		{"pcap ns", writePcap(t, true, packet.LinkLinuxSLL2, testRecords(3000, packet.LinkLinuxSLL2, time.Millisecond))},
		{"pcapng", pcapng(binary.LittleEndian, ifaces, recs)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := openReader("allocs", bytes.NewReader(c.file), nil, int64(len(c.file)))
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			var p packet.Packet
			read := func() {
				if err := src.ReadFrame(&f); err != nil {
					t.Fatal(err)
				}
				decode.Decode(f.Link, f.Data, &p)
			}
			for range 100 { // warm up: buffers grow to the largest record
				read()
			}
			if n := testing.AllocsPerRun(1000, read); n != 0 {
				t.Fatalf("%v allocs per packet, want 0", n)
			}
		})
	}
}
