package live

import (
	"fmt"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attachFilter attaches the whole socket filter: the prefix that keeps
// IPv4/IPv6 on the chosen interfaces, then the user's program.
func attachFilter(fd int, user []bpf.Instruction, ifindexes []int32) error {
	raw, err := bpf.Assemble(program(user, ifindexes))
	if err != nil {
		return fmt.Errorf("assemble filter: %w", err)
	}
	if len(raw) > bpfMaxInstructions {
		return fmt.Errorf("filter of %d instructions, the kernel takes at most %d", len(raw), bpfMaxInstructions)
	}
	// bpf.RawInstruction and unix.SockFilter share the layout of struct
	// sock_filter.
	fprog := unix.SockFprog{
		Len:    uint16(len(raw)),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0])),
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

const bpfMaxInstructions = 4096 // BPF_MAXINSNS

// Compile-time check that the cast in attachFilter stays valid.
var _ = [1]struct{}{}[unsafe.Sizeof(bpf.RawInstruction{})-unsafe.Sizeof(unix.SockFilter{})]

// program builds the socket filter. Its prefix
//   - drops the outgoing copy of loopback packets, which the kernel shows
//     twice (out and in), as tcpdump does;
//   - keeps IPv4 and IPv6 only, as nothing else is measured;
//   - keeps only the chosen interfaces when there are several (a single one
//     is bound instead).
//
// What passes runs the user's program.
func program(user []bpf.Instruction, ifindexes []int32) []bpf.Instruction {
	var p prefix
	p.add(bpf.LoadExtension{Num: bpf.ExtType})
	p.jump(unix.PACKET_OUTGOING, next, skip(2))
	p.add(bpf.LoadExtension{Num: bpf.ExtLinkLayerType})
	p.jump(unix.ARPHRD_LOOPBACK, reject, next)
	onIP := accept
	if len(ifindexes) > 1 {
		onIP = ifaceCheck
	}
	p.add(bpf.LoadExtension{Num: bpf.ExtProto})
	p.jump(unix.ETH_P_IP, onIP, next)
	p.jump(unix.ETH_P_IPV6, onIP, reject)
	if len(ifindexes) > 1 {
		p.ifaceAt = len(p.insns)
		p.add(bpf.LoadExtension{Num: bpf.ExtInterfaceIndex})
		for i, idx := range ifindexes {
			miss := next
			if i == len(ifindexes)-1 {
				miss = reject
			}
			p.jump(uint32(idx), accept, miss)
		}
	}
	return append(p.resolve(), user...)
}

// Jump targets inside the prefix: the next instruction, skip(n) further,
// the interface check, the rejecting return at the prefix's end, or the
// user's program after it.
const (
	next       = 0
	reject     = -1
	accept     = -2
	ifaceCheck = -3
)

func skip(n int) int { return n }

type prefixJump struct {
	at      int
	ifTrue  int
	ifFalse int
}

type prefix struct {
	insns   []bpf.Instruction
	jumps   []prefixJump
	ifaceAt int // index of the interface check
}

func (p *prefix) add(in bpf.Instruction) { p.insns = append(p.insns, in) }

func (p *prefix) jump(val uint32, ifTrue, ifFalse int) {
	p.jumps = append(p.jumps, prefixJump{at: len(p.insns), ifTrue: ifTrue, ifFalse: ifFalse})
	p.insns = append(p.insns, bpf.JumpIf{Cond: bpf.JumpEqual, Val: val})
}

// resolve fills in the jump offsets and appends the rejecting return.
func (p *prefix) resolve() []bpf.Instruction {
	rej := len(p.insns)
	offset := func(at, target int) uint8 {
		switch target {
		case reject:
			return uint8(rej - at - 1)
		case accept:
			return uint8(rej - at)
		case ifaceCheck:
			return uint8(p.ifaceAt - at - 1)
		}
		return uint8(target)
	}
	for _, j := range p.jumps {
		in := p.insns[j.at].(bpf.JumpIf)
		in.SkipTrue, in.SkipFalse = offset(j.at, j.ifTrue), offset(j.at, j.ifFalse)
		p.insns[j.at] = in
	}
	return append(p.insns, bpf.RetConstant{Val: 0})
}
