package filter

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/capture/packet"
)

var update = flag.Bool("update", false, "rewrite testdata/programs.golden")

// TestProgramsGolden keeps a listing of the programs for a few expressions
// and link types, to review changes to the generated code; run with -update
// after checking a change (the semantics are checked by the other tests).
func TestProgramsGolden(t *testing.T) {
	cases := []struct {
		expr string
		link uint16
	}{
		{"tcp", packet.LinkEthernet},
		{"port 80", packet.LinkEthernet},
		{"port 80", packet.LinkRaw},
		{"src host 10.0.0.1", packet.LinkLinuxSLL},
		{"net fd00::/8", packet.LinkLinuxSLL2},
		{"portrange 1-1023 and ip6", packet.LinkIPv6},
		{"ip6", packet.LinkNull},
		{"ip", packet.LinkLoop},
		{"vlan 100 and udp", packet.LinkEthernet},
	}
	var b strings.Builder
	for _, c := range cases {
		prog, err := Compile(c.expr, c.link, 262144)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		fmt.Fprintf(&b, "# %s (link type %d)\n", c.expr, c.link)
		for i, ins := range prog {
			fmt.Fprintf(&b, "(%03d) %v\n", i, ins)
		}
		b.WriteString("\n")
	}
	path := filepath.Join("testdata", "programs.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("programs differ from %s (run with -update after review):\n%s", path, b.String())
	}
}
