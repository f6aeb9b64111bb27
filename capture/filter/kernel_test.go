//go:build linux

package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attach gives prog to the kernel as a socket filter; the kernel checks it
// as it would for a capture socket.
func attach(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	filters := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filters[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return nil
}

// TestKernelAcceptsPrograms attaches the programs of the differential
// expressions, and a long one with far jumps, to a socket: the kernel's
// checker must take every one of them.
func TestKernelAcceptsPrograms(t *testing.T) {
	var ports []string
	for p := 1000; p < 1024; p++ { // about 1300 instructions: long jumps, within the default option memory
		ports = append(ports, fmt.Sprint(p))
	}
	exprs := append([]string{"", "port " + strings.Join(ports, " or ")}, diffExprs...)
	for _, expr := range exprs {
		for _, link := range allLinks {
			prog, err := Compile(expr, link, 65535)
			if err != nil {
				continue // vlan off Ethernet
			}
			if err := attachFresh(prog); err != nil {
				t.Errorf("%q for link type %d (%d instructions): %v", expr, link, len(prog), err)
			}
		}
	}
}

// attachFresh attaches prog to a new socket: replacing a filter charges
// both programs to the socket's option memory at once.
func attachFresh(prog []bpf.Instruction) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	return attach(fd, prog)
}

// TestKernelFilterLoopback captures UDP datagrams sent over the loopback of
// a new network namespace with AF_PACKET sockets, raw (Ethernet frames) and
// cooked (frames from the network header, LinkRaw), and checks that the
// kernel running the compiled program lets through exactly the datagrams the
// expression selects. It needs root.
func TestKernelFilterLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and AF_PACKET")
	}
	const expr = "udp dst port 40001 or (ip6 and udp portrange 40003-40004)"
	sends := []struct {
		addr string
		port int
		want bool
	}{
		{"127.0.0.1", 40001, true},
		{"127.0.0.1", 40002, false},
		{"127.0.0.1", 40003, false}, // the range is for IPv6 only
		{"::1", 40001, true},
		{"::1", 40003, true},
		{"::1", 40005, false},
	}
	for _, mode := range []struct {
		name string
		typ  int
		link uint16
	}{{"raw", unix.SOCK_RAW, packet.LinkEthernet}, {"cooked", unix.SOCK_DGRAM, packet.LinkRaw}} {
		t.Run(mode.name, func(t *testing.T) {
			prog, err := Compile(expr, mode.link, 65535)
			if err != nil {
				t.Fatal(err)
			}
			got, err := inNetns(func() ([]string, error) { return captureSends(prog, mode.typ, sends) })
			if errors.Is(err, unix.EPERM) {
				t.Skipf("no network namespace or AF_PACKET here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range sends {
				if s.want {
					want = append(want, fmt.Sprintf("%s/%d", s.addr, s.port))
				}
			}
			got = distinct(got) // loopback shows each datagram going out and coming in
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("kernel let through [%s], want [%s]", strings.Join(got, " "), strings.Join(want, " "))
			}
		})
	}
}

// inNetns runs fn on an OS thread moved into a new network namespace with
// its loopback up. The thread is never handed back to the scheduler.
func inNetns(fn func() ([]string, error)) ([]string, error) {
	type result struct {
		got []string
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // no unlock: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		if err := loopbackUp(); err != nil {
			done <- result{err: err}
			return
		}
		got, err := fn()
		done <- result{got, err}
	}()
	r := <-done
	return r.got, r.err
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// captureSends opens an AF_PACKET socket with prog attached, sends one
// datagram per entry (its payload names it), and returns the names of the
// datagrams captured.
func captureSends(prog []bpf.Instruction, typ int, sends []struct {
	addr string
	port int
	want bool
}) ([]string, error) {
	fd, err := unix.Socket(unix.AF_PACKET, typ, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	if err := attach(fd, prog); err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: 1}); err != nil {
		return nil, fmt.Errorf("bind lo: %w", err)
	}
	tv := unix.NsecToTimeval((300 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	for _, s := range sends {
		if err := sendUDP(s.addr, s.port); err != nil {
			return nil, err
		}
	}
	var got []string
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return got, nil
		}
		if err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		if i := bytes.Index(buf[:n], []byte("pastmon:")); i >= 0 {
			got = append(got, string(buf[i+len("pastmon:"):n]))
		}
	}
}

func sendUDP(addr string, port int) error {
	payload := []byte(fmt.Sprintf("pastmon:%s/%d", addr, port))
	if strings.Contains(addr, ":") {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, payload, 0, &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}})
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 0x7f000001)
	return unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Port: port, Addr: a})
}

func distinct(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
