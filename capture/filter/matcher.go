package filter

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/net/bpf"
)

// matchSnaplen is what the Matcher's programs return on accept; any value
// above zero would do.
const matchSnaplen = 262144

// Matcher runs one expression over frames of any link type. It compiles the
// expression for a link type the first time a frame of that type comes, and
// keeps the program. It is safe for concurrent use.
type Matcher struct {
	expr *Expr
	mu   sync.Mutex               // serialises compiling
	vms  atomic.Pointer[[]linkVM] // copied on write
}

type linkVM struct {
	link uint16
	vm   *bpf.VM
	err  error // the link type cannot be filtered with this expression
}

// NewMatcher parses expr; "" matches every frame.
func NewMatcher(expr string) (*Matcher, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return &Matcher{expr: e}, nil
}

// Match reports whether the frame data of the given link type passes the
// filter. The error says that the expression cannot be applied to this link
// type (an unsupported link type, or vlan on a link without tags); it is the
// same error on every call for that link type.
func (m *Matcher) Match(link uint16, data []byte) (bool, error) {
	if m.expr.root == nil {
		return true, nil
	}
	lv := m.lookup(link)
	if lv == nil {
		lv = m.compile(link)
	}
	if lv.err != nil {
		return false, lv.err
	}
	n, err := lv.vm.Run(data)
	if err != nil {
		return false, fmt.Errorf("filter: run for link type %d: %w", link, err)
	}
	return n > 0, nil
}

func (m *Matcher) lookup(link uint16) *linkVM {
	p := m.vms.Load()
	if p == nil {
		return nil
	}
	vms := *p
	for i := range vms {
		if vms[i].link == link {
			return &vms[i]
		}
	}
	return nil
}

func (m *Matcher) compile(link uint16) *linkVM {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lv := m.lookup(link); lv != nil {
		return lv
	}
	lv := linkVM{link: link}
	prog, err := m.expr.Compile(link, matchSnaplen)
	if err == nil {
		lv.vm, err = bpf.NewVM(prog)
		if err != nil {
			err = fmt.Errorf("filter: load program for link type %d: %w", link, err)
		}
	}
	lv.err = err
	var vms []linkVM
	if p := m.vms.Load(); p != nil {
		vms = append(vms, *p...)
	}
	vms = append(vms, lv)
	m.vms.Store(&vms)
	return &vms[len(vms)-1]
}
