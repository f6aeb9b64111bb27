package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// ip runs the ip command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sh runs a command inside namespace ns and fails the test on error.
func (n *network) sh(t *testing.T, ns string, args ...string) {
	t.Helper()
	ip(t, append([]string{"netns", "exec", n.ns(ns)}, args...)...)
}

// network is a set of namespaces named after one test run.
type network struct {
	prefix string
	names  []string
}

func newNetwork(t *testing.T) *network {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := &network{prefix: "pm" + hex.EncodeToString(b[:]) + "-"}
	t.Cleanup(func() {
		for _, name := range n.names {
			_ = exec.Command("ip", "netns", "del", n.ns(name)).Run()
		}
	})
	return n
}

func (n *network) ns(name string) string { return n.prefix + name }

// add creates namespace name with loopback up. When the first one cannot
// be created (a container without CAP_SYS_ADMIN) the test is skipped.
func (n *network) add(t *testing.T, name string) {
	t.Helper()
	if len(n.names) == 0 {
		if out, err := exec.Command("ip", "netns", "add", n.ns(name)).CombinedOutput(); err != nil {
			t.Skipf("cannot create network namespaces here: %v: %s", err, out)
		}
	} else {
		ip(t, "netns", "add", n.ns(name))
	}
	n.names = append(n.names, name)
	ip(t, "-n", n.ns(name), "link", "set", "lo", "up")
}

// bridge creates bridge br in namespace ns with address cidr ("" for none).
func (n *network) bridge(t *testing.T, ns, br, cidr string) {
	t.Helper()
	ip(t, "-n", n.ns(ns), "link", "add", br, "type", "bridge")
	ip(t, "-n", n.ns(ns), "link", "set", br, "up")
	if cidr != "" {
		ip(t, "-n", n.ns(ns), "addr", "add", cidr, "dev", br)
	}
}

// plug connects namespace ns (interface eth0, address cidr) to bridge br
// in namespace swNS through a veth pair whose bridge end is named port.
func (n *network) plug(t *testing.T, swNS, br, port, ns, cidr string) {
	t.Helper()
	ip(t, "-n", n.ns(swNS), "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", n.ns(ns))
	ip(t, "-n", n.ns(swNS), "link", "set", port, "master", br)
	ip(t, "-n", n.ns(swNS), "link", "set", port, "up")
	ip(t, "-n", n.ns(ns), "addr", "add", cidr, "dev", "eth0")
	ip(t, "-n", n.ns(ns), "link", "set", "eth0", "up")
}

// inNetns runs f on a fresh OS thread that has entered namespace ns. The
// thread is never unlocked, so it dies with the goroutine and no other
// goroutine ever runs in the namespace. Sockets f creates stay in ns.
func (n *network) inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+n.ns(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// listen opens a TCP listener inside namespace ns.
func (n *network) listen(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// dialer returns a DialContext that connects from namespace ns.
func (n *network) dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.inNetns(ns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
