package filter

import (
	"golang.org/x/net/bpf"
)

// The optimizer threads jumps: where the outcome of a test is already
// known on the edge that reaches it (the same load was tested before on
// that path), the edge jumps straight to the outcome; where the register
// already holds what a test would load, the edge skips the load. A skipped
// load was done before on the same path, so it cannot be the one that runs
// past the end of the packet: accepting and rejecting stay exactly as in
// the unoptimized program, truncated packets included. Code nothing reaches
// any more is then dropped.

// loadKey names what a test puts in A: the load, and the mask applied.
type loadKey struct {
	indirect bool
	hdr      uint32 // X = 4*([hdr]&0xf) for indirect loads
	off      uint32
	size     int
	masked   bool
	mask     uint32
}

// fact is a test outcome known on a path.
type fact struct {
	key  loadKey
	cond bpf.JumpTest
	val  uint32
	out  bool
}

// flat is the program with absolute jump targets.
type flat struct {
	ins    []bpf.Instruction
	jt, jf []int // targets of JumpIf (jt also of Jump)
}

func optimize(prog []bpf.Instruction) []bpf.Instruction {
	f := flatten(prog)
	for pass := 0; pass < 4; pass++ {
		if !f.thread() {
			break
		}
	}
	out, ok := f.compact()
	if !ok {
		return prog
	}
	return out
}

func flatten(prog []bpf.Instruction) *flat {
	f := &flat{ins: prog, jt: make([]int, len(prog)), jf: make([]int, len(prog))}
	for i, ins := range prog {
		switch j := ins.(type) {
		case bpf.JumpIf:
			f.jt[i], f.jf[i] = i+1+int(j.SkipTrue), i+1+int(j.SkipFalse)
		case bpf.Jump:
			f.jt[i] = i + 1 + int(j.Skip)
		}
	}
	return f
}

// testAt returns what A holds at the conditional jump j: the load and mask
// just before it.
func (f *flat) testAt(j int) (loadKey, bool) {
	var k loadKey
	i := j - 1
	if i >= 0 {
		if a, ok := f.ins[i].(bpf.ALUOpConstant); ok && a.Op == bpf.ALUOpAnd {
			k.masked, k.mask = true, a.Val
			i--
		}
	}
	if i < 0 {
		return k, false
	}
	switch l := f.ins[i].(type) {
	case bpf.LoadAbsolute:
		k.off, k.size = l.Off, l.Size
		return k, true
	case bpf.LoadIndirect:
		if i == 0 {
			return k, false
		}
		x, ok := f.ins[i-1].(bpf.LoadMemShift)
		if !ok {
			return k, false
		}
		k.indirect, k.hdr, k.off, k.size = true, x.Off, l.Off, l.Size
		return k, true
	}
	return k, false
}

// testFrom returns the conditional jump of the test sequence
// ([ldx] ld [and] jcc) that t starts or lies in, and its key. A target
// inside a sequence skips loads whose values the registers already hold.
func (f *flat) testFrom(t int) (int, loadKey, bool) {
	i := t
	if _, ok := f.ins[i].(bpf.LoadMemShift); ok {
		i++
	}
	switch f.ins[i].(type) {
	case bpf.LoadAbsolute, bpf.LoadIndirect:
		i++
	}
	if a, ok := f.ins[i].(bpf.ALUOpConstant); ok && a.Op == bpf.ALUOpAnd {
		i++
	}
	if _, ok := f.ins[i].(bpf.JumpIf); !ok {
		return 0, loadKey{}, false
	}
	k, ok := f.testAt(i)
	return i, k, ok
}

// rewind moves a target that skips loads back to the start of its test
// when the registers do not hold what the skipped loads would give: A holds
// a, X holds 4*([x]&0xf) when xok.
func (f *flat) rewind(t int, a loadKey, x uint32, xok bool) int {
	switch f.ins[t].(type) {
	case bpf.JumpIf:
		k, ok := f.testAt(t)
		if ok && k == a {
			return t
		}
		t--
		if _, ok := f.ins[t].(bpf.ALUOpConstant); ok {
			t--
		}
		if _, ok := f.ins[t].(bpf.LoadIndirect); ok {
			t--
		}
		return t
	case bpf.LoadIndirect:
		if m, ok := f.ins[t-1].(bpf.LoadMemShift); ok && !(xok && m.Off == x) {
			return t - 1
		}
	}
	return t
}

// thread retargets every edge it can; it reports whether anything changed.
func (f *flat) thread() bool {
	known := f.knownFacts()
	changed := false
	for j, ins := range f.ins {
		jc, ok := ins.(bpf.JumpIf)
		if !ok || known[j] == nil {
			continue
		}
		key, ok := f.testAt(j)
		if !ok {
			continue
		}
		for _, out := range []bool{true, false} {
			target := &f.jf[j]
			if out {
				target = &f.jt[j]
			}
			facts := append(append([]fact(nil), known[j].facts...), fact{key, jc.Cond, jc.Val, out})
			if t := f.follow(j, *target, key, facts); t != *target {
				*target, changed = t, true
			}
		}
	}
	return changed
}

// factSet is what is known about the packet on every path to an
// instruction; nil for an instruction no path reaches.
type factSet struct{ facts []fact }

// maxFacts bounds the facts carried per instruction, and so the cost of
// the analysis on long programs; fewer facts only mean fewer shortcuts.
const maxFacts = 48

// knownFacts computes, for every instruction, the test outcomes that hold
// on all paths reaching it. Jumps only go forward, so one pass in program
// order sees every predecessor before its successors.
func (f *flat) knownFacts() []*factSet {
	known := make([]*factSet, len(f.ins))
	known[0] = &factSet{}
	meet := func(t int, facts []fact) {
		if known[t] == nil {
			known[t] = &factSet{facts: facts}
			return
		}
		known[t].facts = intersect(known[t].facts, facts)
	}
	for i, ins := range f.ins {
		in := known[i]
		if in == nil {
			continue
		}
		switch jc := ins.(type) {
		case bpf.JumpIf:
			key, ok := f.testAt(i)
			for _, out := range []bool{true, false} {
				facts := in.facts
				if ok {
					facts = withFact(facts, fact{key, jc.Cond, jc.Val, out})
				}
				if out {
					meet(f.jt[i], facts)
				} else {
					meet(f.jf[i], facts)
				}
			}
		case bpf.Jump:
			meet(f.jt[i], in.facts)
		case bpf.RetConstant, bpf.RetA:
		default:
			meet(i+1, in.facts)
		}
	}
	return known
}

func withFact(facts []fact, fc fact) []fact {
	if len(facts) >= maxFacts {
		facts = facts[1:]
	}
	return append(append(make([]fact, 0, len(facts)+1), facts...), fc)
}

func intersect(a, b []fact) []fact {
	var out []fact
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// follow walks from target t of jump j, where A holds a, as far as the
// known facts decide, and returns the farthest target a conditional jump at
// j can reach.
func (f *flat) follow(j, t int, a loadKey, facts []fact) int {
	x, xok := a.hdr, a.indirect // X as j's test left it
	best := t
	for steps := 0; steps < 64; steps++ {
		if _, ok := f.ins[t].(bpf.Jump); ok {
			t = f.jt[t]
		} else {
			jcc, k, ok := f.testFrom(t)
			if !ok {
				break
			}
			jc := f.ins[jcc].(bpf.JumpIf)
			out, known := decide(facts, k, jc.Cond, jc.Val)
			if !known {
				if k == a {
					t = jcc // A already holds this value
				} else if _, ok := f.ins[t].(bpf.LoadMemShift); ok && xok && k.indirect && k.hdr == x {
					t++ // X already holds this header length
				}
				if t-j-1 <= 255 {
					best = t
				}
				break
			}
			facts = append(facts, fact{k, jc.Cond, jc.Val, out})
			t = f.jf[jcc]
			if out {
				t = f.jt[jcc]
			}
			// That edge may skip loads for registers as jcc's test left
			// them; here they are as j's test left them.
			t = f.rewind(t, a, x, xok)
		}
		if t-j-1 <= 255 {
			best = t
		}
	}
	return best
}

// decide tells the outcome of a test from the facts, if they settle it.
func decide(facts []fact, k loadKey, cond bpf.JumpTest, val uint32) (bool, bool) {
	for _, fc := range facts {
		if fc.key != k {
			continue
		}
		if fc.cond == bpf.JumpEqual && fc.out {
			return eval(cond, fc.val, val), true
		}
		if fc.cond == cond && fc.val == val {
			return fc.out, true
		}
	}
	return false, false
}

func eval(cond bpf.JumpTest, a, v uint32) bool {
	switch cond {
	case bpf.JumpEqual:
		return a == v
	case bpf.JumpGreaterThan:
		return a > v
	case bpf.JumpGreaterOrEqual:
		return a >= v
	case bpf.JumpBitsSet:
		return a&v != 0
	}
	return false
}

// compact drops what no path reaches and re-encodes the jumps.
func (f *flat) compact() ([]bpf.Instruction, bool) {
	n := len(f.ins)
	reach := make([]bool, n)
	reach[0] = true
	for i := 0; i < n; i++ {
		if !reach[i] {
			continue
		}
		switch f.ins[i].(type) {
		case bpf.JumpIf:
			reach[f.jt[i]], reach[f.jf[i]] = true, true
		case bpf.Jump:
			reach[f.jt[i]] = true
		case bpf.RetConstant, bpf.RetA:
		default:
			if i+1 < n {
				reach[i+1] = true
			}
		}
	}
	newIdx := make([]int, n+1)
	k := 0
	for i := 0; i < n; i++ {
		newIdx[i] = k
		if reach[i] {
			k++
		}
	}
	out := make([]bpf.Instruction, 0, k)
	for i, ins := range f.ins {
		if !reach[i] {
			continue
		}
		at := newIdx[i]
		switch j := ins.(type) {
		case bpf.JumpIf:
			st, sf := newIdx[f.jt[i]]-at-1, newIdx[f.jf[i]]-at-1
			if st > 255 || sf > 255 {
				return nil, false
			}
			j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
			ins = j
		case bpf.Jump:
			j.Skip = uint32(newIdx[f.jt[i]] - at - 1)
			ins = j
		}
		out = append(out, ins)
	}
	return out, true
}
