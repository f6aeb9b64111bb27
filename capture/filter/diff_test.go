package filter

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// diffExprs use addresses, ports and vlan ids that occur in the corpus.
var diffExprs = []string{
	"host 10.210.0.2",
	"src host 10.210.0.1",
	"dst host fd10::2",
	"host fd10::1 or 10.210.0.1",
	"net 10.210.0.0/16",
	"net 192.168.1.0 mask 255.255.255.0",
	"src net 10.0.0.0/8 and not dst net 10.0.0.0/8",
	"net fe80::/10",
	"net 10",
	"dst net 224.0.0.0/4",
	"port 8080",
	"src port 8080",
	"dst port 8080 or 6379",
	"tcp port 22 or 80 or 443",
	"portrange 1-1024",
	"src portrange 1024-65535 and tcp",
	"portrange 6000-7000 and ip6",
	"tcp",
	"udp",
	"icmp",
	"icmp6",
	"sctp",
	"ip",
	"ip6",
	"not ip",
	"not tcp and not udp",
	"! (tcp || udp) && ip",
	"tcp and (port 8080 or port 6379)",
	"udp port 53 or icmp6",
	"(host 127.0.0.1 and port 6379) or (host ::1 and tcp)",
	"host 224.0.0.13 or 224.0.0.2 or 224.0.0.18",
	"arp or rarp",
	"ip6 and udp and not port 53",
	"src and dst net 10.0.0.0/8",
	"vlan",
	"vlan and ip",
	"vlan 200 and vlan 2001 and arp",
	"vlan 100 and host 169.254.100.5",
	"vlan 202 and udp port 646",
	"ip or vlan 1213",
	"tcp and not vlan",
	"not port 8080",
	"not (src port 8080 or dst portrange 40000-50000)",
	"udp portrange 1-1024 or tcp dst portrange 6000-7000",
	"src or dst port 6379",
	"ip host 127.0.0.1 and not arp host 127.0.0.1",
	"arp host 10.0.0.1 or rarp or icmp",
	"ip6 net fd10::/16 and tcp",
	"dst net ff02::/16 or src net fe80::/64",
	"host 10.1 or net 192.168",
	"net 10.210.0.2 mask 255.255.0.255",
	"tcp src port 8080 && (dst host 10.210.0.1 || dst host fd10::1)",
	"! ip6 && ! ip",
	"sctp or icmp6 and not udp",
	"not vlan and tcp", // tcp looks 4 bytes further after vlan: matches nothing untagged
}

// emptyOK are expressions that may match no frame.
var emptyOK = map[string]bool{"not vlan and tcp": true}

// TestDifferentialTcpdump checks that the Matcher accepts exactly the frames
// tcpdump accepts, for every expression above, over the corpus. Frames of
// one link type are written to one pcap file with the frame number as time
// stamp (seconds), so that tcpdump's output names the frames it accepted.
func TestDifferentialTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed")
	}
	byLink, files := corpusFrames(t)
	links := make([]uint16, 0, len(byLink))
	for l := range byLink {
		links = append(links, l)
	}
	sort.Slice(links, func(i, j int) bool { return links[i] < links[j] })
	paths := map[uint16]string{}
	total := 0
	for _, l := range links {
		paths[l] = writeMerged(t, l, byLink[l])
		total += len(byLink[l])
	}
	t.Logf("%d frames of link types %v from %d files", total, links, files)

	for _, expr := range diffExprs {
		m, err := NewMatcher(expr)
		if err != nil {
			t.Fatalf("NewMatcher(%q): %v", expr, err)
		}
		matched := 0
		for _, l := range links {
			want, terr := runTcpdump(t, tcpdump, paths[l], expr)
			frames := byLink[l]
			var got []int
			var merr error
			plain := plainVM(t, expr, l)
			for i, fr := range frames {
				ok, err := m.Match(l, fr.data)
				if err != nil {
					merr = err
					break
				}
				if ok {
					got = append(got, i)
				}
				if n, _ := plain.Run(fr.data); (n > 0) != ok {
					t.Errorf("%q: %s frame %d (link type %d): optimized %v, unoptimized %v",
						expr, filepath.Base(fr.file), fr.idx, l, ok, n > 0)
				}
			}
			if terr != nil || merr != nil {
				if (terr == nil) != (merr == nil) {
					t.Errorf("%q on link type %d: tcpdump error %v, Matcher error %v", expr, l, terr, merr)
				}
				continue
			}
			matched += len(got)
			compareIndices(t, expr, frames, got, want)
		}
		t.Logf("%-55q matched %d", expr, matched)
		if matched == 0 && !emptyOK[expr] {
			t.Errorf("%q matched no frame: the expression tests nothing", expr)
		}
	}
}

// plainVM runs the unoptimized program (one that rejects everything where
// the expression does not apply to the link type).
func plainVM(t testing.TB, expr string, link uint16) *bpf.VM {
	t.Helper()
	e, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := e.compile(link, 1)
	if err != nil {
		prog = []bpf.Instruction{bpf.RetConstant{}}
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func compareIndices(t *testing.T, expr string, frames []frame, got, want []int) {
	t.Helper()
	in := func(s []int) map[int]bool {
		m := make(map[int]bool, len(s))
		for _, i := range s {
			m[i] = true
		}
		return m
	}
	g, w := in(got), in(want)
	bad := 0
	for i, fr := range frames {
		if g[i] != w[i] {
			if bad < 10 {
				t.Errorf("%q: %s frame %d (link type %d, %d bytes): Matcher %v, tcpdump %v",
					expr, filepath.Base(fr.file), fr.idx, fr.link, len(fr.data), g[i], w[i])
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%q: %d mismatches in all", expr, bad)
	}
}

func writeMerged(t *testing.T, link uint16, frames []frame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("link%d.pcap", link))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkType(link)); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	return path
}

// runTcpdump returns the indices of the frames tcpdump accepts.
func runTcpdump(t *testing.T, tcpdump, path, expr string) ([]int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, tcpdump, "-r", path, "-w", "-", expr)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if strings.Contains(errb.String(), "expression rejects all packets") {
			return nil, nil // libpcap's optimizer proved it false
		}
		return nil, fmt.Errorf("tcpdump %q: %v: %s", expr, err, strings.TrimSpace(errb.String()))
	}
	r, err := pcapgo.NewReader(&out)
	if err != nil {
		t.Fatalf("tcpdump %q output: %v", expr, err)
	}
	var idx []int
	for {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			return idx, nil
		}
		idx = append(idx, int(ci.Timestamp.Unix()))
	}
}
