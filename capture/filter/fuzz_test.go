package filter

import (
	"testing"

	"github.com/pastmon/pastmon/capture/packet"
)

// FuzzParse: any expression parses or fails with an error; what parses
// compiles, for every link type, to a program the kernel would accept, or
// fails with an error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "host 10.0.0.1 or 10.0.0.2", "port 80 or (443 or 8080)", "vlan 100 and vlan 200 and tcp",
		"src and dst net 10.0.0.0/8", "net fe80::/10", "!(tcp||udp)&&ip", "portrange 1-1024", "net 10 mask 255.0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := Parse(expr)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse(%q) returned a tree and error %v", expr, err)
			}
			return
		}
		_ = e.String()
		for _, link := range allLinks {
			prog, err := e.Compile(link, 65535)
			if err != nil {
				continue
			}
			checkProgram(t, prog)
		}
	})
}

var fuzzExprs = []string{
	"port 80",
	"not port 80",
	"host 10.0.0.1 or fd00::1",
	"not (host 10.0.0.1 or fd00::1)",
	"vlan and vlan 5 and tcp portrange 1-1024",
	"not (vlan and vlan 5 and tcp portrange 1-1024)",
	"icmp6 or sctp or arp host 10.0.0.2",
	"not (icmp6 or sctp or arp host 10.0.0.2)",
	"host 10.0.0.1 or port 80 or icmp",
	"not (host 10.0.0.1 or port 80 or icmp)",
	"tcp portrange 1-100 or udp src port 53 or sctp or ip6 net fd00::/8",
	"not (tcp portrange 1-100 or udp src port 53 or sctp or ip6 net fd00::/8)",
}

// FuzzMatch runs a few expressions over arbitrary frames of every link
// type: no panic; the optimized program decides as the unoptimized one; and
// never both an expression and its negation match (a load past the end
// rejects both, but nothing accepts both).
func FuzzMatch(f *testing.F) {
	f.Add(uint16(packet.LinkEthernet), []byte{})
	f.Add(uint16(packet.LinkRaw), []byte{0x45, 0, 0, 20})
	ms := make([]*Matcher, len(fuzzExprs))
	for i, expr := range fuzzExprs {
		m, err := NewMatcher(expr)
		if err != nil {
			f.Fatal(err)
		}
		ms[i] = m
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		link = allLinks[int(link)%len(allLinks)]
		for i, m := range ms {
			ok, err := m.Match(link, data)
			if err != nil {
				continue
			}
			if n, _ := plainVM(t, fuzzExprs[i], link).Run(data); (n > 0) != ok {
				t.Fatalf("link type %d, %q: optimized %v, unoptimized %v on % x", link, fuzzExprs[i], ok, n > 0, data)
			}
		}
		for i := 0; i < len(ms); i += 2 {
			yes, err1 := ms[i].Match(link, data)
			no, err2 := ms[i+1].Match(link, data)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%q: errors %v and %v", fuzzExprs[i], err1, err2)
			}
			if yes && no {
				t.Fatalf("link type %d: %q and its negation both match % x", link, fuzzExprs[i], data)
			}
		}
	})
}
