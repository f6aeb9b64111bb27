package filter

import (
	"testing"

	"golang.org/x/net/bpf"
)

// TestOptimizeKeepsDecisions runs the optimized and the unoptimized
// program over every prefix of the test packets on every link type: jump
// threading must not change a decision, also where a load runs past the end
// of a truncated packet. The optimized program is never longer.
func TestOptimizeKeepsDecisions(t *testing.T) {
	exprs := append([]string{
		"host 10.0.0.1 or port 80 or icmp",
		"not (host 10.0.0.1 or port 80 or icmp)",
		"tcp portrange 1-100 or udp src port 53 or sctp or ip6 net fd00::/8",
		"(tcp or udp) and not (port 53 or portrange 440-450) and (ip6 or net 10)",
		"arp or rarp or ip host 10.0.0.2 or icmp6",
	}, diffExprs...)
	pkts := testPackets(t)
	runs := 0
	for _, expr := range exprs {
		e, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, link := range allLinks {
			plain, err := e.compile(link, 1)
			if err != nil {
				continue
			}
			opt := optimize(plain)
			if len(opt) > len(plain) {
				t.Errorf("%q link type %d: optimized %d instructions, unoptimized %d", expr, link, len(opt), len(plain))
			}
			checkProgram(t, opt)
			vp, err1 := bpf.NewVM(plain)
			vo, err2 := bpf.NewVM(opt)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for name, p := range pkts {
				frame, ok := frameFor(link, p, false)
				if !ok {
					continue
				}
				for n := 0; n <= len(frame); n++ {
					a, _ := vp.Run(frame[:n])
					b, _ := vo.Run(frame[:n])
					runs++
					if a != b {
						t.Errorf("%q link type %d, %s cut to %d bytes: unoptimized %d, optimized %d", expr, link, name, n, a, b)
					}
				}
			}
		}
	}
	t.Logf("%d runs", runs)
}
