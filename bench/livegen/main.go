// Command livegen writes a pcap of synthetic but realistic TCP traffic for
// the live-capture benchmark (bench/live.sh): many concurrent clients open
// connections to a few servers, make one to several request/response turns
// with TCP timestamps, delayed ACKs and multi-segment responses, and close.
// Every frame is complete Ethernet/IPv4/TCP with valid checksums, so it can
// be replayed onto an interface with tcpreplay.
//
// It is a benchmark tool only: it does not model loss, retransmission or
// IPv6.
package main

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	out := flag.String("o", "live.pcap", "output pcap file")
	packets := flag.Int("packets", 1_200_000, "number of packets to write")
	concurrent := flag.Int("concurrent", 300, "connections open at once")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := generate(*out, *packets, *concurrent, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "livegen:", err)
		os.Exit(1)
	}
}

func generate(path string, packets, concurrent int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	g := &generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()}
	for range concurrent {
		g.open()
	}
	buf := make([]byte, 1600)
	for n := 0; n < packets; n++ {
		frame, ts := g.next(buf)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// step is one segment a connection will send.
type step struct {
	fromClient bool
	flags      uint8
	payload    int
	delay      int64 // ns after the previous segment of this connection
}

// side is one end of a connection.
type side struct {
	ip     [4]byte
	port   uint16
	seq    uint32
	tsBase uint32 // TSval at time 0; the clock ticks every ms
	lastTS uint32 // latest TSval seen from the other side
}

type conn struct {
	client, server side
	steps          []step
	at             int64 // time of the next step
	index          int   // in the heap
}

type generator struct {
	rnd     *rand.Rand
	now     int64
	queue   connQueue
	clients int
}

var serverPorts = []uint16{80, 443, 5432, 6379, 8080, 3306}

const (
	fin = 1
	syn = 2
	psh = 8
	ack = 16
	mss = 1448
)

// open starts a new connection with its whole script of segments.
func (g *generator) open() {
	g.clients++
	c := &conn{
		client: side{ip: [4]byte{10, 1, byte(g.clients >> 8 % 250), byte(g.clients%250 + 1)}, port: uint16(20000 + g.clients%40000),
			seq: g.rnd.Uint32(), tsBase: g.rnd.Uint32()},
		server: side{ip: [4]byte{10, 2, 0, byte(1 + g.rnd.IntN(8))}, port: serverPorts[g.rnd.IntN(len(serverPorts))],
			seq: g.rnd.Uint32(), tsBase: g.rnd.Uint32()},
	}
	rtt := int64(100_000 + g.rnd.IntN(3_000_000)) // 0.1–3.1 ms
	c.steps = append(c.steps,
		step{true, syn, 0, 0},
		step{false, syn | ack, 0, rtt / 2},
		step{true, ack, 0, rtt / 2},
	)
	for range 1 + g.rnd.IntN(4) {
		c.steps = append(c.steps, step{true, psh | ack, 80 + g.rnd.IntN(700), g.think(50_000)})
		think := rtt/2 + g.think(2_000_000)
		body := 100 + g.rnd.IntN(3000)
		if g.rnd.IntN(50) == 0 {
			body = 20_000 + g.rnd.IntN(100_000) // the odd large download
		}
		for seg := 0; body > 0; seg++ {
			n := min(body, mss)
			body -= n
			flags := uint8(ack)
			if body == 0 {
				flags |= psh
			}
			c.steps = append(c.steps, step{false, flags, n, think})
			think = 12_000
			if seg%2 == 1 || body == 0 {
				c.steps = append(c.steps, step{true, ack, 0, rtt / 2})
				think = rtt / 2
			}
		}
	}
	c.steps = append(c.steps,
		step{true, fin | ack, 0, g.think(1_000_000)},
		step{false, fin | ack, 0, rtt / 2},
		step{true, ack, 0, rtt / 2},
	)
	c.at = g.now + g.think(5_000_000)
	heap.Push(&g.queue, c)
}

// think returns an exponentially distributed delay with the given mean.
func (g *generator) think(mean float64) int64 { return int64(g.rnd.ExpFloat64() * mean) }

// next writes the next segment of the earliest connection into buf.
func (g *generator) next(buf []byte) ([]byte, int64) {
	c := g.queue[0]
	g.now = c.at
	s := c.steps[0]
	c.steps = c.steps[1:]
	frame := c.segment(buf, s, g.now)
	if len(c.steps) == 0 {
		heap.Pop(&g.queue)
		g.open()
	} else {
		c.at = g.now + c.steps[0].delay
		heap.Fix(&g.queue, 0)
	}
	return frame, g.now
}

// segment lays out Ethernet, IPv4 and TCP with the timestamp option.
func (c *conn) segment(buf []byte, s step, now int64) []byte {
	from, to := &c.server, &c.client
	if s.fromClient {
		from, to = &c.client, &c.server
	}
	tsval := from.tsBase + uint32(now/1e6)
	const ipLen, tcpLen = 20, 32
	total := ipLen + tcpLen + s.payload
	frame := buf[:14+total]
	clear(frame)
	be := binary.BigEndian
	copy(frame[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(frame[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	be.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	be.PutUint16(ip[2:], uint16(total))
	be.PutUint16(ip[6:], 0x4000) // DF
	copy(ip[12:16], from.ip[:])
	copy(ip[16:20], to.ip[:])
	be.PutUint16(ip[10:], checksum(0, ip[:ipLen]))
	tcp := ip[ipLen:]
	be.PutUint16(tcp[0:], from.port)
	be.PutUint16(tcp[2:], to.port)
	be.PutUint32(tcp[4:], from.seq)
	if s.flags&ack != 0 {
		be.PutUint32(tcp[8:], to.seq)
	}
	tcp[12] = tcpLen / 4 << 4
	tcp[13] = s.flags
	be.PutUint16(tcp[14:], 64240)
	tcp[20], tcp[21], tcp[22] = 1, 1, 8 // NOP NOP TS
	tcp[23] = 10
	be.PutUint32(tcp[24:], tsval)
	be.PutUint32(tcp[28:], from.lastTS)
	to.lastTS = tsval
	pseudo := uint32(6 + tcpLen + s.payload)
	for i := 12; i < 20; i += 2 {
		pseudo += uint32(be.Uint16(ip[i:]))
	}
	be.PutUint16(tcp[16:], checksum(pseudo, tcp[:tcpLen+s.payload]))
	from.seq += uint32(s.payload)
	if s.flags&(syn|fin) != 0 {
		from.seq++
	}
	return frame
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// connQueue is a min-heap of connections by the time of their next step.
type connQueue []*conn

func (q connQueue) Len() int           { return len(q) }
func (q connQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q connQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *connQueue) Push(x any)        { c := x.(*conn); c.index = len(*q); *q = append(*q, c) }
func (q *connQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}
