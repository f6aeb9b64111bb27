package filter

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind int

const (
	tEOF     tokKind = iota
	tLParen          // (
	tRParen          // )
	tSlash           // /
	tAnd             // and, &&
	tOr              // or, ||
	tNot             // not, !
	tNum             // 80, 0x50, 010
	tHID             // 10.1.2.3 (2 to 4 parts)
	tHID6            // fe80::1
	tID              // anything else made of name characters
	tKeyword         // host, net, port, tcp, ...
	tOther           // punctuation the subset does not use
)

type token struct {
	kind tokKind
	text string
	pos  int    // byte offset in the expression
	num  uint32 // value of tNum
}

// keywords of the supported subset.
var keywords = map[string]bool{
	"host": true, "net": true, "port": true, "portrange": true, "mask": true,
	"src": true, "dst": true,
	"ip": true, "ip6": true, "arp": true, "rarp": true,
	"tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true,
	"vlan": true,
}

// unsupported are tcpdump keywords outside the subset; they get a clearer
// error than a plain syntax error.
var unsupported = map[string]bool{
	"ether": true, "gateway": true, "broadcast": true, "multicast": true,
	"less": true, "greater": true, "len": true, "proto": true, "protochain": true,
	"mpls": true, "pppoed": true, "pppoes": true, "geneve": true, "vxlan": true,
	"inbound": true, "outbound": true, "ifindex": true, "link": true, "igmp": true,
	"igrp": true, "pim": true, "vrrp": true, "carp": true, "ah": true, "esp": true,
	"atalk": true, "aarp": true, "decnet": true, "iso": true, "stp": true, "ipx": true,
	"netbeui": true, "llc": true, "radio": true, "wlan": true, "type": true,
	"subtype": true, "dir": true, "fddi": true, "tr": true, "ppp": true, "slip": true,
	"ip6proto": true, "ipproto": true,
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '-' || c == '_' || c == ':'
}

// lex splits expr into tokens, tEOF last.
func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tLParen, text: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, text: ")", pos: i})
			i++
		case c == '/':
			toks = append(toks, token{kind: tSlash, text: "/", pos: i})
			i++
		case c == '!' && !strings.HasPrefix(expr[i:], "!="):
			toks = append(toks, token{kind: tNot, text: "!", pos: i})
			i++
		case strings.HasPrefix(expr[i:], "&&"):
			toks = append(toks, token{kind: tAnd, text: "&&", pos: i})
			i += 2
		case strings.HasPrefix(expr[i:], "||"):
			toks = append(toks, token{kind: tOr, text: "||", pos: i})
			i += 2
		case isNameChar(c):
			j := i
			for j < len(expr) && isNameChar(expr[j]) {
				j++
			}
			t, err := word(expr[i:j], i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = j
		default:
			j := i + 1
			for j < len(expr) && !isNameChar(expr[j]) && expr[j] != ' ' && expr[j] != '(' && expr[j] != ')' {
				j++
			}
			toks = append(toks, token{kind: tOther, text: expr[i:j], pos: i})
			i = j
		}
	}
	return append(toks, token{kind: tEOF, pos: len(expr)}), nil
}

// word classifies one run of name characters.
func word(w string, pos int) (token, error) {
	t := token{text: w, pos: pos}
	switch {
	case w == "and":
		t.kind = tAnd
	case w == "or":
		t.kind = tOr
	case w == "not":
		t.kind = tNot
	case keywords[w]:
		t.kind = tKeyword
	case strings.Contains(w, ":"):
		t.kind = tHID6
	case isNumber(w):
		n, err := parseNumber(w)
		if err != nil {
			return t, fmt.Errorf("filter: %w at %q (position %d)", err, w, pos)
		}
		t.kind, t.num = tNum, n
	case isDotted(w):
		t.kind = tHID
	default:
		t.kind = tID
	}
	return t, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isNumber(w string) bool {
	if len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X") {
		for i := 2; i < len(w); i++ {
			if !strings.ContainsRune("0123456789abcdefABCDEF", rune(w[i])) {
				return false
			}
		}
		return true
	}
	return isDigits(w)
}

// parseNumber reads a number as libpcap does: 0x hex, leading 0 octal, else
// decimal, 32 bits at most.
func parseNumber(w string) (uint32, error) {
	base, digits := 10, w
	switch {
	case len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X"):
		base, digits = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, digits = 8, w[1:]
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		if base == 8 && strings.ContainsAny(digits, "89") {
			return 0, fmt.Errorf("number contains a non-octal digit")
		}
		return 0, fmt.Errorf("number overflows 32 bits")
	}
	return uint32(n), nil
}

// isDotted reports a dotted decimal address of 2 to 4 parts ("10.1", "10.0.0.1").
func isDotted(w string) bool {
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !isDigits(p) {
			return false
		}
	}
	return true
}
