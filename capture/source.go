// Package capture turns packets into measurements: it reads frames from
// capture files or live sockets, decodes them, tracks every TCP connection,
// times it as DESIGN.md defines, and hands closed 5-minute windows per server
// to a callback. It knows nothing about HTTP servers or databases.
package capture

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

// Frame is one captured frame as a source delivers it. Data is only valid
// until the next ReadFrame call on the same source.
type Frame struct {
	Data    []byte
	TS      int64 // packet time, Unix nanoseconds
	Iface   int32
	Link    uint16
	WireLen int // original length on the wire
}

// Source yields frames: capture files and live sockets.
type Source interface {
	// ReadFrame fills f with the next frame. It returns io.EOF at the end of
	// a file, and the context's error when a live source is stopped.
	ReadFrame(f *Frame) error
	Close() error
}
