package clustertest

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWebOwnSensor: "pastmon web" without --no-sensor measures the traffic
// of its own host and stores it when it stops.
func TestWebOwnSensor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and packet capture")
	}
	bin := buildPastmon(t)
	dir := t.TempDir()
	n := newNetwork(t)
	for _, ns := range []string{"sw", "web", "client"} {
		n.add(t, ns)
	}
	n.bridge(t, "sw", "br0", "")
	n.plug(t, "sw", "br0", "p-web", "web", "10.213.0.3/24")
	n.plug(t, "sw", "br0", "p-client", "client", "10.213.0.21/24")
	server := netip.MustParseAddrPort("10.213.0.3:80")
	n.httpServer(t, "web", server.String())

	db := filepath.Join(dir, "web.db")
	web := n.start(t, dir, "web", "web", nil, bin, "web", "--listen", ":8080", "--db", db, "--admin-password", "pw-for-test", "--interface", "any")
	web.waitLog(t, "own sensor capturing", 30*time.Second)
	time.Sleep(500 * time.Millisecond) // the ring is live once Open returned; leave the logger a moment
	var tr traffic
	n.clients(t, "client", "http://"+server.String()+"/", 12, &tr)
	time.Sleep(time.Second) // the last FIN/ACKs reach the ring
	web.stop(t, 30*time.Second)
	checkStore(t, db, time.Now().Add(-time.Hour), map[netip.AddrPort]*traffic{server: &tr})
}

// TestWebWithoutPrivilege: without CAP_NET_RAW the web node logs one
// warning and serves anyway; so it does while etcd is down.
func TestWebWithoutPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	bin := buildPastmon(t)
	dir, err := os.MkdirTemp("", "pastmon-noprivilege-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ln := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	// etcd is down too (nobody listens there): the node serves anyway.
	cmd := exec.CommandContext(ctx, bin, "web", "--listen", ln, "--db", filepath.Join(dir, "web.db"), "--admin-password", "pw-for-test",
		"--etcd-endpoints", freeAddr(t), "--etcd-key", "/clustertest/down")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr, cmd.Stdout = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + ln + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("web node without privilege does not serve: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	_ = cmd.Wait()
	out := logs.String()
	if c := strings.Count(out, "CAP_NET_RAW"); c != 1 || !strings.Contains(out, "level=WARN") {
		t.Errorf("want exactly one warning naming CAP_NET_RAW, got %d:\n%s", c, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a process's output written from two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
