package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/discovery/etcdtest"
	"github.com/pastmon/pastmon/store"
)

const testToken = "sensor-test-token"

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func realCapture(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "shared", "corpus", "real", "http-dev-server.pcap.gz")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpus absent: %v", err)
	}
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testWeb is a real web node (the "pastmon web" command) on 127.0.0.1.
type testWeb struct {
	url    string
	db     string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startWeb(t testing.TB, addr, db string, extra ...string) *testWeb {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWeb{url: "http://" + addr, db: db, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	args := []string{"web", "--listen", addr, "--db", db, "--token", testToken, "--admin-password", "test-admin-pw",
		"--no-sensor", "--retention", "876000h"}
	args = append(args, extra...)
	go func() { w.done <- run(ctx, args, &syncBuffer{}, w.stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(w.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() { w.stop(t) })
				return w
			}
		}
		select {
		case code := <-w.done:
			t.Fatalf("web exited with %d: %s", code, w.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("web node not healthy after 30s: %s", w.stderr)
	return nil
}

func (w *testWeb) stop(t testing.TB) {
	t.Helper()
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case code := <-w.done:
		if code != 0 {
			t.Errorf("web exited with %d: %s", code, w.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("web did not stop within 30s")
	}
}

// runSensor runs "pastmon sensor" and returns its exit code and stderr.
func runSensorCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(context.Background(), append([]string{"sensor"}, args...), &stdout, &stderr)
	return code, stderr.String()
}

// fileTotals is what "pastmon analyze" says about a capture file: per
// server counters and timing counts, plus the span of its connections.
type fileTotals struct {
	servers    map[netip.AddrPort]serverTotals
	first, end time.Time
}

type serverTotals struct {
	Server       string `json:"server"`
	Connections  uint64 `json:"connections"`
	Transactions uint64 `json:"transactions"`
	Established  uint64 `json:"established"`
	Retransmits  uint64 `json:"retransmits"`
	RTT          struct {
		Count uint64 `json:"count"`
	} `json:"rtt"`
	ResponseTime struct {
		Count uint64 `json:"count"`
	} `json:"response_time"`
}

func analyzeTotals(t *testing.T, file string) fileTotals {
	t.Helper()
	var out, errb syncBuffer
	if code := run(context.Background(), []string{"analyze", "--format", "json", file}, &out, &errb); code != 0 {
		t.Fatalf("analyze exited %d: %s", code, errb.String())
	}
	var doc struct {
		Servers []serverTotals `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("analyze json: %v", err)
	}
	ft := fileTotals{servers: map[netip.AddrPort]serverTotals{}}
	for _, s := range doc.Servers {
		ft.servers[netip.MustParseAddrPort(s.Server)] = s
	}
	out = syncBuffer{}
	if code := run(context.Background(), []string{"analyze", "--connections", file}, &out, &errb); code != 0 {
		t.Fatalf("analyze --connections exited %d: %s", code, errb.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var c struct {
			Start time.Time `json:"start"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("analyze --connections line %q: %v", line, err)
		}
		if ft.first.IsZero() || c.Start.Before(ft.first) {
			ft.first = c.Start
		}
		if c.Start.After(ft.end) {
			ft.end = c.Start
		}
	}
	if len(ft.servers) == 0 || ft.first.IsZero() {
		t.Fatal("analyze found no servers or connections: nothing to compare")
	}
	return ft
}

// checkStored compares what the web node stored with analyze's totals.
func checkStored(t *testing.T, db string, want fileTotals) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	from, to := window.Start(want.first).Add(-window.Width), window.Start(want.end).Add(2*time.Hour)
	servers, err := st.Servers(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.AddrPort]store.ServerSummary{}
	for _, s := range servers {
		got[s.Server] = s
	}
	if len(got) != len(want.servers) {
		t.Errorf("%d servers stored, analyze found %d", len(got), len(want.servers))
	}
	for srv, w := range want.servers {
		g, ok := got[srv]
		if !ok {
			t.Errorf("server %s not stored", srv)
			continue
		}
		for _, c := range []struct {
			name      string
			got, want uint64
		}{
			{"connections", g.Connections, w.Connections},
			{"transactions", g.Transactions, w.Transactions},
			{"established", g.Established, w.Established},
			{"retransmits", g.Retransmits, w.Retransmits},
			{"rtt count", g.Metrics[window.RTT].Count, w.RTT.Count},
			{"response_time count", g.Metrics[window.ResponseTime].Count, w.ResponseTime.Count},
		} {
			if c.got != c.want {
				t.Errorf("server %s: %s stored %d, analyze says %d", srv, c.name, c.got, c.want)
			}
		}
	}
}

// faultProxy stands between sensor and web node and misbehaves for the
// first `bad` ingest requests.
type faultProxy struct {
	next  *httputil.ReverseProxy
	fault string // a status ("500", "404" ...): answer it; "ack-lost": forward, then answer 502
	bad   int64
	calls atomic.Int64
}

func newFaultProxy(t *testing.T, target, fault string, bad int64) (*faultProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{next: httputil.NewSingleHostReverseProxy(u), fault: fault, bad: bad}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.calls.Add(1)
	if n > p.bad {
		p.next.ServeHTTP(w, r)
		return
	}
	switch p.fault {
	default:
		code, _ := strconv.Atoi(p.fault)
		http.Error(w, `{"ok":false,"error":"injected failure"}`, code)
	case "ack-lost":
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			http.Error(w, fmt.Sprintf("proxy: web node answered %d", rec.Code), http.StatusInternalServerError)
			return
		}
		http.Error(w, "proxy: answer lost", http.StatusBadGateway)
	}
}

// TestSensorReadDelivers replays the real capture through the sensor to a
// real web node, directly and through faults, and compares what got stored
// with what analyze says about the same file.
func TestSensorReadDelivers(t *testing.T) {
	file := realCapture(t)
	want := analyzeTotals(t, file)
	for _, tc := range []struct {
		name  string
		fault string
		bad   int64
		extra []string
	}{
		{name: "direct"},
		{name: "partial windows merge", extra: []string{"--flush-interval", "20s"}},
		{name: "web answers 500 at first", fault: "500", bad: 3},
		// A configuration mistake fixed while the sensor waits loses nothing.
		{name: "401 (token) at first", fault: "401", bad: 2},
		{name: "403 at first", fault: "403", bad: 2},
		{name: "404 (proxy, wrong URL) at first", fault: "404", bad: 2},
		{name: "400 at first", fault: "400", bad: 1},
		{name: "429 at first", fault: "429", bad: 2},
		{name: "acks lost: redelivered, stored once", fault: "ack-lost", bad: 2, extra: []string{"--flush-interval", "60s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"))
			target := web.url
			var proxy *faultProxy
			if tc.fault != "" {
				proxy, target = newFaultProxy(t, web.url, tc.fault, tc.bad)
			}
			args := append([]string{"--read", file, "--web", target, "--token", testToken,
				"--spool", filepath.Join(dir, "spool.db"), "--name", "test-sensor", "--shutdown-wait", "60s"}, tc.extra...)
			if code, stderr := runSensorCmd(t, args...); code != 0 {
				t.Fatalf("sensor exited %d: %s", code, stderr)
			}
			if proxy != nil && proxy.calls.Load() <= tc.bad {
				t.Errorf("proxy saw %d requests, want more than the %d it spoiled", proxy.calls.Load(), tc.bad)
			}
			web.stop(t)
			checkStored(t, web.db, want)
		})
	}
}

// TestSensorWebComesLater starts the sensor before the web node exists.
func TestSensorWebComesLater(t *testing.T) {
	file := realCapture(t)
	want := analyzeTotals(t, file)
	dir := t.TempDir()
	addr := freeAddr(t)
	type result struct {
		code   int
		stderr string
	}
	res := make(chan result, 1)
	go func() {
		code, stderr := runSensorCmd(t, "--read", file, "--web", "http://"+addr, "--token", testToken,
			"--spool", filepath.Join(dir, "spool.db"), "--shutdown-wait", "60s")
		res <- result{code, stderr}
	}()
	time.Sleep(2 * time.Second)
	select {
	case r := <-res:
		t.Fatalf("sensor exited (%d) before the web node came up: %s", r.code, r.stderr)
	default:
	}
	web := startWeb(t, addr, filepath.Join(dir, "web.db"))
	r := <-res
	if r.code != 0 {
		t.Fatalf("sensor exited %d: %s", r.code, r.stderr)
	}
	web.stop(t)
	checkStored(t, web.db, want)
}

// emptyCapture writes a pcap file without packets.
func emptyCapture(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.pcap")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pcapgo.NewWriter(f).WriteFileHeader(256, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSensorSpoolSurvivesRestart: an undeliverable --read exits 1 and says
// where the windows are; the next start delivers them, once.
func TestSensorSpoolSurvivesRestart(t *testing.T) {
	file := realCapture(t)
	want := analyzeTotals(t, file)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool.db")
	addr := freeAddr(t)
	code, stderr := runSensorCmd(t, "--read", file, "--web", "http://"+addr, "--token", testToken,
		"--spool", spool, "--shutdown-wait", "1s")
	if code != 1 {
		t.Fatalf("undeliverable: exit %d, want 1: %s", code, stderr)
	}
	if !strings.Contains(stderr, "stay spooled in "+spool) {
		t.Errorf("stderr does not say the windows stay spooled: %s", stderr)
	}
	web := startWeb(t, addr, filepath.Join(dir, "web.db"))
	code, stderr = runSensorCmd(t, "--read", emptyCapture(t), "--web", web.url, "--token", testToken,
		"--spool", spool, "--shutdown-wait", "30s")
	if code != 0 {
		t.Fatalf("second start: exit %d: %s", code, stderr)
	}
	web.stop(t)
	checkStored(t, web.db, want)
}

// TestSensorReadTwiceCountsOnce: the same capture read again, into the
// same web node (with a fresh spool, and with the spool a first,
// undelivered run left behind), is stored once: batch ids derive from the
// file and its windows, with flushed partial windows too.
func TestSensorReadTwiceCountsOnce(t *testing.T) {
	file := realCapture(t)
	want := analyzeTotals(t, file)
	for _, extra := range [][]string{nil, {"--flush-interval", "20s"}} {
		dir := t.TempDir()
		spool := filepath.Join(dir, "spool.db")
		addr := freeAddr(t)
		read := func(spool, web, wait string) (int, string) {
			return runSensorCmd(t, append([]string{"--read", file, "--web", web, "--token", testToken,
				"--spool", spool, "--shutdown-wait", wait}, extra...)...)
		}
		// As after a SIGKILL: the windows stay spooled, undelivered.
		if code, stderr := read(spool, "http://"+addr, "1s"); code != 1 {
			t.Fatalf("%v: undeliverable: exit %d, want 1: %s", extra, code, stderr)
		}
		web := startWeb(t, addr, filepath.Join(dir, "web.db"))
		if code, stderr := read(spool, web.url, "60s"); code != 0 {
			t.Fatalf("%v: read again on the old spool: exit %d: %s", extra, code, stderr)
		}
		if code, stderr := read(filepath.Join(dir, "fresh.db"), web.url, "60s"); code != 0 {
			t.Fatalf("%v: read a third time: exit %d: %s", extra, code, stderr)
		}
		web.stop(t)
		checkStored(t, web.db, want)
	}
}

func TestSensorRejectedToken(t *testing.T) {
	file := realCapture(t)
	dir := t.TempDir()
	web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"))
	// A wrong token is retryable (the operator may fix the web node), so
	// the bounded wait ends it with exit 1 and the windows kept.
	code, stderr := runSensorCmd(t, "--read", file, "--web", web.url, "--token", "wrong",
		"--spool", filepath.Join(dir, "spool.db"), "--shutdown-wait", "2s")
	if code != 1 || !strings.Contains(stderr, "stay spooled") {
		t.Errorf("wrong token: exit %d, want 1 with windows spooled: %s", code, stderr)
	}
}

func TestSensorFlags(t *testing.T) {
	file := realCapture(t)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{"web url", []string{"--web", "http://web:8080", "--check"}, nil, 0, ""},
		{"etcd", []string{"--etcd-endpoints", "e1:2379,e2:2379", "--etcd-key", "/k", "--check"}, nil, 0, ""},
		{"from env", []string{"--check"}, map[string]string{"PASTMON_WEB": "http://web:8080", "PASTMON_SPOOL_MAX": "10"}, 0, ""},
		{"read and filter", []string{"--read", file, "--web", "http://web:8080", "--check", "tcp", "port", "80"}, nil, 0, ""},
		{"no web", []string{"--check"}, nil, 2, "need --web URL or --etcd-endpoints"},
		{"bad web url", []string{"--web", "web:8080", "--check"}, nil, 2, "want http://host:port"},
		{"spool-max 0", []string{"--web", "http://w", "--spool-max", "0", "--check"}, nil, 2, "--spool-max 0"},
		{"missing file", []string{"--web", "http://w", "--read", "/nonexistent.pcap", "--check"}, nil, 2, "no such file"},
		{"short flush", []string{"--web", "http://w", "--flush-interval", "10ms", "--check"}, nil, 2, "--flush-interval"},
		{"bad env", []string{"--web", "http://w", "--check"}, map[string]string{"PASTMON_SNAPLEN": "big"}, 2, "PASTMON_SNAPLEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stderr := runSensorCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.msg)
			}
		})
	}
}

// TestSensorSpoolBounded: a spool smaller than the file's windows drops the
// oldest, and --read says so instead of claiming success.
func TestSensorSpoolBounded(t *testing.T) {
	file := realCapture(t)
	if n := len(analyzeTotals(t, file).servers); n < 2 {
		t.Skipf("the capture has %d server windows; need 2 to overflow a spool of 1", n)
	}
	dir := t.TempDir()
	code, stderr := runSensorCmd(t, "--read", file, "--web", "http://"+freeAddr(t), "--token", testToken,
		"--spool", filepath.Join(dir, "spool.db"), "--spool-max", "1", "--shutdown-wait", "1s")
	if code != 1 || !strings.Contains(stderr, "oldest windows dropped") {
		t.Errorf("exit %d, want 1 saying windows were dropped: %s", code, stderr)
	}
}

// TestSensorUnreadableFile fails at once with the file's problem, without
// waiting for delivery.
func TestSensorUnreadableFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "notes.pcap")
	if err := os.WriteFile(bad, []byte("this is not a capture file at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, stderr := runSensorCmd(t, "--read", bad, "--web", "http://"+freeAddr(t),
		"--spool", filepath.Join(t.TempDir(), "spool.db"), "--shutdown-wait", "30s")
	if code != 1 || !strings.Contains(stderr, bad) {
		t.Errorf("exit %d, want 1 naming the file: %s", code, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s: an unreadable file must not wait for delivery", d)
	}
}

// TestSensorReadViaEtcd: the sensor waits while the key is absent, follows
// it when it changes (from a dead URL to the web node that registers
// itself), and delivers everything.
func TestSensorReadViaEtcd(t *testing.T) {
	file := realCapture(t)
	want := analyzeTotals(t, file)
	etcd := etcdtest.Start(t)
	endpoints := strings.Join(etcd.Endpoints, ",")
	const key = "/sensor-test/web"
	dir := t.TempDir()
	type result struct {
		code   int
		stderr string
	}
	res := make(chan result, 1)
	go func() {
		code, stderr := runSensorCmd(t, "--read", file, "--etcd-endpoints", endpoints, "--etcd-key", key,
			"--token", testToken, "--spool", filepath.Join(dir, "spool.db"), "--shutdown-wait", "60s")
		res <- result{code, stderr}
	}()
	running := func(stage string) {
		time.Sleep(1500 * time.Millisecond)
		select {
		case r := <-res:
			t.Fatalf("sensor exited (%d) %s: %s", r.code, stage, r.stderr)
		default:
		}
	}
	running("while the key was absent")
	// Whoever can write the key cannot have the sensor's token: a value
	// not signed with it is never followed.
	var stolen atomic.Int64
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		io.WriteString(w, `{"ok":true}`)
	}))
	defer thief.Close()
	etcd.Put(key, fmt.Sprintf(`{"url":%q,"version":"test"}`, thief.URL))
	running("while the key named a forged web node")
	addr := freeAddr(t)
	web := startWeb(t, addr, filepath.Join(dir, "web.db"),
		"--etcd-endpoints", endpoints, "--etcd-key", key, "--advertise-url", "http://"+addr)
	r := <-res
	if r.code != 0 {
		t.Fatalf("sensor exited %d: %s", r.code, r.stderr)
	}
	web.stop(t) // the only web node: what it stored came through the key
	checkStored(t, web.db, want)
	if n := stolen.Load(); n > 0 {
		t.Errorf("the sensor sent %d requests (and its token) to a URL the web node did not sign", n)
	}
}
