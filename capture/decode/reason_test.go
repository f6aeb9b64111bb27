package decode

import "testing"

func TestCounts(t *testing.T) {
	cases := []struct {
		name    string
		add     []Reason
		want    string
		skipped uint64
	}{
		{"nothing", nil, "", 0},
		{"only ok", []Reason{OK, OK}, "", 0},
		{"mixed, in reason order", []Reason{NotTCP, OK, Truncated, NotTCP, Fragment, NotTCP, Truncated}, "truncated 2, not-tcp 3, fragment 1", 6},
		{"out of range ignored", []Reason{NumReasons, 200, BadTCPHeader}, "bad-tcp-header 1", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n Counts
			for _, r := range c.add {
				n.Add(r)
			}
			if got := n.String(); got != c.want {
				t.Fatalf("String %q, want %q", got, c.want)
			}
			if got := n.Skipped(); got != c.skipped {
				t.Fatalf("Skipped %d, want %d", got, c.skipped)
			}
			var sum Counts
			sum.Merge(&n)
			sum.Merge(&n)
			for _, e := range sum.NonZero() {
				if e.N != 2*n[e.Reason] {
					t.Fatalf("merged %v = %d, want %d", e.Reason, e.N, 2*n[e.Reason])
				}
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := Reason(0); r < NumReasons; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Fatalf("reason %d has name %q (empty or duplicate)", r, s)
		}
		seen[s] = true
	}
	if got := Reason(99).String(); got != "reason-99" {
		t.Fatalf("unknown reason prints %q", got)
	}
}
