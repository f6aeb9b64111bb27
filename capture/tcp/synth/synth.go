// Package synth writes synthetic TCP captures with exact timestamps, for the
// tests of the measuring engine and for the benchmark generator. A Capture
// collects Ethernet frames (optionally 802.1Q-tagged, IPv4 or IPv6, with or
// without TCP timestamps) built with gopacket's layers, and writes them as a
// nanosecond pcap file, or as pcapng when several interfaces are used. It
// does not simulate TCP: the caller decides every segment and its time; Conn
// only keeps sequence numbers, acknowledgements and timestamp echoes
// consistent.
package synth

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pastmon/pastmon/capture/packet"
)

// Side is one end of a Conn.
type Side int

// The two sides.
const (
	Client Side = 0
	Server Side = 1
)

// Frame is one captured frame.
type Frame struct {
	TS    time.Time
	Iface int
	Data  []byte
}

// Capture accumulates frames. Frames are written in time order (stable for
// equal times), whatever order they were added in.
type Capture struct {
	Frames []Frame
	// Snap, when > 0, is the snap length: Write keeps at most Snap bytes
	// of each frame (the headers still give the whole length).
	Snap   int
	ifaces int
	buf    gopacket.SerializeBuffer
}

// Conn is one TCP connection of a Capture.
type Conn struct {
	c      *Capture
	Client netip.AddrPort
	Server netip.AddrPort
	// TS adds the TCP timestamp option to every segment. TSval is the
	// sender's millisecond clock; TSecr echoes the last TSval the other
	// side sent.
	TS    bool
	VLAN  uint16 // 802.1Q VLAN id, 0 for untagged
	Iface int    // capture interface
	// Dup, when > 0, also captures every segment on interface Iface+1,
	// Dup later.
	Dup time.Duration
	ISN [2]uint32
	nxt [2]uint32
	ts  [2]uint32 // TS.Recent per side: the TSval it will echo (RFC 7323)
	// lastAck is the acknowledgement each side sent last.
	lastAck [2]uint32
	sentAck [2]bool
	started [2]bool
}

// Conn adds a connection between client and server ("ip:port").
func (c *Capture) Conn(client, server string) *Conn {
	k := &Conn{c: c, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)}
	k.ISN = [2]uint32{1_000_000, 5_000_000}
	return k
}

// Nxt is the next sequence number side will send.
func (k *Conn) Nxt(s Side) uint32 {
	if !k.started[s] {
		return k.ISN[s]
	}
	return k.nxt[s]
}

// Send adds a segment from side s at time at with the given flags
// (packet.SYN, …) and n payload bytes, at the side's next sequence number,
// acknowledging everything the other side sent (when flags has ACK). It
// returns the segment's sequence number.
func (k *Conn) Send(at time.Time, s Side, flags uint8, n int) uint32 {
	seq := k.Nxt(s)
	k.SendSeq(at, s, flags, seq, n)
	end := seq + uint32(n)
	if flags&(packet.SYN|packet.FIN) != 0 {
		end++
	}
	k.nxt[s] = end
	k.started[s] = true
	return seq
}

// SendSeq adds a segment with an explicit sequence number and does not move
// the side's next sequence number (retransmissions, reordering).
func (k *Conn) SendSeq(at time.Time, s Side, flags uint8, seq uint32, n int) {
	ack := uint32(0)
	if flags&packet.ACK != 0 {
		ack = k.Nxt(1 - s)
	}
	k.SendRaw(at, s, flags, seq, ack, n)
}

// SendRaw adds a segment with explicit sequence and acknowledgement numbers.
func (k *Conn) SendRaw(at time.Time, s Side, flags uint8, seq, ack uint32, n int) {
	k.sendRaw(at, s, flags, seq, ack, make([]byte, n))
}

// SendData is Send with the payload's bytes (Send's payload is zeros).
func (k *Conn) SendData(at time.Time, s Side, flags uint8, payload []byte) uint32 {
	seq := k.Nxt(s)
	ack := uint32(0)
	if flags&packet.ACK != 0 {
		ack = k.Nxt(1 - s)
	}
	k.sendRaw(at, s, flags, seq, ack, payload)
	k.nxt[s] = seq + uint32(len(payload))
	if flags&(packet.SYN|packet.FIN) != 0 {
		k.nxt[s]++
	}
	k.started[s] = true
	return seq
}

func (k *Conn) sendRaw(at time.Time, s Side, flags uint8, seq, ack uint32, payload []byte) {
	src, dst := k.Client, k.Server
	if s == Server {
		src, dst = dst, src
	}
	t := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, Window: 65535,
		FIN: flags&packet.FIN != 0, SYN: flags&packet.SYN != 0, RST: flags&packet.RST != 0,
		PSH: flags&packet.PSH != 0, ACK: flags&packet.ACK != 0,
	}
	if flags&packet.SYN != 0 {
		t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}})
	}
	if k.TS {
		val := uint32(at.UnixMilli()) + uint32(s)*1_000_000
		ecr := k.ts[s]
		if flags&packet.ACK == 0 {
			ecr = 0
		}
		// The receiver keeps TSval as TS.Recent only from a segment at or
		// below the acknowledgement it sent last, as RFC 7323 says, so that
		// a delayed ACK echoes the earliest unacknowledged segment.
		r := 1 - s
		if !k.sentAck[r] || int32(seq-k.lastAck[r]) <= 0 {
			k.ts[r] = val
		}
		opt := make([]byte, 8)
		putU32(opt, val)
		putU32(opt[4:], ecr)
		t.Options = append(t.Options,
			layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: opt})
	}
	if flags&packet.ACK != 0 {
		k.lastAck[s], k.sentAck[s] = ack, true
	}
	data := k.c.frame(src.Addr(), dst.Addr(), k.VLAN, t, payload)
	k.c.add(at, k.Iface, data)
	if k.Dup > 0 {
		k.c.add(at.Add(k.Dup), k.Iface+1, data)
	}
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func (c *Capture) add(at time.Time, iface int, data []byte) {
	c.Frames = append(c.Frames, Frame{TS: at, Iface: iface, Data: data})
	c.ifaces = max(c.ifaces, iface+1)
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func (c *Capture) frame(src, dst netip.Addr, vlan uint16, t *layers.TCP, payload []byte) []byte {
	if c.buf == nil {
		c.buf = gopacket.NewSerializeBuffer()
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	ipType := layers.EthernetTypeIPv4
	if src.Is6() {
		ipType = layers.EthernetTypeIPv6
	}
	if vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: vlan, Type: ipType})
	} else {
		eth.EthernetType = ipType
	}
	if src.Is6() {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		_ = t.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		_ = t.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	}
	ls = append(ls, t, gopacket.Payload(payload))
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(c.buf, opts, ls...); err != nil {
		panic(fmt.Sprintf("synth: serialize: %v", err)) // only programming errors get here
	}
	return append([]byte(nil), c.buf.Bytes()...)
}

// Write writes the frames in time order: pcap with nanosecond timestamps
// for one interface, pcapng for several.
func (c *Capture) Write(w io.Writer) error {
	sort.SliceStable(c.Frames, func(i, j int) bool { return c.Frames[i].TS.Before(c.Frames[j].TS) })
	if c.ifaces <= 1 {
		pw := pcapgo.NewWriterNanos(w)
		if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			return err
		}
		for _, f := range c.Frames {
			data := c.snap(f.Data)
			ci := gopacket.CaptureInfo{Timestamp: f.TS, CaptureLength: len(data), Length: len(f.Data)}
			if err := pw.WritePacket(ci, data); err != nil {
				return err
			}
		}
		return nil
	}
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = layers.LinkTypeEthernet
	nw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		return err
	}
	for i := 1; i < c.ifaces; i++ {
		intf.Name = fmt.Sprintf("intf%d", i)
		if _, err := nw.AddInterface(intf); err != nil {
			return err
		}
	}
	for _, f := range c.Frames {
		data := c.snap(f.Data)
		ci := gopacket.CaptureInfo{Timestamp: f.TS, CaptureLength: len(data), Length: len(f.Data), InterfaceIndex: f.Iface}
		if err := nw.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return nw.Flush()
}

// WriteFile writes the capture to path.
func (c *Capture) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
