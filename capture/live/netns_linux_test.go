package live

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests run real captures in network namespaces they create and
// delete; traffic only ever flows between those namespaces.

func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
}

var nsCounter atomic.Int32

// newNetns creates a network namespace with lo up, deleted at the end of
// the test.
func newNetns(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("pmlive%d-%d", os.Getpid(), nsCounter.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	// No IPv6 on the veths: their neighbour discovery would add traffic
	// the tests do not make. lo keeps ::1.
	err := inNetns(t, name, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0)
	})
	if err != nil {
		t.Fatalf("disable IPv6 on new interfaces in %s: %v", name, err)
	}
	return name
}

// vethPair links namespaces a and b with a veth pair named nameA/nameB,
// addresses 10.99.subnet.1/24 and .2/24, and returns the two addresses.
func vethPair(t testing.TB, a, nameA, b, nameB string, subnet int) (string, string) {
	t.Helper()
	run(t, "ip", "-n", a, "link", "add", nameA, "type", "veth", "peer", "name", nameB, "netns", b)
	ipA, ipB := fmt.Sprintf("10.99.%d.1", subnet), fmt.Sprintf("10.99.%d.2", subnet)
	run(t, "ip", "-n", a, "addr", "add", ipA+"/24", "dev", nameA)
	run(t, "ip", "-n", b, "addr", "add", ipB+"/24", "dev", nameB)
	run(t, "ip", "-n", a, "link", "set", nameA, "up")
	run(t, "ip", "-n", b, "link", "set", nameB, "up")
	return ipA, ipB
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// inNetns runs f on an OS thread that has entered namespace ns. The thread
// is discarded afterwards, so f may also drop capabilities. Sockets created
// by f stay in ns whichever thread uses them later.
func inNetns(t testing.TB, ns string, f func() error) error {
	t.Helper()
	h, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatalf("open namespace %s: %v", ns, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread dies with the goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// openIn opens a Source inside namespace ns.
func openIn(t testing.TB, ctx context.Context, ns string, cfg Config) *Source {
	t.Helper()
	var src *Source
	err := inNetns(t, ns, func() (err error) {
		src, err = Open(ctx, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("Open(%+v) in %s: %v", cfg, ns, err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// ifindex returns the index of interface name in namespace ns.
func ifindex(t testing.TB, ns, name string) int32 {
	t.Helper()
	var idx int32
	err := inNetns(t, ns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = int32(ifi.Index)
		return nil
	})
	if err != nil {
		t.Fatalf("interface %s in %s: %v", name, ns, err)
	}
	return idx
}

// dialerIn returns a dial function whose sockets live in namespace ns.
func dialerIn(t testing.TB, ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(t, ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// listenIn listens on addr inside namespace ns.
func listenIn(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := inNetns(t, ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}
