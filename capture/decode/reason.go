package decode

import (
	"strconv"
	"strings"
)

// Reason says why Decode did or did not yield a TCP segment (OK) or a UDP
// datagram (UDP).
type Reason uint8

// The reasons, OK first. Their String forms are what analyze prints.
const (
	OK           Reason = iota // a complete TCP segment
	Truncated                  // the capture ends inside a link, IP or TCP header
	UnknownLink                // a link type the decoder does not know
	NotIP                      // ARP, LLDP, STP, ...: neither IPv4 nor IPv6
	BadIPHeader                // wrong version, header length or payload length
	NotTCP                     // ICMP, ESP, UDP fragments, ...: neither TCP nor UDP
	Fragment                   // a fragment of a TCP segment: counted, not timed
	BadTCPHeader               // data offset below 20 or beyond the IP payload
	UDP                        // a UDP datagram: addresses, ports, Payload and Data are set
	BadUDPHeader               // an IP payload too short for a UDP header
	NumReasons                 // number of reasons, for arrays indexed by Reason
)

var reasonNames = [NumReasons]string{
	OK:           "ok",
	Truncated:    "truncated",
	UnknownLink:  "unknown-link",
	NotIP:        "not-ip",
	BadIPHeader:  "bad-ip-header",
	NotTCP:       "not-tcp",
	Fragment:     "fragment",
	BadTCPHeader: "bad-tcp-header",
	UDP:          "udp",
	BadUDPHeader: "bad-udp-header",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason-" + strconv.Itoa(int(r))
}

// Counts tallies Decode results by Reason.
type Counts [NumReasons]uint64

// Add counts one result. Reasons out of range are ignored.
func (c *Counts) Add(r Reason) {
	if r < NumReasons {
		c[r]++
	}
}

// Merge adds the tallies of o to c.
func (c *Counts) Merge(o *Counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Skipped returns the total of every reason but OK.
func (c *Counts) Skipped() uint64 {
	var n uint64
	for r := Reason(1); r < NumReasons; r++ {
		n += c[r]
	}
	return n
}

// Count is one non-zero entry of Counts.
type Count struct {
	Reason Reason
	N      uint64
}

// NonZero lists the reasons other than OK that occurred, in Reason order.
func (c *Counts) NonZero() []Count {
	var out []Count
	for r := Reason(1); r < NumReasons; r++ {
		if c[r] > 0 {
			out = append(out, Count{Reason: r, N: c[r]})
		}
	}
	return out
}

// String lists the skipped reasons as "truncated 12, not-tcp 40", or ""
// when nothing was skipped.
func (c *Counts) String() string {
	var b strings.Builder
	for _, e := range c.NonZero() {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Reason.String())
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(e.N, 10))
	}
	return b.String()
}
