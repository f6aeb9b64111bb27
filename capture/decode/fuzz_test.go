package decode

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pastmon/pastmon/capture/packet"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecode from the test frames and the corpus")

// FuzzDecode checks that no input panics, and that Decode's result does
// not depend on what the reused Packet held before.
func FuzzDecode(f *testing.F) {
	for _, c := range goodCases(f) {
		f.Add(c.link, c.f.data)
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		clean := packet.Packet{TS: 42, Iface: 3}
		r1 := Decode(link, data, &clean)
		used := dirty()
		r2 := Decode(link, data, &used)
		if r1 != r2 || !same(clean, used) {
			t.Fatalf("result depends on the previous packet: %v %+v vs %v %+v", r1, clean, r2, used)
		}
		if r1 >= NumReasons {
			t.Fatalf("reason %d out of range", r1)
		}
		if r1 == OK && (clean.WScale < -1 || clean.WScale > 14 || clean.Fragment) {
			t.Fatalf("implausible OK packet %+v", clean)
		}
		if r1 == Fragment && !clean.Fragment {
			t.Fatal("Fragment reason without Fragment flag")
		}
	})
}

// TestUpdateFuzzSeeds writes the committed seed corpus: every test frame
// and the first frames of a few real captures (-update-seeds).
func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, link uint16, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\nuint16(%d)\n[]byte(%q)\n", link, data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range goodCases(t) {
		write(fmt.Sprintf("built-%02d", i), c.link, c.f.data)
	}
	corpus := filepath.Join("..", "..", "..", "shared", "corpus")
	for _, name := range []string{"real/http-dev-server.pcap.gz",
		"tcpdump-tests/802.1ad_QinQ.pcap", "tcpdump-tests/tcp-handshake-nano.pcap", "tcpdump-tests/LINKTYPE_RAW_ipv6.pcap",
		"tcpdump-tests/tcp_rst_diag_payload.pcap", "tcpdump-tests/LINKTYPE_IPV4.pcap", "tcpdump-tests/mptcp-tcprst.pcap",
		"tcpdump-tests/ipv6-routing-header.pcap"} {
		fh, err := os.Open(filepath.Join(corpus, name))
		if err != nil {
			t.Logf("skip %s: %v", name, err)
			continue
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			write(fmt.Sprintf("real-%s-%d", filepath.Base(filepath.Dir(name))+"-"+filepath.Base(name), i), uint16(r.LinkType()), data)
		}
		fh.Close()
	}
}
