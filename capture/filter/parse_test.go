package filter

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{"", "(all)"},
		{"  ", "(all)"},
		{"host 10.0.0.1", "(host 10.0.0.1)"},
		{"src host 10.0.0.1", "(src host 10.0.0.1)"},
		{"dst host fe80::1", "(dst host fe80::1)"},
		{"src 10.0.0.1", "(src host 10.0.0.1)"},
		{"ip6 host ::1", "(ip6 host ::1)"},
		{"arp host 10.0.0.1", "(arp host 10.0.0.1)"},
		{"host ::ffff:10.0.0.1", "(host ::ffff:10.0.0.1)"},
		{"host 10.0.0.1 or 10.0.0.2", "(or (host 10.0.0.1) (host 10.0.0.2))"},
		{"host 10.0.0.1 and not 10.0.0.2", "(and (host 10.0.0.1) (not (host 10.0.0.2)))"},
		{"host (10.0.0.1 or 10.0.0.2)", "(or (host 10.0.0.1) (host 10.0.0.2))"},
		{"port 80 or 443", "(or (port 80) (port 443))"},
		{"port 80 or (443 or 8080)", "(or (port 80) (or (port 443) (port 8080)))"},
		{"tcp port 80 || 443", "(or (tcp port 80) (tcp port 443))"},
		// A parenthesised term hands on the qualifiers from before it.
		{"port 80 and (tcp) and 443", "(and (and (port 80) (tcp)) (port 443))"},
		{"not host 10.0.0.1 or 10.0.0.2", "(or (not (host 10.0.0.1)) (host 10.0.0.2))"},
		{"port (80)", "(port 80)"},
		{"port 0x50", "(port 80)"},
		{"port 010", "(port 8)"},
		{"src or dst port 53", "(src or dst port 53)"},
		{"src and dst net 10.0.0.0/8", "(src and dst net 10.0.0.0/8)"},
		{"net 10.0.0.0/8", "(net 10.0.0.0/8)"},
		{"net 10", "(net 10.0.0.0/8)"},
		{"net 172.16", "(net 172.16.0.0/16)"},
		{"net 192.168.1", "(net 192.168.1.0/24)"},
		{"net 0.0.0.0/0", "(net 0.0.0.0/0)"},
		{"host 10.1", "(host 10.1.0.0/16)"},
		{"net 192.168.0.0 mask 255.255.0.0", "(net 192.168.0.0/16)"},
		{"net 10.0.0.0 mask 255.0.255.0", "(net 10.0.0.0 mask 255.0.255.0)"},
		{"net fe80::/10", "(net fe80::/10)"},
		{"ip6 src net ::/0", "(ip6 src net ::/0)"},
		{"portrange 1-1024", "(portrange 1-1024)"},
		{"portrange 20-10", "(portrange 10-20)"},
		{"udp src portrange 80", "(udp src portrange 80-80)"},
		// and and or have the same precedence and associate to the left.
		{"tcp and udp or icmp", "(or (and (tcp) (udp)) (icmp))"},
		{"tcp or udp and icmp", "(and (or (tcp) (udp)) (icmp))"},
		{"tcp or (udp and icmp)", "(or (tcp) (and (udp) (icmp)))"},
		{"not tcp and udp", "(and (not (tcp)) (udp))"},
		{"!tcp && (udp || icmp6)", "(and (not (tcp)) (or (udp) (icmp6)))"},
		{"not not ip", "(not (not (ip)))"},
		{"ip and sctp and arp and rarp", "(and (and (and (ip) (sctp)) (arp)) (rarp))"},
		// Every primitive after vlan looks 4 bytes further.
		{"vlan", "(vlan)"},
		{"vlan (5)", "(vlan 5)"},
		{"vlan and ip", "(and (vlan) (ip @vlan1))"},
		{"ip or vlan", "(or (ip) (vlan))"},
		{"vlan 100 and vlan 200 and host 10.0.0.1", "(and (and (vlan 100) (vlan 200 @vlan1)) (host 10.0.0.1 @vlan2))"},
		{"(vlan or ip) and tcp", "(and (or (vlan) (ip @vlan1)) (tcp @vlan1))"},
		{strings.Repeat("(", 100) + "tcp" + strings.Repeat(")", 100), "(tcp)"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{"(tcp prot 80)", `filter: syntax error at "prot" (position 5)`},
		{"10.0.0.1", `filter: syntax error at "10.0.0.1" (position 0)`},
		{"tcp or 80", `filter: syntax error at "80" (position 7)`},
		{"host", `filter: syntax error at end of expression (position 4)`},
		{"(tcp", `filter: syntax error at end of expression (position 4)`},
		{"tcp)", `filter: syntax error at ")" (position 3)`},
		{"host 10.0.0.1 and", `filter: syntax error at end of expression (position 17)`},
		{"not", `filter: syntax error at end of expression (position 3)`},
		{"net 10/8", `filter: syntax error at "/" (position 6)`},
		{"tcp[13] & 2 != 0", `filter: syntax error at "[" (position 3)`},
		{"TCP", `filter: syntax error at "TCP" (position 0)`},
		{"host foo", `filter: hostnames are not supported; use an address at "foo" (position 5)`},
		{"host 10.0.0.1 or foo.example", `hostnames are not supported`},
		{"port http", `filter: service names are not supported; use a port number at "http" (position 5)`},
		{"portrange ftp-http", `service names are not supported`},
		{"ether host 00:11:22:33:44:55", `filter: "ether" is not supported (position 0)`},
		{"port 70000", `illegal port number 70000 > 65535`},
		{"portrange 1-70000", `illegal port number 70000 > 65535`},
		{"vlan 5000", `VLAN tag 5000 greater than maximum 4095`},
		{"net 10.0.0.1/8", `non-network bits set at "10.0.0.1"`},
		{"net 10.0.0.1 mask 255.0.0.0", `non-network bits set`},
		{"net fe80::1/64", `non-network bits set`},
		{"net 10.0.0.0/33", `mask length must be <= 32`},
		{"net fe80::/129", `mask length must be <= 128`},
		{"host 10.0.0.0/8", `mask syntax for networks only`},
		{"host fe80::/64", `mask syntax for networks only`},
		{"ip6 host 10.0.0.1", `'ip6' modifier applied to ip host`},
		{"ip host ::1", `'ip' modifier applied to ip6 host`},
		{"tcp host 10.0.0.1", `'tcp' modifier applied to host`},
		{"ip port 80", `illegal qualifier of 'port'`},
		{"port 10.0.0.1", `'port' modifier applied to IP address`},
		{"portrange fe80::1", `'portrange' modifier applied to IP address`},
		{"host 256.1.1.1", `invalid IPv4 address at "256.1.1.1"`},
		{"host fe80::zz", `invalid IPv6 address at "fe80::zz"`},
		{"host fe80::1%eth0", `syntax error`},
		{"port 99999999999", `number overflows 32 bits`},
		{"port 09", `non-octal digit`},
		{strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300), `nested more than 200 deep`},
		{strings.Repeat("not ", 300) + "tcp", `nested more than 200 deep`},
		{"host " + strings.Repeat("not ", 300) + "10.0.0.1", `nested more than 200 deep`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.expr, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error %q, want %q", tt.expr, err, tt.want)
		}
		if _, err := NewMatcher(tt.expr); err == nil {
			t.Errorf("NewMatcher(%q) succeeded", tt.expr)
		}
		if _, err := Compile(tt.expr, 1, 65535); err == nil {
			t.Errorf("Compile(%q) succeeded", tt.expr)
		}
	}
}
