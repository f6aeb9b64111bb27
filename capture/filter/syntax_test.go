package filter

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestSyntaxLikeTcpdump checks that an expression is accepted here exactly
// when tcpdump accepts it (for Ethernet), over the grammar's corners.
func TestSyntaxLikeTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed")
	}
	path := filepath.Join(t.TempDir(), "empty.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcapgo.NewWriter(f).WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	f.Close()
	exprs := []string{
		"host 10.0.0.1", "10.0.0.1", "host 10.0.0.1 or 10.0.0.2", "host (10.0.0.1 or 10.0.0.2)",
		"host 10.0.0.1 or (10.0.0.2 and not 10.0.0.3)", "port 80 or (443)", "port (80)", "port ((80))",
		"port 80 and (tcp) and 443", "(port 80) or 443", "tcp or 80", "vlan or 5", "vlan 5 or 6",
		"not host 10.0.0.1 or 10.0.0.2", "host not 10.0.0.1", "! host 10.0.0.1 and ! 10.0.0.2",
		"src 10.0.0.1", "dst 10.0.0.1 or src 10.0.0.2", "src or dst 10.0.0.1", "src and dst host 10.0.0.1",
		"dst or src port 53", "dst and src port 53", "tcp src port 80", "udp dst portrange 1-100",
		"sctp port 9", "icmp port 1", "ip port 80", "ip6 port 80", "arp port 1", "ip host 10.0.0.1",
		"ip6 host 10.0.0.1", "ip host ::1", "ip6 net ::/0", "arp net 10", "rarp host 10.0.0.1", "tcp host 10.0.0.1",
		"net 10", "net 10.1", "net 10.1.2", "net 10/8", "net 10.0.0.0/8", "net 10.0.0.0/33", "net 10.0.0.1/8",
		"net 10.0.0.0 mask 255.0.0.0", "host 10.0.0.0 mask 255.0.0.0", "host 10.0.0.0/8", "net ::1", "host fe80::/10",
		"net fe80::/10", "net fe80::1/10", "host 10.1", "host 10", "port 65535", "port 65536", "portrange 1-65536",
		"portrange 10-1", "portrange 10", "port 0x50", "port 010", "port 08", "vlan 4095", "vlan 4096", "vlan (5)",
		"vlan and vlan and vlan", "", "()", "(tcp", "tcp)", "tcp and", "and tcp", "not", "not not tcp",
		"tcp && udp || icmp", "tcp &&& udp", "tcp ||", "!tcp", "!!tcp", "!(tcp)", "ip6 and (udp or tcp)",
		"host 10.0.0.1 and port 80 or 443", "(host 10.0.0.1 and port 80) or 443", "src portrange 1-2 or 3-4",
		"host ::ffff:10.0.0.1", "host 1.2.3.4.5", "host 256.0.0.1", "host 1::2::3", "port 80 443",
		"tcp port", "host", "src", "src host", "tcp src", "portrange", "vlan vlan", "ip ip", "ip and ip6 and arp",
		"icmp6 or sctp", "udp port 53 or (udp port 5353)", "not (port 1 or 2) and not 3",
	}
	for _, expr := range exprs {
		cmd := exec.Command(tcpdump, "-d", "-r", path, expr)
		out, terr := cmd.CombinedOutput()
		if strings.Contains(string(out), "expression rejects all packets") {
			terr = nil // parsed; libpcap's optimizer proved it false
		}
		_, err := Compile(expr, 1, 65535)
		if (terr == nil) != (err == nil) {
			t.Errorf("%q: tcpdump %v (%s), here %v", expr, terr, strings.TrimSpace(lastLine(string(out))), err)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
