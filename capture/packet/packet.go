// Package packet defines the decoded form of one captured TCP/IP packet that
// flows from the decoder to the TCP tracker. It holds fixed-size fields and a
// view of the payload in the captured frame, so that decoding into a reused
// Packet allocates nothing.
package packet

// Link types, as the DLT/LINKTYPE numbers of pcap files.
const (
	LinkNull      uint16 = 0   // BSD loopback
	LinkEthernet  uint16 = 1   // Ethernet, with 802.1Q/802.1ad tags
	LinkRaw       uint16 = 101 // raw IPv4 or IPv6 (also 12 and 14 on some systems)
	LinkLoop      uint16 = 108 // OpenBSD loopback
	LinkLinuxSLL  uint16 = 113
	LinkIPv4      uint16 = 228
	LinkIPv6      uint16 = 229
	LinkLinuxSLL2 uint16 = 276
)

// TCP flag bits as they appear in the TCP header.
const (
	FIN uint8 = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Packet is one decoded TCP segment. Addresses are 16 bytes; IPv4 addresses
// are stored in the first 4 bytes with V6 false.
type Packet struct {
	TS       int64 // packet time, Unix nanoseconds
	Iface    int32 // capture interface: pcapng interface id, live ifindex
	V6       bool
	Fragment bool // IP fragment: counted, never timed
	Src, Dst [16]byte
	SrcPort  uint16
	DstPort  uint16
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
	Payload  uint32 // TCP payload length from the IP header, not the capture
	// Data is the captured part of the payload: at most Payload bytes,
	// fewer when the snap length cut the frame. It points into the frame
	// and is valid only until the next frame is read.
	Data   []byte
	HasTS  bool // TCP timestamp option present
	TSval  uint32
	TSecr  uint32
	MSS    uint16
	WScale int8 // -1 when absent
	SACKOK bool
}
