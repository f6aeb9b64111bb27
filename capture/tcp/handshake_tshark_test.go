package tcp_test

import (
	"bufio"
	"bytes"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/tcp/synth"
)

// TestWorkloadAgainstTshark runs a generated workload (random RTTs, turns,
// multi-segment responses, timestamps on most connections) through the
// pipeline and checks every connect_time against tshark's
// tcp.analysis.initial_rtt for the same capture.
func TestWorkloadAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	w := synth.Workload{Servers: 7, Clients: 300, MaxTurns: 4, Seed: 7}
	var c synth.Capture
	w.Batch(&c, t0, 150)
	path := filepath.Join(t.TempDir(), "workload.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tshark", "-r", path, "-T", "fields", "-E", "separator=,",
		"-e", "tcp.stream", "-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
		"-e", "tcp.analysis.initial_rtt")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	client := map[string]string{}   // stream → client ip:port
	initial := map[string]float64{} // stream → initial_rtt µs
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 6 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		if (f[3] == "1" || f[3] == "True") && (f[4] == "0" || f[4] == "False") {
			client[f[0]] = f[1] + ":" + f[2]
		}
		if _, ok := initial[f[0]]; !ok && f[5] != "" {
			v, err := strconv.ParseFloat(f[5], 64)
			if err != nil {
				t.Fatalf("initial_rtt %q", f[5])
			}
			initial[f[0]] = v * 1e6
		}
	}
	if len(client) != 150 || len(initial) != 150 {
		t.Fatalf("tshark saw %d SYNs and %d initial RTTs, want 150", len(client), len(initial))
	}

	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := map[string]*tcp.Record{}
	if _, err := capture.Run(t.Context(), src, capture.Config{OnRecord: func(r *tcp.Record) { got[r.Client.String()] = r }}); err != nil {
		t.Fatal(err)
	}
	for stream, cl := range client {
		r := got[cl]
		switch {
		case r == nil:
			t.Errorf("stream %s (%s): no connection", stream, cl)
		case r.ConnectTime == nil:
			t.Errorf("stream %s (%s): connect_time null", stream, cl)
		case math.Abs(*r.ConnectTime-initial[stream]) > 1:
			t.Errorf("stream %s (%s): connect_time %v µs, tshark %v µs", stream, cl, *r.ConnectTime, initial[stream])
		}
	}
}
