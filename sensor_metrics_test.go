package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSensorMetricsListen replays a capture through a FIFO that stays open
// (so the capture loop keeps running) into a sensor with --metrics-listen,
// and checks its /healthz (200 while capturing, gone after), that /metrics
// wants the token, and that it serves the web node's families for what the
// sensor closed, labelled with its name, and its capture health.
func TestSensorMetricsListen(t *testing.T) {
	file := realCapture(t)
	dir := t.TempDir()
	web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"))
	fifo := filepath.Join(dir, "replay.pcap")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	addr := freeAddr(t)
	const token = "sensor-scrape-token"
	done := make(chan error, 1)
	go func() {
		code, stderr := runSensorCmd(t, "--read", fifo, "--web", web.url, "--token", testToken, "--flush-interval", "1s",
			"--spool", filepath.Join(dir, "spool.db"), "--name", "node-7", "--metrics-listen", addr, "--metrics-token", token)
		if code != 0 {
			done <- &exitError{code, stderr}
			return
		}
		done <- nil
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	// The whole capture is in; the loop waits for more. Scrape until the
	// partial windows (1 s of packet time each) show up.
	base := "http://" + addr
	if r := httpGet(t, base+"/healthz", ""); r.status != 200 {
		t.Errorf("/healthz while capturing: %d %s", r.status, r.body)
	}
	if r := httpGet(t, base+"/metrics", "wrong"); r.status != 401 {
		t.Errorf("/metrics with a wrong token: %d", r.status)
	}
	var fams map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r := httpGet(t, base+"/metrics", token)
		if r.status != 200 {
			t.Fatalf("/metrics: %d %s", r.status, r.body)
		}
		fams = sums(t, r.body, "node-7")
		if fams["pastmon_transactions_total"] > 0 && fams["pastmon_capture_packets_total"] > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{"pastmon_transactions_total", "pastmon_connections_total", "pastmon_response_time_seconds_count",
		"pastmon_capture_packets_total", "pastmon_capture_drops_total", "pastmon_capture_flows", "pastmon_spool_windows"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("sensor /metrics lacks %s labelled sensor=node-7", name)
		}
	}
	if fams["pastmon_transactions_total"] == 0 || fams["pastmon_response_time_seconds_count"] == 0 {
		t.Errorf("sensor /metrics counted no transactions: %v", fams)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener outlives the sensor")
	}
}

type exitError struct {
	code   int
	stderr string
}

func (e *exitError) Error() string { return fmt.Sprintf("sensor exited %d: %s", e.code, e.stderr) }

type httpReply struct {
	status int
	body   string
}

func httpGet(t *testing.T, url, token string) httpReply {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpReply{resp.StatusCode, string(b)}
}

// sums adds up, per sample name, the samples labelled sensor=name.
func sums(t *testing.T, body, name string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("sensor /metrics is not Prometheus text: %v", err)
	}
	out := map[string]float64{}
	for fname, f := range fams {
		for _, m := range f.GetMetric() {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || l.GetName() == "sensor" && l.GetValue() == name
			}
			if !ok {
				continue
			}
			switch {
			case m.Counter != nil:
				out[fname] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[fname] += m.Gauge.GetValue()
			case m.Histogram != nil:
				out[fname+"_count"] += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}
