package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/packet"
)

const testBlockTimeout = 20 * time.Millisecond

// frame is a copy of a captured capture.Frame.
type frame struct {
	data    []byte
	ts      int64
	iface   int32
	link    uint16
	wireLen int
}

// collector reads a Source in the background.
type collector struct {
	src    *Source
	cancel context.CancelFunc
	idles  atomic.Int64
	done   chan struct{}
	mu     sync.Mutex
	frames []frame
	err    error
}

func collect(src *Source, cancel context.CancelFunc) *collector {
	c := &collector{src: src, cancel: cancel, done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *collector) loop() {
	defer close(c.done)
	var f capture.Frame
	for {
		err := c.src.ReadFrame(&f)
		switch {
		case errors.Is(err, capture.ErrIdle):
			c.idles.Add(1)
			continue
		case err != nil:
			c.err = err
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, frame{slices.Clone(f.Data), f.TS, f.Iface, f.Link, f.WireLen})
		c.mu.Unlock()
	}
}

// stop waits until the source has been idle twice in a row after the call,
// so that every block the kernel filled was read, then stops the capture.
func (c *collector) stop(t *testing.T) []frame {
	t.Helper()
	n := c.idles.Load()
	deadline := time.Now().Add(10 * time.Second)
	for c.idles.Load() < n+2 && time.Now().Before(deadline) {
		time.Sleep(testBlockTimeout / 2)
	}
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame did not return after the context was cancelled")
	}
	if !errors.Is(c.err, context.Canceled) {
		t.Fatalf("ReadFrame ended with %v, want context.Canceled", c.err)
	}
	return c.frames
}

// segment is the part of a TCP frame the tests check, decoded here from the
// RFC 791/8200/793 layouts (no IPv6 extension headers).
type segment struct {
	src, dst     net.IP
	sport, dport uint16
	flags        uint8
	totalLen     int
}

func parseTCP(b []byte) (segment, bool) {
	var s segment
	var tcp []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4 && b[9] == 6:
		ihl := int(b[0]&0x0f) * 4
		s.src, s.dst, s.totalLen, tcp = net.IP(b[12:16]), net.IP(b[16:20]), int(binary.BigEndian.Uint16(b[2:4])), b[ihl:]
	case len(b) >= 40 && b[0]>>4 == 6 && b[6] == 6:
		s.src, s.dst, s.totalLen, tcp = net.IP(b[8:24]), net.IP(b[24:40]), 40+int(binary.BigEndian.Uint16(b[4:6])), b[40:]
	default:
		return s, false
	}
	if len(tcp) < 14 {
		return s, false
	}
	s.sport, s.dport = binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	s.flags = tcp[13]
	return s, true
}

// synCounts counts connection-opening SYNs to port per interface.
func synCounts(frames []frame, port uint16) map[int32]int {
	n := map[int32]int{}
	for _, f := range frames {
		s, ok := parseTCP(f.data)
		if ok && s.dport == port && s.flags&(packet.SYN|packet.ACK) == packet.SYN {
			n[f.iface]++
		}
	}
	return n
}

// bigBody is larger than any segment, even a TSO one, so that responses
// span several frames.
const bigBody = 200_000

// serve runs an HTTP server on l: "/" answers "ok", "/big" bigBody bytes.
func serve(t *testing.T, l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, bigBody))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// fetch makes n HTTP requests to addr from namespace ns, each on a new
// connection, alternating "/" and "/big", and checks the answers.
func fetch(t *testing.T, ns, addr string, n int) {
	t.Helper()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dialerIn(t, ns), DisableKeepAlives: true},
	}
	for i := range n {
		path, want := "/", 2
		if i%2 == 1 {
			path, want = "/big", bigBody
		}
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", path, ns, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(body) != want {
			t.Fatalf("GET %s from %s: %d bytes, err %v; want %d bytes", path, ns, len(body), err, want)
		}
	}
}

func TestCaptureBetweenNamespaces(t *testing.T) {
	requireNetns(t)
	srvNS, cliNS := newNetns(t), newNetns(t)
	srvIP, _ := vethPair(t, srvNS, "vs", cliNS, "vc", 1)
	const snaplen, conns, port = 128, 6, 8080

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := openIn(t, ctx, srvNS, Config{Snaplen: snaplen, BlockTimeout: testBlockTimeout})
	c := collect(src, cancel)
	// A heartbeat reads the counters and interfaces while frames flow.
	heartbeat := make(chan []string)
	go func() {
		var names []string
		for ctx.Err() == nil {
			src.Stats()
			names = src.Interfaces()
			time.Sleep(time.Millisecond)
		}
		heartbeat <- names
	}()
	serve(t, listenIn(t, srvNS, fmt.Sprintf("%s:%d", srvIP, port)))
	before := time.Now().UnixNano()
	fetch(t, cliNS, fmt.Sprintf("%s:%d", srvIP, port), conns)
	after := time.Now().UnixNano()
	frames := c.stop(t)
	if names := <-heartbeat; !sameSet(names, []string{"lo", "vs"}) {
		t.Errorf("Interfaces() = %q, want lo and vs", names)
	}

	vs := ifindex(t, srvNS, "vs")
	if got := synCounts(frames, port); got[vs] != conns || len(got) != 1 {
		t.Errorf("SYNs per ifindex = %v, want %d on vs (ifindex %d) only", got, conns, vs)
	}
	var tcp, truncated, backwards int
	var last int64
	for _, f := range frames {
		s, ok := parseTCP(f.data)
		if !ok || (s.sport != port && s.dport != port) {
			continue
		}
		tcp++
		if f.iface != vs || f.link != packet.LinkRaw {
			t.Fatalf("frame iface %d link %d, want %d and LinkRaw", f.iface, f.link, vs)
		}
		if len(f.data) > snaplen {
			t.Fatalf("frame of %d bytes exceeds snaplen %d", len(f.data), snaplen)
		}
		if f.wireLen != s.totalLen {
			t.Fatalf("WireLen %d, IP total length %d", f.wireLen, s.totalLen)
		}
		if f.wireLen > len(f.data) {
			truncated++
		}
		if f.ts < before-int64(time.Second) || f.ts > after+int64(time.Second) {
			t.Fatalf("timestamp %d outside the test's run %d..%d", f.ts, before, after)
		}
		if f.ts < last-int64(time.Millisecond) {
			backwards++
		}
		last = max(last, f.ts)
	}
	// 3 responses of bigBody bytes need at least that many full segments.
	if minBig := conns / 2 * bigBody / 65536; truncated < minBig {
		t.Errorf("%d frames longer on the wire than captured, want at least %d", truncated, minBig)
	}
	if backwards > 0 {
		t.Errorf("%d of %d timestamps went back by more than 1 ms", backwards, tcp)
	}
	st := src.Stats()
	if st.Drops != 0 || st.Packets < uint64(len(frames)) {
		t.Errorf("Stats() = %+v after %d frames, want no drops and Packets ≥ frames", st, len(frames))
	}
}

func TestLoopbackSeenOnce(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	const conns, port = 4, 9090
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := openIn(t, ctx, ns, Config{BlockTimeout: testBlockTimeout})
			c := collect(src, cancel)
			addr := fmt.Sprintf("%s:%d", host, port)
			l := listenIn(t, ns, addr)
			serve(t, l)
			fetch(t, ns, addr, conns)
			l.Close()
			frames := c.stop(t)
			lo := ifindex(t, ns, "lo")
			if got := synCounts(frames, port); got[lo] != conns || len(got) != 1 {
				t.Errorf("SYNs per ifindex = %v, want %d on lo (ifindex %d): each loopback packet once", got, conns, lo)
			}
			for _, f := range frames {
				if s, ok := parseTCP(f.data); ok && f.wireLen != s.totalLen {
					t.Fatalf("WireLen %d, IP length %d", f.wireLen, s.totalLen)
				}
			}
		})
	}
}

// TestStopKeepsLastPackets stops the capture right after traffic, long
// before the kernel's block timer would hand over the part-filled block:
// ReadFrame must still deliver those packets before it ends.
func TestStopKeepsLastPackets(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	const conns, port = 3, 9091
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := openIn(t, ctx, ns, Config{BlockTimeout: 2 * time.Second})
	c := collect(src, cancel)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l := listenIn(t, ns, addr)
	serve(t, l)
	fetch(t, ns, addr, conns)
	l.Close()
	cancel()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFrame did not return after the context was cancelled")
	}
	if !errors.Is(c.err, context.Canceled) {
		t.Fatalf("ReadFrame ended with %v, want context.Canceled", c.err)
	}
	if got := synCounts(c.frames, port)[ifindex(t, ns, "lo")]; got != conns {
		t.Errorf("%d SYNs read before the stop, want %d", got, conns)
	}
}

func TestAnySeesInterfacesCreatedLater(t *testing.T) {
	requireNetns(t)
	nsA, nsB := newNetns(t), newNetns(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := openIn(t, ctx, nsA, Config{Interfaces: []string{"any"}, BlockTimeout: testBlockTimeout})
	if got := src.Interfaces(); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("Interfaces() before the veth = %q, want [lo]", got)
	}
	c := collect(src, cancel)

	ipA, _ := vethPair(t, nsA, "late0", nsB, "late1", 2)
	const conns, port = 3, 8081
	serve(t, listenIn(t, nsA, fmt.Sprintf("%s:%d", ipA, port)))
	fetch(t, nsB, fmt.Sprintf("%s:%d", ipA, port), conns)
	frames := c.stop(t)

	late := ifindex(t, nsA, "late0")
	if got := synCounts(frames, port); got[late] != conns {
		t.Errorf("SYNs per ifindex = %v, want %d on late0 (ifindex %d)", got, conns, late)
	}
	if got := src.Interfaces(); !slices.Contains(got, "late0") || !slices.Contains(got, "lo") {
		t.Errorf("Interfaces() after the veth = %q, want lo and late0", got)
	}
}

// TestInterfaceSelection captures in namespace A, linked to B by ia/ib and
// to C by ic/id, while B, C and A itself (over lo) connect to A.
func TestInterfaceSelection(t *testing.T) {
	requireNetns(t)
	nsA, nsB, nsC := newNetns(t), newNetns(t), newNetns(t)
	ipAB, _ := vethPair(t, nsA, "ia", nsB, "ib", 3)
	ipAC, _ := vethPair(t, nsA, "ic", nsC, "id", 4)
	const port = 8082
	serve(t, listenIn(t, nsA, fmt.Sprintf("0.0.0.0:%d", port)))
	idx := map[string]int32{"ia": ifindex(t, nsA, "ia"), "ic": ifindex(t, nsA, "ic"), "lo": ifindex(t, nsA, "lo")}
	// Connections per interface: over ia from B, over ic from C, over lo.
	traffic := map[string]int{"ia": 2, "ic": 4, "lo": 6}

	tests := []struct {
		name       string
		interfaces []string
		want       []string // interfaces that must see their SYNs; others none
		listed     []string
	}{
		{"one", []string{"ia"}, []string{"ia"}, []string{"ia"}},
		{"two", []string{"ia", "ic"}, []string{"ia", "ic"}, []string{"ia", "ic"}},
		{"comma list", []string{"ic,lo"}, []string{"ic", "lo"}, []string{"ic", "lo"}},
		{"any", []string{"any"}, []string{"ia", "ic", "lo"}, []string{"ia", "ic", "lo"}},
		{"nil", nil, []string{"ia", "ic", "lo"}, []string{"ia", "ic", "lo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := openIn(t, ctx, nsA, Config{Interfaces: tt.interfaces, BlockTimeout: testBlockTimeout})
			if got := src.Interfaces(); !sameSet(got, tt.listed) {
				t.Errorf("Interfaces() = %q, want %q", got, tt.listed)
			}
			c := collect(src, cancel)
			fetch(t, nsB, fmt.Sprintf("%s:%d", ipAB, port), traffic["ia"])
			fetch(t, nsC, fmt.Sprintf("%s:%d", ipAC, port), traffic["ic"])
			fetch(t, nsA, fmt.Sprintf("127.0.0.1:%d", port), traffic["lo"])
			got := synCounts(c.stop(t), port)
			want := map[int32]int{}
			for _, name := range tt.want {
				want[idx[name]] = traffic[name]
			}
			if !mapsEqual(got, want) {
				t.Errorf("SYNs per ifindex = %v, want %v (ifindexes %v)", got, want, idx)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func mapsEqual(a, b map[int32]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative snaplen", Config{Snaplen: -1}, "snaplen -1 out of range"},
		{"huge snaplen", Config{Snaplen: MaxSnaplen + 1}, "out of range"},
		{"block not page sized", Config{BlockSize: 1000}, "not a positive multiple of the page size"},
		{"block too small for snaplen", Config{BlockSize: 4096, Snaplen: 65535}, "too small for snaplen"},
		{"negative blocks", Config{NumBlocks: -3}, "out of range"},
		{"two blocks", Config{NumBlocks: 2}, "ring of 2 blocks"},
		{"tiny block timeout", Config{BlockTimeout: time.Microsecond}, "block timeout"},
		{"bad interface name", Config{Interfaces: []string{"eth0/1"}}, `invalid interface name "eth0/1"`},
		{"long interface name", Config{Interfaces: []string{strings.Repeat("x", 16)}}, "invalid interface name"},
		{"bad filter", Config{Filter: "port"}, `capture on any: filter "port"`},
		{"bad filter syntax", Config{Filter: "tcp and and"}, `capture on any: filter "tcp and and"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Open(context.Background(), tt.cfg)
			if err == nil {
				src.Close()
				t.Fatalf("Open(%+v) succeeded, want error containing %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%+v) = %v, want error containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestOpenMissingInterface(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	err := inNetns(t, ns, func() error {
		src, err := Open(context.Background(), Config{Interfaces: []string{"lo", "nosuch0"}})
		if err == nil {
			src.Close()
		}
		return err
	})
	want := `capture on lo,nosuch0: interface "nosuch0": no such interface`
	if err == nil || err.Error() != want {
		t.Errorf("Open = %v, want %q", err, want)
	}
}

func TestIdleAndCancel(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t) // nothing flows here
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := openIn(t, ctx, ns, Config{BlockTimeout: timeout})
	var f capture.Frame

	start := time.Now()
	if err := src.ReadFrame(&f); !errors.Is(err, capture.ErrIdle) {
		t.Fatalf("ReadFrame on a quiet link = %v, want capture.ErrIdle", err)
	}
	if d := time.Since(start); d < timeout/2 || d > 10*timeout {
		t.Errorf("ErrIdle after %v, want about the poll interval %v", d, timeout)
	}

	// A cancel must wake a ReadFrame blocked in poll at once, not after
	// the poll interval.
	time.AfterFunc(timeout/3, cancel)
	start = time.Now()
	err := src.ReadFrame(&f)
	for errors.Is(err, capture.ErrIdle) {
		err = src.ReadFrame(&f)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFrame after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > timeout {
		t.Errorf("ReadFrame returned %v after start, %v after cancel; want well within the poll interval %v", d, d-timeout/3, timeout)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDropsAccounted fills a tiny ring without reading it: the kernel must
// drop, and what it reports as received minus dropped is exactly what
// ReadFrame then delivers.
func TestDropsAccounted(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	page := 4096
	src := openIn(t, ctx, ns, Config{BlockSize: page, NumBlocks: minBlocks, BlockTimeout: testBlockTimeout})
	const sent = 2000
	err := inNetns(t, ns, func() error {
		// A receiver that never reads, so no ICMP errors cut the flow.
		l, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := net.Dial("udp4", l.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		for range sent {
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * testBlockTimeout)
	c := collect(src, cancel)
	frames := c.stop(t)
	st := src.Stats()
	if st.Drops == 0 {
		t.Fatalf("Stats() = %+v after %d packets into a ring of 3 pages, want drops", st, sent)
	}
	if got := st.Packets - st.Drops; got != uint64(len(frames)) {
		t.Errorf("Stats() = %+v: received - dropped = %d, ReadFrame delivered %d", st, got, len(frames))
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if after := src.Stats(); after != st {
		t.Errorf("Stats() after Close = %+v, want the last counts %+v", after, st)
	}
}

// TestFilter attaches filters to the socket while clients in namespace B
// connect to ports 8080 and 8081 in A: only what the filter accepts may
// reach the ring.
func TestFilter(t *testing.T) {
	requireNetns(t)
	nsA, nsB := newNetns(t), newNetns(t)
	ipA, ipB := vethPair(t, nsA, "fa", nsB, "fb", 5)
	const portA, portB = 8080, 8081
	traffic := map[uint16]int{portA: 3, portB: 5}
	for port := range traffic {
		serve(t, listenIn(t, nsA, fmt.Sprintf("%s:%d", ipA, port)))
	}
	tests := []struct {
		filter string
		keep   func(s segment) bool // what the expression means for this traffic
		none   bool                 // nothing at all may pass
	}{
		{"port 8080", func(s segment) bool { return s.sport == portA || s.dport == portA }, false},
		{"tcp and not port 8080", func(s segment) bool { return s.sport != portA && s.dport != portA }, false},
		{"dst port 8081", func(s segment) bool { return s.dport == portB }, false},
		{"ip6", func(segment) bool { return false }, true},
		{"src host " + ipA, func(s segment) bool { return s.src.String() == ipA }, false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := openIn(t, ctx, nsA, Config{Filter: tt.filter, BlockTimeout: testBlockTimeout})
			c := collect(src, cancel)
			for port, n := range traffic {
				fetch(t, nsB, fmt.Sprintf("%s:%d", ipA, port), n)
			}
			frames := c.stop(t)
			kept := 0
			for _, f := range frames {
				s, ok := parseTCP(f.data)
				if !ok || !tt.keep(s) {
					t.Fatalf("filter %q let through %x", tt.filter, f.data[:min(len(f.data), 40)])
				}
				kept++
			}
			fa := ifindex(t, nsA, "fa")
			for port, n := range traffic {
				want := 0
				syn := segment{src: net.ParseIP(ipB).To4(), dst: net.ParseIP(ipA).To4(), sport: 40000, dport: port}
				if tt.keep(syn) {
					want = n
				}
				if got := synCounts(frames, port)[fa]; got != want {
					t.Errorf("filter %q: %d SYNs to port %d, want %d", tt.filter, got, port, want)
				}
			}
			if kept == 0 && !tt.none {
				t.Errorf("filter %q kept nothing", tt.filter)
			}
		})
	}
}
