package capture

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/decode"
	"github.com/pastmon/pastmon/capture/packet"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzPcap and FuzzPcapng")

// fuzzRead reads a capture from memory to its end. Nothing may panic, an
// error must name the source and the packet, no record may exceed
// maxRecord, and every frame goes through Decode.
func fuzzRead(t *testing.T, data []byte) {
	src, err := openReader("fuzz.cap", bytes.NewReader(data), nil, int64(len(data)))
	if err != nil {
		if !strings.HasPrefix(err.Error(), "open fuzz.cap: ") {
			t.Fatalf("open error without the name: %v", err)
		}
		return
	}
	defer src.Close()
	var p packet.Packet
	for n := 0; ; n++ {
		if n > len(data) {
			t.Fatalf("%d frames from %d bytes", n, len(data))
		}
		var f Frame
		err := src.ReadFrame(&f)
		if err == io.EOF {
			return
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("read fuzz.cap: packet %d: ", n+1)) {
				t.Fatalf("read error without name and packet: %v", err)
			}
			return
		}
		if len(f.Data) > maxRecord {
			t.Fatalf("record of %d bytes", len(f.Data))
		}
		decode.Decode(f.Link, f.Data, &p)
	}
}

func FuzzPcap(f *testing.F) {
	recs := testRecords(3, packet.LinkEthernet, time.Millisecond)
	f.Add(writePcap(f, false, packet.LinkEthernet, recs))
	f.Add(bigEndianPcap(true, packet.LinkLinuxSLL, recs))
	f.Fuzz(fuzzRead)
}

func FuzzPcapng(f *testing.F) {
	ifaces := []ngIface{{packet.LinkEthernet, 6}, {packet.LinkLinuxSLL2, 9}, {packet.LinkRaw, 0x80 | 20}}
	f.Add(pcapng(binary.LittleEndian, ifaces, mixed(ifaces, 4)))
	f.Add(pcapng(binary.BigEndian, ifaces, mixed(ifaces, 4)))
	f.Fuzz(fuzzRead)
}

// TestUpdateFuzzSeeds writes the committed seed corpora (-update-seeds):
// small real captures of the corpus, whole and cut short, and synthetic
// files in every flavour the reader handles.
func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzPcap and FuzzPcapng")
	}
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := corpusDir(t, "tcpdump-tests")
	for _, name := range []string{"802.1ad_QinQ.pcap", "tcp-handshake-nano.pcap", "LINKTYPE_RAW_ipv6.pcap",
		"tcp_rst_diag_payload.pcap", "mptcp-tcprst.pcap", "aoe-oobr-1.pcap", "pim_header_asan-2.pcap"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b = b[:min(len(b), 1500)]
		write("FuzzPcap", "real-"+name, b)
		write("FuzzPcap", "cut-"+name, b[:len(b)*2/3])
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".pcapng") || info.Size() > 3000 || n >= 8 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzPcapng", "real-"+e.Name(), b)
		write("FuzzPcapng", "cut-"+e.Name(), b[:len(b)*2/3])
		n++
	}
	recs := testRecords(3, packet.LinkEthernet, time.Millisecond)
	write("FuzzPcap", "synthetic-le-micro", writePcap(t, false, packet.LinkEthernet, recs))
	write("FuzzPcap", "synthetic-le-nano", writePcap(t, true, packet.LinkLinuxSLL2, recs))
	write("FuzzPcap", "synthetic-be-micro", bigEndianPcap(false, packet.LinkNull, recs))
	write("FuzzPcap", "synthetic-gzip", gz(t, writePcap(t, false, packet.LinkEthernet, recs)))
	ifaces := []ngIface{{packet.LinkEthernet, 6}, {packet.LinkLinuxSLL2, 9}, {packet.LinkRaw, 0x80 | 20}}
	write("FuzzPcapng", "synthetic-le", pcapng(binary.LittleEndian, ifaces, mixed(ifaces, 4)))
	write("FuzzPcapng", "synthetic-be", pcapng(binary.BigEndian, ifaces, mixed(ifaces, 4)))
	blocks, _ := blocksFile()
	write("FuzzPcapng", "synthetic-all-blocks", blocks)
	write("FuzzPcapng", "synthetic-gzip", gz(t, pcapng(binary.LittleEndian, ifaces, mixed(ifaces, 4))))
}
