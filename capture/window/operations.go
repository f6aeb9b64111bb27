package window

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Bounds of the per-operation breakdown of a summary (DESIGN.md,
// "Application protocols" and "Limits").
const (
	MaxOperations   = 100 // operations kept by name per summary; the rest merge into OtherOperation
	MaxOperationLen = 200 // bytes of an operation name
	MaxStatuses     = 200 // statuses per summary
	MaxStatusLen    = 64  // bytes of a status
	maxProtocolLen  = 16
)

// OtherOperation holds the operations beyond MaxOperations, and OtherStatus
// the statuses beyond MaxStatuses.
const (
	OtherOperation = "other"
	OtherStatus    = "other"
)

// Operation is one operation's share of a server's transactions in a
// window: how many, how each ended, and how long the server took.
type Operation struct {
	Name         string `json:"operation"`
	Count        uint64 `json:"count"`
	OK           uint64 `json:"ok"`
	ClientError  uint64 `json:"client_error"`
	ServerError  uint64 `json:"server_error"`
	ResponseTime Dist   `json:"response_time"`
}

func (o *Operation) add(p *Operation) {
	o.Count = addSat(o.Count, p.Count)
	o.OK = addSat(o.OK, p.OK)
	o.ClientError = addSat(o.ClientError, p.ClientError)
	o.ServerError = addSat(o.ServerError, p.ServerError)
	o.ResponseTime.Merge(&p.ResponseTime)
}

func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// MergeBreakdown merges o's protocol, operations and statuses into s (and
// nothing else), bounded as Merge bounds them.
func (s *Summary) MergeBreakdown(o *Summary) {
	if s.Protocol == "" {
		s.Protocol = o.Protocol
	}
	s.Operations = mergeOperations(s.Operations, o.Operations)
	s.Statuses = mergeStatuses(s.Statuses, o.Statuses)
}

// mergeOperations merges b into a by name and bounds the result:
// the MaxOperations most frequent keep their names, the rest (and any
// "other" already there) become one OtherOperation. The result is sorted
// most frequent first, then by name, with OtherOperation last.
func mergeOperations(a, b []Operation) []Operation {
	if len(b) == 0 && len(a) <= MaxOperations+1 {
		return a
	}
	for i := range b {
		j := slices.IndexFunc(a, func(o Operation) bool { return o.Name == b[i].Name })
		if j < 0 {
			a = append(a, Operation{Name: b[i].Name})
			j = len(a) - 1
		}
		a[j].add(&b[i])
	}
	return BoundOperations(a)
}

// BoundOperations sorts ops most frequent first (then by name) and merges
// all but the MaxOperations most frequent named ones into OtherOperation,
// which comes last. It reuses ops' memory.
func BoundOperations(ops []Operation) []Operation {
	var other Operation
	hasOther := false
	if i := slices.IndexFunc(ops, func(o Operation) bool { return o.Name == OtherOperation }); i >= 0 {
		other, hasOther = ops[i], true
		ops = slices.Delete(ops, i, i+1)
	}
	slices.SortFunc(ops, func(x, y Operation) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	if len(ops) > MaxOperations {
		if !hasOther {
			other = Operation{Name: OtherOperation}
		}
		hasOther = true
		for i := MaxOperations; i < len(ops); i++ {
			other.add(&ops[i])
		}
		clear(ops[MaxOperations:])
		ops = ops[:MaxOperations]
	}
	if hasOther {
		ops = append(ops, other)
	}
	return ops
}

// mergeStatuses adds b's counts into a, keeping at most MaxStatuses keys,
// OtherStatus included: counts of statuses beyond them go to OtherStatus.
func mergeStatuses(a, b map[string]uint64) map[string]uint64 {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = make(map[string]uint64, len(b))
	}
	for k, n := range b {
		a = AddStatus(a, k, n)
	}
	return a
}

// AddStatus adds n to status k of m (made if nil), keeping at most
// MaxStatuses keys, one of them OtherStatus once a name found no room.
func AddStatus(m map[string]uint64, k string, n uint64) map[string]uint64 {
	if m == nil {
		m = make(map[string]uint64)
	}
	if v, ok := m[k]; ok {
		m[k] = addSat(v, n)
		return m
	}
	if k != OtherStatus && len(m) >= MaxStatuses-1 {
		k = OtherStatus
	}
	if _, ok := m[k]; !ok && len(m) >= MaxStatuses {
		// Full of names from outside: fold the least frequent into OtherStatus.
		victim := ""
		for name, c := range m {
			if victim == "" || c < m[victim] || c == m[victim] && name > victim {
				victim = name
			}
		}
		m[OtherStatus] = m[victim]
		delete(m, victim)
	}
	m[k] = addSat(m[k], n)
	return m
}

// validateBreakdown checks the protocol fields of a summary from outside.
func (s *Summary) validateBreakdown() error {
	if err := checkToken("protocol", s.Protocol, maxProtocolLen); err != nil {
		return err
	}
	switch s.Transport {
	case "", "tcp", "udp":
	default:
		return fmt.Errorf("transport %q: want tcp or udp", s.Transport)
	}
	if len(s.Operations) > MaxOperations+1 {
		return fmt.Errorf("%d operations: at most %d", len(s.Operations), MaxOperations+1)
	}
	seen := make(map[string]struct{}, len(s.Operations))
	for i := range s.Operations {
		o := &s.Operations[i]
		if err := checkName("operation", o.Name, MaxOperationLen); err != nil {
			return err
		}
		if _, dup := seen[o.Name]; dup {
			return fmt.Errorf("operation %q listed twice", o.Name)
		}
		seen[o.Name] = struct{}{}
		if o.OK+o.ClientError+o.ServerError < o.OK || o.OK+o.ClientError+o.ServerError > o.Count {
			return fmt.Errorf("operation %q: results add up to more than its count %d", o.Name, o.Count)
		}
		if o.ResponseTime.Count > o.Count {
			return fmt.Errorf("operation %q: %d response times for %d transactions", o.Name, o.ResponseTime.Count, o.Count)
		}
		if err := o.ResponseTime.validate(); err != nil {
			return fmt.Errorf("operation %q: response_time: %w", o.Name, err)
		}
	}
	if len(s.Statuses) > MaxStatuses {
		return fmt.Errorf("%d statuses: at most %d", len(s.Statuses), MaxStatuses)
	}
	for k := range s.Statuses {
		if err := checkName("status", k, MaxStatusLen); err != nil {
			return err
		}
	}
	return nil
}

func checkName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > max:
		return fmt.Errorf("%s %.40q…: %d bytes, at most %d", what, s, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q: not UTF-8", what, s)
	}
	return nil
}

// checkToken accepts "" or a short lower-case name such as "postgres".
func checkToken(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s %.40q: %d bytes, at most %d", what, s, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return errors.New(what + " " + fmt.Sprintf("%q", s) + ": want lower-case letters and digits")
		}
	}
	return nil
}
