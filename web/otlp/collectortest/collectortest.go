// Package collectortest builds and runs a real OpenTelemetry Collector for
// tests: the module otelcoltest at the repository's root (the OTLP receiver
// and the file exporter, at one collector release), built with "go build"
// and run as a process with an OTLP receiver on free loopback ports. What
// the collector receives is read back from the file exporter's OTLP JSON.
// It is for tests only: it calls t.Fatal on every failure.
package collectortest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Collector is one running collector.
type Collector struct {
	GRPC, HTTP string // host:port of the OTLP receiver's protocols
	out        string
	stderr     *bytes.Buffer
}

// Options configure the receiver.
type Options struct {
	// CertFile and KeyFile, when set, make both protocols TLS only.
	CertFile, KeyFile string
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles the collector once per test binary; the build cache makes
// later builds quick.
func build(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := moduleDir()
		if err != nil {
			buildErr = err
			return
		}
		tmp, err := os.MkdirTemp("", "otelcoltest-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(tmp, "otelcoltest")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the collector: %v", buildErr)
	}
	return binary
}

// moduleDir finds otelcoltest beside the go.mod of the repository.
func moduleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/pastmon/pastmon\n")) {
			return filepath.Join(dir, "otelcoltest"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no pastmon go.mod above the working directory")
		}
		dir = up
	}
}

// Start builds (once) and starts a collector, stopped at the test's end.
func Start(t testing.TB, opt Options) *Collector {
	t.Helper()
	bin := build(t)
	dir := t.TempDir()
	c := &Collector{GRPC: freePort(t), HTTP: freePort(t), out: filepath.Join(dir, "metrics.jsonl"), stderr: new(bytes.Buffer)}
	tlsCfg := ""
	if opt.CertFile != "" {
		tlsCfg = fmt.Sprintf("\n        tls:\n          cert_file: %q\n          key_file: %q", opt.CertFile, opt.KeyFile)
	}
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q%s
      http:
        endpoint: %q%s
exporters:
  file:
    path: %q
    flush_interval: 100ms
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
`, c.GRPC, tlsCfg, c.HTTP, tlsCfg, c.out)
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", "file:"+cfgFile)
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the collector: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("collector output:\n%s", c.stderr)
		}
	})
	for _, addr := range []string{c.GRPC, c.HTTP} {
		waitListening(t, addr, exited, &waitErr, c.stderr)
	}
	return c
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t testing.TB, addr string, exited <-chan struct{}, waitErr *error, out *bytes.Buffer) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("collector exited: %v\n%s", *waitErr, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("collector not listening on %s after 60s\n%s", addr, out)
}

// Metrics returns every ResourceMetrics the collector has written so far.
func (c *Collector) Metrics(t testing.TB) []*metricspb.ResourceMetrics {
	t.Helper()
	b, err := os.ReadFile(c.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// The exporter writes whole lines; a last one without its newline is
	// still being written.
	lines := bytes.Split(b, []byte("\n"))
	lines = lines[:len(lines)-1]
	var all []*metricspb.ResourceMetrics
	for _, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var md metricspb.MetricsData
		if err := protojson.Unmarshal(line, &md); err != nil {
			t.Fatalf("collector output: %v", err)
		}
		all = append(all, md.ResourceMetrics...)
	}
	return all
}

// Wait polls Metrics until done says it has all it needs, or fails the
// test after timeout.
func (c *Collector) Wait(t testing.TB, timeout time.Duration, done func([]*metricspb.ResourceMetrics) bool) []*metricspb.ResourceMetrics {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rms := c.Metrics(t)
		if done(rms) {
			return rms
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector: not all expected metrics after %s (%d resource metrics)", timeout, len(rms))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
