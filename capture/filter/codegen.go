package filter

import (
	"golang.org/x/net/bpf"
)

// maxInsns is the kernel's limit for a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

// emitter writes the program backwards, from the return instructions to
// the entry, so that every jump target is already placed when a jump is
// written. A label is the number of instructions from the target to the end
// of the program: a jump written when len(rev) == n reaches label l with a
// skip of n-l.
type emitter struct {
	rev []bpf.Instruction
}

func (e *emitter) emit(ins bpf.Instruction) int {
	e.rev = append(e.rev, ins)
	return len(e.rev)
}

// gen writes n so that it continues at label t when true and f when false,
// and returns the label of its first instruction.
func (e *emitter) gen(n *cnode, t, f int) int {
	switch n.op {
	case opTrue:
		return t
	case opFalse:
		return f
	case opNot:
		return e.gen(n.l, f, t)
	case opAnd:
		r := e.gen(n.r, t, f)
		return e.gen(n.l, r, f)
	case opOr:
		r := e.gen(n.r, t, f)
		return e.gen(n.l, t, r)
	}
	return e.test(n.t, t, f)
}

// test writes load, optional mask and conditional jump (in reverse).
func (e *emitter) test(x test, t, f int) int {
	t, f = e.reach(t, f)
	e.emit(bpf.JumpIf{Cond: x.cond, Val: x.val, SkipTrue: uint8(len(e.rev) - t), SkipFalse: uint8(len(e.rev) - f)})
	if x.masked {
		e.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: x.mask})
	}
	if x.indirect {
		e.emit(bpf.LoadIndirect{Off: x.off, Size: x.size})
		return e.emit(bpf.LoadMemShift{Off: x.hdr})
	}
	return e.emit(bpf.LoadAbsolute{Off: x.off, Size: x.size})
}

// reach inserts unconditional jumps for targets beyond the 255 instructions
// a conditional jump can skip, and returns the labels to use instead.
func (e *emitter) reach(t, f int) (int, int) {
	for range 2 {
		switch {
		case len(e.rev)-t > 255:
			t = e.emit(bpf.Jump{Skip: uint32(len(e.rev) - t)})
		case len(e.rev)-f > 255:
			f = e.emit(bpf.Jump{Skip: uint32(len(e.rev) - f)})
		}
	}
	return t, f
}

// assemble generates the program for root, unoptimized: accepting returns
// snaplen.
func assemble(root *cnode, snaplen uint32) ([]bpf.Instruction, error) {
	switch root.op {
	case opTrue:
		return []bpf.Instruction{bpf.RetConstant{Val: snaplen}}, nil
	case opFalse:
		return []bpf.Instruction{bpf.RetConstant{Val: 0}}, nil
	}
	e := &emitter{}
	reject := e.emit(bpf.RetConstant{Val: 0})
	accept := e.emit(bpf.RetConstant{Val: snaplen})
	entry := e.gen(root, accept, reject)
	if entry != len(e.rev) {
		e.emit(bpf.Jump{Skip: uint32(len(e.rev) - entry)})
	}
	prog := make([]bpf.Instruction, len(e.rev))
	for i, ins := range e.rev {
		prog[len(prog)-1-i] = ins
	}
	return prog, nil
}
