package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pastmon/pastmon/store"
)

// Addresses exist only inside the namespaces the test creates.
const (
	etcdIP    = "10.213.0.2"
	webAIP    = "10.213.0.3"
	webBIP    = "10.213.0.4"
	node1IP   = "10.213.0.11"
	node2IP   = "10.213.0.12"
	client1IP = "10.213.0.21"
	client2IP = "10.213.0.22"
	ctrGW     = "10.213.1.1"
	ctrIP     = "10.213.1.2"

	etcdKey   = "/clustertest/pastmon-web"
	token     = "cluster-token-0123456789"
	flushStep = 3 * time.Second
)

// proc is a process started in a namespace; its output goes to a log file
// that the test prints when it fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (n *network) start(t *testing.T, dir, ns, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns(ns), bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s log ----\n%s", name, tail(string(b), 60))
		}
	})
	return p
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM and waits up to limit for a clean exit.
func (p *proc) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v", p.name, p.err)
		}
	case <-time.After(limit):
		t.Errorf("%s still running %s after SIGTERM", p.name, limit)
	}
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	<-p.done
}

// waitLog waits until the process's log contains s.
func (p *proc) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		if strings.Contains(string(b), s) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before logging %q", p.name, p.err, s)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not log %q within %s", p.name, s, limit)
}

// traffic is what the clients did to one server.
type traffic struct {
	requests, conns atomic.Int64
}

// httpServer serves a small page inside namespace ns.
func (n *network) httpServer(t *testing.T, ns, addr string) {
	t.Helper()
	ln, err := n.listen(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Repeat("pastmon cluster test\n", 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // server think time
		io.WriteString(w, page)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// clients makes n requests from namespace ns to url with keep-alive and n
// more without, counting requests answered and connections opened.
func (n *network) clients(t *testing.T, ns, url string, count int, tr *traffic) {
	t.Helper()
	for _, keepAlive := range []bool{true, false} {
		dial := n.dialer(ns)
		transport := &http.Transport{
			DisableKeepAlives: !keepAlive,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err == nil {
					tr.conns.Add(1)
				}
				return c, err
			},
		}
		client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
		for range count {
			resp, err := client.Get(url)
			if err != nil {
				t.Errorf("client in %s: %v", ns, err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("client in %s: status %d, %v", ns, resp.StatusCode, err)
				return
			}
			tr.requests.Add(1)
		}
		transport.CloseIdleConnections()
	}
}

// The pastmon binary, built once per test binary run (see binDir).
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildPastmon builds the static binary once, world-executable so that a
// test may run it as an unprivileged user.
func buildPastmon(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pastmon-clustertest-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pastmon")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// clusterTopology builds one switch (a bridge in its own namespace) for
// every host. node2 routes to a container-like namespace behind a bridge
// of its own, so its sensor sees every segment on its uplink, on the
// bridge and on the bridge's veth port.
func (n *network) clusterTopology(t *testing.T) {
	t.Helper()
	for _, ns := range []string{"sw", "etcd", "weba", "webb", "node1", "node2", "ctr", "client1", "client2"} {
		n.add(t, ns)
	}
	n.bridge(t, "sw", "br0", "")
	for ns, addr := range map[string]string{"etcd": etcdIP, "weba": webAIP, "webb": webBIP, "node1": node1IP, "node2": node2IP, "client1": client1IP, "client2": client2IP} {
		n.plug(t, "sw", "br0", "p-"+ns, ns, addr+"/24")
	}
	n.bridge(t, "node2", "br1", ctrGW+"/24")
	n.plug(t, "node2", "br1", "p-ctr", "ctr", ctrIP+"/24")
	n.sh(t, "node2", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	ip(t, "-n", n.ns("ctr"), "route", "add", "default", "via", ctrGW)
	ip(t, "-n", n.ns("client2"), "route", "add", "10.213.1.0/24", "via", node2IP)
}

// TestCluster runs etcd, a web node that dies and comes back elsewhere, and
// two sensors as separate processes in network namespaces, and checks that
// every transaction the clients made is stored once.
func TestCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and packet capture")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	began := time.Now()
	bin := buildPastmon(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := newNetwork(t)
	n.clusterTopology(t)

	server1 := netip.MustParseAddrPort(node1IP + ":80")
	server2 := netip.MustParseAddrPort(ctrIP + ":80")
	n.httpServer(t, "node1", server1.String())
	n.httpServer(t, "ctr", server2.String())
	pgServer := netip.MustParseAddrPort(node1IP + ":5432")
	withPG := n.startPostgres(t, dir, "node1", node1IP)

	etcdURL := "http://" + etcdIP + ":2379"
	sensorArgs := func(name string) []string {
		return []string{"sensor", "--interface", "any", "--etcd-endpoints", etcdURL, "--etcd-key", etcdKey,
			"--token", token, "--spool", filepath.Join(dir, name+"-spool.db"), "--name", name,
			"--flush-interval", flushStep.String(), "--heartbeat", "5s", "--shutdown-wait", "30s"}
	}
	// Sensors first: etcd and the web node do not exist yet.
	sensor1 := n.start(t, dir, "node1", "sensor1", nil, bin, sensorArgs("node1")...)
	sensor2 := n.start(t, dir, "node2", "sensor2", nil, bin, sensorArgs("node2")...)
	sensor1.waitLog(t, "capturing", 30*time.Second)
	sensor2.waitLog(t, "capturing", 30*time.Second)

	var t1, t2, tpg traffic
	drive := func(count int) {
		var wg sync.WaitGroup
		wg.Go(func() { n.clients(t, "client1", "http://"+server1.String()+"/", count, &t1) })
		wg.Go(func() { n.clients(t, "client2", "http://"+server2.String()+"/", count, &t2) })
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if withPG {
			tx, conns := n.psqlSessions(t, "client1", node1IP, 2, count/5+1)
			tpg.requests.Add(tx)
			tpg.conns.Add(conns)
		}
	}
	made := func() map[netip.AddrPort]int64 {
		m := map[netip.AddrPort]int64{server1: t1.requests.Load(), server2: t2.requests.Load()}
		if withPG {
			m[pgServer] = tpg.requests.Load()
		}
		return m
	}
	drive(20)
	time.Sleep(2 * flushStep) // the sensors spool while nobody listens

	etcd := n.start(t, dir, "etcd", "etcd", []string{helperEtcd + "=" + filepath.Join(dir, "etcd") + "," + etcdIP}, self, "-test.run=^$")
	etcd.waitLog(t, "etcd ready", 60*time.Second)

	db := filepath.Join(dir, "web.db")
	webArgs := []string{"web", "--listen", ":8080", "--db", db, "--token", token, "--admin-password", "cluster-admin",
		"--etcd-endpoints", etcdURL, "--etcd-key", etcdKey}
	webA := n.start(t, dir, "weba", "web-a", nil, bin, append(webArgs, "--interface", "any")...)
	api := &webAPI{n: n, from: "client1", user: "admin", password: "cluster-admin"}
	api.waitTransactions(t, "http://"+webAIP+":8080", made(), 60*time.Second)
	t.Logf("%s: first traffic arrived at web-a", time.Since(began).Round(time.Second))

	// The web node dies without a word and stays away for several flush
	// steps while traffic goes on; its lease still points at it.
	webA.kill(t)
	drive(15)
	time.Sleep(4 * flushStep)
	drive(5)

	webB := n.start(t, dir, "webb", "web-b", nil, bin, append(webArgs, "--no-sensor")...)
	api.waitTransactions(t, "http://"+webBIP+":8080", made(), 90*time.Second)
	t.Logf("%s: everything arrived at web-b", time.Since(began).Round(time.Second))

	// A last burst, then SIGTERM well within one flush step (but after the
	// capture ring's 100 ms block timeout): the sensors must close their
	// open windows and deliver them before they exit.
	drive(5)
	time.Sleep(500 * time.Millisecond)
	var stops sync.WaitGroup
	stops.Go(func() { sensor1.stop(t, 40*time.Second) })
	stops.Go(func() { sensor2.stop(t, 40*time.Second) })
	stops.Wait()
	webB.stop(t, 20*time.Second)
	etcd.stop(t, 20*time.Second)

	want := map[netip.AddrPort]*traffic{server1: &t1, server2: &t2}
	if withPG {
		want[pgServer] = &tpg
	}
	checkStore(t, db, began, want)
	checkSensors(t, db, "node1", "node2")
	t.Logf("cluster test took %s", time.Since(began).Round(time.Second))
}

// checkStore opens the web node's database after it stopped and compares
// what is stored with what the clients did.
func checkStore(t *testing.T, path string, began time.Time, want map[netip.AddrPort]*traffic) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	servers, err := db.Servers(ctx, began.Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.AddrPort]store.ServerSummary{}
	for _, s := range servers {
		got[s.Server] = s
	}
	for srv, tr := range want {
		s, ok := got[srv]
		if !ok {
			t.Errorf("server %s not stored; stored: %v", srv, keys(got))
			continue
		}
		if s.Transactions != uint64(tr.requests.Load()) {
			t.Errorf("server %s: %d transactions stored, clients made %d", srv, s.Transactions, tr.requests.Load())
		}
		if s.Connections != uint64(tr.conns.Load()) {
			t.Errorf("server %s: %d connections stored, clients opened %d", srv, s.Connections, tr.conns.Load())
		}
		if n := s.Metrics[0].Count; n == 0 {
			t.Errorf("server %s: no rtt samples", srv)
		}
	}
}

// checkSensors checks the heartbeats the web node stored from the sensors.
func checkSensors(t *testing.T, path string, names ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sensors, err := db.Sensors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]store.Sensor{}
	for _, s := range sensors {
		seen[s.Name] = s
	}
	for _, name := range names {
		s, ok := seen[name]
		switch {
		case !ok:
			t.Errorf("sensor %s not stored; stored: %v", name, sensors)
		case s.Packets == 0 || len(s.Interfaces) == 0 || s.Version == "":
			t.Errorf("sensor %s: heartbeat says version %q, %d packets on %v", name, s.Version, s.Packets, s.Interfaces)
		case s.SpoolDepth != 0:
			t.Errorf("sensor %s: last heartbeat says %d windows spooled, want 0 after the final delivery", name, s.SpoolDepth)
		}
	}
}

func keys[V any](m map[netip.AddrPort]V) []string {
	var out []string
	for k := range m {
		out = append(out, k.String())
	}
	return out
}

// webAPI reads a web node's JSON API from inside a namespace.
type webAPI struct {
	n              *network
	from           string
	user, password string
}

// waitTransactions polls the web node until every server in want shows at
// least that many transactions, and fails when one shows more.
func (a *webAPI) waitTransactions(t *testing.T, base string, want map[netip.AddrPort]int64, limit time.Duration) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: a.n.dialer(a.from)}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		got, err := a.transactions(client, base)
		if err != nil {
			last = err.Error()
		} else {
			done := true
			for srv, n := range want {
				if got[srv] > n {
					t.Fatalf("%s: server %s has %d transactions, clients made only %d", base, srv, got[srv], n)
				}
				done = done && got[srv] == n
			}
			if done {
				return
			}
			last = fmt.Sprintf("have %v, want %v", got, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: transactions did not arrive within %s: %s", base, limit, last)
}

// transactions reads /api/v1/servers (last hour) with HTTP Basic.
func (a *webAPI) transactions(client *http.Client, base string) (map[netip.AddrPort]int64, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/servers", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(a.user, a.password)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /api/v1/servers: %s: %s", resp.Status, b)
	}
	var doc struct {
		Servers []struct {
			Server       string `json:"server"`
			Transactions int64  `json:"transactions"`
		} `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET /api/v1/servers: %w", err)
	}
	out := map[netip.AddrPort]int64{}
	for _, s := range doc.Servers {
		ap, err := netip.ParseAddrPort(s.Server)
		if err != nil {
			return nil, fmt.Errorf("GET /api/v1/servers: server %q: %w", s.Server, err)
		}
		out[ap] = s.Transactions
	}
	return out, nil
}
