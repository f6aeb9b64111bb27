package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web/ship"
)

// The web command tests run "pastmon web" as a separate process (this test
// binary re-executed), because the checks they exercise (a second process
// on the same database) are between processes.

const webHelperEnv = "PASTMONTEST_WEB_HELPER"

// TestWebHelperProcess is not a test: it is the child process the tests
// below start, running "pastmon" with the arguments from the environment.
func TestWebHelperProcess(t *testing.T) {
	if os.Getenv(webHelperEnv) != "1" {
		t.Skip("helper process of the web command tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type webProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	addr   string
}

func pastmonProc(t *testing.T, args ...string) *webProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestWebHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), webHelperEnv+"=1")
	p := &webProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startWebProc starts "pastmon web" on a free port and waits until it
// answers /healthz.
func startWebProc(t *testing.T, dbPath string, extra ...string) *webProc {
	t.Helper()
	args := append([]string{"web", "--listen", "127.0.0.1:0", "--db", dbPath, "--no-sensor", "--token", "tok-0123456789abcdef"}, extra...)
	p := pastmonProc(t, args...)
	deadline := time.After(60 * time.Second)
	for p.addr == "" {
		select {
		case <-p.done:
			t.Fatalf("pastmon web exited early (%v): %s", p.cmd.ProcessState, p.stderr)
		case <-deadline:
			t.Fatalf("pastmon web did not start: %s", p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if m := listeningRe.FindStringSubmatch(p.stderr.String()); m != nil {
			p.addr = m[1]
		}
	}
	return p
}

// wait returns the exit code once the process ends.
func (p *webProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		t.Fatalf("pastmon did not exit: %s", p.stderr)
		return -1
	}
}

func (p *webProc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(t)
}

// snapshot is the name, mode and content hash of every file in dir.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.HasSuffix(path, ".lock") {
			return err // the lock file holds the pid of the last process that tried: not data
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %x", filepath.Base(path), fi.Mode(), sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func webTestBatch(id string) *window.Batch {
	b := &window.Batch{ID: id, Sensor: window.SensorInfo{Name: "proc-test", Version: "t"}}
	s := window.Summary{Start: window.Start(time.Now()).Add(-window.Width)}
	s.Server = netip.MustParseAddrPort("192.0.2.80:80")
	s.Connections = 3
	s.Metrics[window.RTT].Add(1234)
	b.Summaries = []window.Summary{s}
	return b
}

func TestWebTwiceOnSameFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pastmon.db")
	first := startWebProc(t, db)
	if !strings.Contains(first.stderr.String(), "must be changed at first login") {
		t.Errorf("first start without --admin-password does not say admin/admin must be changed: %s", first.stderr)
	}
	if _, err := ship.NewHTTP("http://"+first.addr, "tok-0123456789abcdef").Send(t.Context(), webTestBatch("twice-1")); err != nil {
		t.Fatalf("ingest into the first process: %v", err)
	}

	second := pastmonProc(t, "web", "--listen", "127.0.0.1:0", "--db", db, "--no-sensor")
	if code := second.wait(t); code != 1 || !strings.Contains(second.stderr.String(), "in use by another process") {
		t.Fatalf("second process: exit %d, stderr %s; want 1 and 'in use by another process'", code, second.stderr)
	}
	resp, err := http.Get("http://" + first.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first process after the second failed: %v", err)
	}
	resp.Body.Close()
	if code := first.stop(t); code != 0 {
		t.Fatalf("first process exit %d: %s", code, first.stderr)
	}

	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatalf("database after both: %v", err)
	}
	defer st.Close()
	list, err := st.Servers(t.Context(), time.Now().Add(-time.Hour), time.Now())
	if err != nil || len(list) != 1 || list[0].Connections != 3 {
		t.Fatalf("data after the second process: %+v, %v; want the batch of the first", list, err)
	}
}

// TestWebRefusesBadDatabase starts pastmon web on files it must not use and
// checks the message and that nothing in the directory changed.
func TestWebRefusesBadDatabase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: read-only checks rely on permission bits")
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir, db string)
		want    string
	}{
		{"read-only file", func(t *testing.T, dir, db string) {
			makeDB(t, db)
			chmod(t, db, 0o444)
		}, "read-only"},
		{"read-only directory", func(t *testing.T, dir, db string) {
			makeDB(t, db)
			chmod(t, dir, 0o555)
		}, "read-only"},
		{"not a database", func(t *testing.T, dir, db string) {
			writeFile(t, db, bytes.Repeat([]byte("this is not sqlite\n"), 500))
		}, "not a SQLite database"},
		{"corrupt pages", func(t *testing.T, dir, db string) {
			makeDB(t, db)
			b, err := os.ReadFile(db)
			if err != nil || len(b) < 3*4096 {
				t.Fatalf("database too small to corrupt: %d bytes, %v", len(b), err)
			}
			for i := 4096 + 100; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			writeFile(t, db, b)
		}, "corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
			db := filepath.Join(dir, "pastmon.db")
			tc.prepare(t, dir, db)
			before := snapshot(t, dir)
			p := pastmonProc(t, "web", "--listen", "127.0.0.1:0", "--db", db, "--no-sensor")
			code := p.wait(t)
			if code != 1 || !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %s; want 1 and %q", code, p.stderr, tc.want)
			}
			if strings.Contains(p.stderr.String(), "listening") {
				t.Errorf("started listening on a bad database: %s", p.stderr)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// makeDB creates a pastmon database with some data, as a previous run would.
func makeDB(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureAdmin(t.Context(), "some-admin-pw"); err != nil {
		t.Fatal(err)
	}
	b := webTestBatch("mk")
	for i := 1; i < 40; i++ {
		s := b.Summaries[0]
		s.Server = netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:80", i))
		b.Summaries = append(b.Summaries, s)
	}
	if _, err := st.Ingest(t.Context(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, leftover := range []string{"-wal", "-shm", ".lock"} {
		_ = os.Remove(path + leftover)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWebServesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	p := startWebProc(t, filepath.Join(dir, "tls.db"), "--tls-cert", cert, "--tls-key", key, "--admin-password", "tls-admin-pw")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + p.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https healthz: %v", err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "https://"+p.addr+"/api/v1/servers", nil)
	req.SetBasicAuth("admin", "tls-admin-pw")
	if resp, err = c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("https API with Basic: %v %v", err, resp)
	}
	resp.Body.Close()
	if log := p.stderr.String(); !strings.Contains(log, "created user admin") || strings.Contains(log, "tls-admin-pw") {
		t.Errorf("first start log must say admin was created and never show the password: %s", log)
	}
	if resp, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pastmon test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

func secretFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWebFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"defaults", nil, 0, "configuration ok"},
		{"everything", []string{"--listen", "127.0.0.1:9999", "--tls-cert", cert, "--tls-key", key, "--retention", "840h",
			"--snaplen", "512", "--etcd-endpoints", "h1:2379,h2:2379", "--advertise-url", "https://web:8080", "tcp", "port", "80"}, 0, "configuration ok"},
		{"bad listen", []string{"--listen", "8080"}, 2, "--listen"},
		{"cert without key", []string{"--tls-cert", cert}, 2, "go together"},
		{"unreadable cert", []string{"--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", key}, 2, "nope.pem"},
		{"short retention", []string{"--retention", "10m"}, 2, "--retention"},
		{"bad retention", []string{"--retention", "35d"}, 2, "retention"},
		{"small snaplen", []string{"--snaplen", "10"}, 2, "--snaplen"},
		{"short flush", []string{"--flush-interval", "10ms"}, 2, "--flush-interval"},
		{"no flush", []string{"--flush-interval", "0"}, 0, "configuration ok"},
		{"bad advertise url", []string{"--advertise-url", "web:8080"}, 2, "--advertise-url"},
		{"bad etcd key", []string{"--etcd-endpoints", "h:2379", "--etcd-key", "services"}, 2, "--etcd-key"},
		{"unknown flag", []string{"--colour"}, 2, "colour"},
		{"short token", []string{"--token", "short-token"}, 2, "at least 16"},
		{"placeholder token", []string{"--token", "change-me-to-a-long-random-string"}, 2, "example value"},
		{"placeholder password", []string{"--admin-password", "change-me-too"}, 2, "example value"},
		{"short admin password", []string{"--admin-password", "1234567"}, 2, "at least 8"},
		{"token file", []string{"--token-file", secretFile(t, dir, "token", "a-token-from-a-file-0123\n")}, 0, "configuration ok"},
		{"short token file", []string{"--token-file", secretFile(t, dir, "short", "short\n")}, 2, "at least 16"},
		{"token and token file", []string{"--token", "a-token-on-the-command-line", "--token-file", secretFile(t, dir, "t2", "a-token-from-a-file-0123")}, 2, "give one"},
		{"missing token file", []string{"--token-file", filepath.Join(dir, "none")}, 2, "--token-file"},
		{"admin password file", []string{"--admin-password-file", secretFile(t, dir, "pw", "a-password-in-a-file")}, 0, "configuration ok"},
		{"trusted proxies", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1/32"}, 0, "configuration ok"},
		{"bad trusted proxies", []string{"--trusted-proxies", "10.0.0.0"}, 2, "--trusted-proxies"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), append([]string{"web", "--check"}, tc.args...), &out, &errOut)
			if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.msg) {
				t.Fatalf("exit %d, output %s%s; want %d with %q", code, out.String(), errOut.String(), tc.code, tc.msg)
			}
		})
	}
	t.Run("filter and env", func(t *testing.T) {
		t.Setenv("PASTMON_SNAPLEN", "1024")
		cfg, _, err := parseWebFlags([]string{"--listen", ":1", "tcp", "port", "443"}, &bytes.Buffer{})
		if err != nil || cfg.Filter != "tcp port 443" || cfg.Snaplen != 1024 || cfg.Listen != ":1" || cfg.Retention != 840*time.Hour || cfg.Flush != time.Minute {
			t.Fatalf("%+v %v", cfg, err)
		}
	})
}
