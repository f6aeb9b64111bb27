// Package filter compiles tcpdump filter expressions to classic BPF and runs
// them over captured frames.
//
// The supported subset is host, net (N/len, N mask M), port, portrange
// (each with src/dst/src or dst/src and dst qualifiers, and with ip, ip6,
// arp, rarp, tcp, udp or sctp protocol qualifiers where tcpdump allows
// them), the protocols ip, ip6, arp, rarp, tcp, udp, sctp, icmp and icmp6,
// vlan [ID], and/&&, or/||, not/!, parentheses and tcpdump's implicit
// qualifiers ("host a or b", "port 80 or 443"). The programs accept and
// reject the same packets as tcpdump's (libpcap's) for pcap files: the code
// follows libpcap's test for test, in its order, which matters for
// truncated packets (a load past the end rejects the packet wherever it
// happens); jump threading then shortens it without changing a decision.
//
// One deliberate difference: BSD loopback (Null) headers hold the address
// family in the byte order of the capturing host, which tcpdump takes from
// the file header; a program here has no file header and accepts both.
//
// It does not resolve host or service names, and does not support byte
// offset expressions (tcp[13] & 2 != 0), MAC addresses or other protocols.
// The vlan primitive tests tags in the packet bytes, as for capture files;
// a live socket whose kernel strips tags into metadata does not see them.
package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Compile parses expr (tcpdump syntax; "" matches everything) and compiles
// it for frames of the given link type (the constants of capture/packet;
// LinkRaw also for 12 and 14, and for packets that start at the network
// header, as SOCK_DGRAM sockets deliver them). An accepting program returns
// snaplen. The program is valid for the kernel: at most 4096 instructions,
// forward jumps only, ending with a return.
func Compile(expr string, link uint16, snaplen uint32) ([]bpf.Instruction, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return e.Compile(link, snaplen)
}

// Compile compiles a parsed expression for one link type, as the package's
// Compile.
func (e *Expr) Compile(link uint16, snaplen uint32) ([]bpf.Instruction, error) {
	prog, err := e.compile(link, snaplen)
	if err != nil {
		return nil, err
	}
	prog = optimize(prog)
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("filter: expression too long: %d instructions, the maximum is %d", len(prog), maxInsns)
	}
	return prog, nil
}

// compile generates the unoptimized program, which follows tcpdump's
// unoptimized code test for test.
func (e *Expr) compile(link uint16, snaplen uint32) ([]bpf.Instruction, error) {
	if e.root == nil {
		return []bpf.Instruction{bpf.RetConstant{Val: snaplen}}, nil
	}
	b, err := newBuilder(link)
	if err != nil {
		return nil, err
	}
	root, err := b.build(e.root)
	if err != nil {
		return nil, err
	}
	return assemble(root, snaplen)
}
