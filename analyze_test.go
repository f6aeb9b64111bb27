package main

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp/synth"
)

// The golden files under testdata/analyze are rewritten with
// `go test -run TestAnalyzeGolden -update`.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var analyzeT0 = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

func ams(f float64) time.Time { return analyzeT0.Add(time.Duration(f * float64(time.Millisecond))) }

// analyzeCapture writes a small capture with one connection of each kind
// and returns its path. The times are chosen so that the expected timings
// can be computed in the tests.
func analyzeCapture(t *testing.T) (path string, c *synth.Capture) {
	t.Helper()
	c = &synth.Capture{}
	const syn, synAck, ack, psh, fin, rst = packet.SYN, packet.SYN | packet.ACK, packet.ACK, packet.PSH | packet.ACK, packet.FIN | packet.ACK, packet.RST | packet.ACK

	// Web server: two connections, one with two turns.
	k := c.Conn("10.0.0.1:40000", "10.0.0.2:80")
	k.TS = true
	k.Send(ams(0), synth.Client, syn, 0)
	k.Send(ams(0.5), synth.Server, synAck, 0)
	k.Send(ams(20.5), synth.Client, ack, 0)
	k.Send(ams(21.5), synth.Client, psh, 120)
	k.Send(ams(25.5), synth.Server, psh, 800)
	k.Send(ams(46), synth.Client, ack, 0)
	k.Send(ams(100), synth.Client, psh, 130)
	k.Send(ams(101), synth.Server, ack, 1448)
	k.Send(ams(102), synth.Server, psh, 600)
	k.Send(ams(122), synth.Client, fin, 0)
	k.Send(ams(122.5), synth.Server, fin, 0)
	k.Send(ams(142.5), synth.Client, ack, 0)

	k = c.Conn("10.0.0.1:40001", "10.0.0.2:80")
	k.Send(ams(200), synth.Client, syn, 0)
	k.SendSeq(ams(1200), synth.Client, syn, k.ISN[synth.Client], 0) // SYN retransmitted: no handshake rtt
	k.Send(ams(1200.4), synth.Server, synAck, 0)
	k.Send(ams(1230.4), synth.Client, ack, 0)
	k.Send(ams(1231), synth.Client, rst, 0)

	// Refused and unanswered at ports that never completed a handshake:
	// each host's closed ports, ip:*.
	k = c.Conn("10.0.0.1:40002", "10.0.0.2:8443")
	k.Send(ams(300), synth.Client, syn, 0)
	k.Send(ams(300.2), synth.Server, rst, 0)
	k = c.Conn("10.0.0.1:40003", "10.0.0.9:22")
	k.Send(ams(400), synth.Client, syn, 0)

	// IPv6 database.
	k = c.Conn("[fd00::1]:50000", "[fd00::2]:5432")
	k.Send(ams(500), synth.Client, syn, 0)
	k.Send(ams(500.1), synth.Server, synAck, 0)
	k.Send(ams(500.3), synth.Client, ack, 0)
	k.Send(ams(501), synth.Client, psh, 40)
	k.Send(ams(509), synth.Server, psh, 400)
	k.Send(ams(509.2), synth.Client, ack, 0)

	path = filepath.Join(t.TempDir(), "mixed.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path, c
}

// analyzeProtoCapture writes a capture of recognised protocols: an HTTP
// server (keep-alive, a 404, a 500, an id in the path) and a Redis server
// with an error reply.
func analyzeProtoCapture(t *testing.T) string {
	t.Helper()
	c := &synth.Capture{}
	const syn, synAck, ack, psh = packet.SYN, packet.SYN | packet.ACK, packet.ACK, packet.PSH | packet.ACK
	open := func(client, server string, ms float64) *synth.Conn {
		k := c.Conn(client, server)
		k.Send(ams(ms), synth.Client, syn, 0)
		k.Send(ams(ms+0.2), synth.Server, synAck, 0)
		k.Send(ams(ms+10.2), synth.Client, ack, 0)
		return k
	}
	k := open("10.0.0.1:41000", "10.0.0.2:8080", 0)
	turns := []struct {
		ms         float64
		req, resp  string
		respMillis float64
	}{
		{11, "GET /users/17 HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2},
		{20, "GET /users/18 HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1},
		{30, "POST /orders HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 8},
		{50, "GET /users/19 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4},
	}
	for _, tt := range turns {
		k.SendData(ams(tt.ms), synth.Client, psh, []byte(tt.req))
		k.SendData(ams(tt.ms+tt.respMillis), synth.Server, psh, []byte(tt.resp))
	}
	r := open("10.0.0.1:41001", "10.0.0.3:6379", 100)
	r.SendData(ams(111), synth.Client, psh, []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	r.SendData(ams(111.5), synth.Server, psh, []byte("$-1\r\n"))
	r.SendData(ams(120), synth.Client, psh, []byte("*3\r\n$4\r\nSADD\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	r.SendData(ams(120.25), synth.Server, psh, []byte("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"))
	path := filepath.Join(t.TempDir(), "protocols.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAnalyzeGolden(t *testing.T) {
	path, _ := analyzeCapture(t)
	protos := analyzeProtoCapture(t)
	tests := []struct {
		name string
		args []string
	}{
		{"table", nil},
		{"json", []string{"--format", "json"}},
		{"connections", []string{"--connections"}},
		{"filtered", []string{"--format", "json", path, "port", "5432"}},
		{"protocols-table", []string{protos}},
		{"protocols-json", []string{"--format", "json", protos}},
		{"protocols-operations", []string{"--operations", protos}},
		{"protocols-connections", []string{"--connections", protos}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), ".pcap") {
				args = append(args, path)
			}
			out, errOut, code := runAnalyze(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden := filepath.Join("testdata", "analyze", tt.name+".golden")
			if updateGolden() {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, out)
			}
		})
	}
}

type analyzeJSON struct {
	Servers []map[string]json.RawMessage `json:"servers"`
}

func metricOf(t *testing.T, s map[string]json.RawMessage, name string) (count uint64, min, max *float64) {
	t.Helper()
	var m struct {
		Count uint64   `json:"count"`
		Min   *float64 `json:"min_us"`
		Max   *float64 `json:"max_us"`
	}
	if err := json.Unmarshal(s[name], &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m.Count, m.Min, m.Max
}

// TestAnalyzeJSONValues checks the JSON against timings computed from the
// capture's chosen times, independently of the golden files.
func TestAnalyzeJSONValues(t *testing.T) {
	path, _ := analyzeCapture(t)
	out, errOut, code := runAnalyze(t, "--format", "json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v analyzeJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	by := map[string]map[string]json.RawMessage{}
	var order []string
	for _, s := range v.Servers {
		var name string
		_ = json.Unmarshal(s["server"], &name)
		by[name] = s
		order = append(order, name)
	}
	if len(order) != 4 || order[0] != "10.0.0.2:80" {
		t.Fatalf("servers %v: want 4, the one with most connections first", order)
	}
	counter := func(server, name string) uint64 {
		var n uint64
		if err := json.Unmarshal(by[server][name], &n); err != nil {
			t.Fatalf("%s %s: %v", server, name, err)
		}
		return n
	}
	checks := []struct {
		server, counter string
		want            uint64
	}{
		{"10.0.0.2:80", "connections", 2}, {"10.0.0.2:80", "established", 2}, {"10.0.0.2:80", "syn_retries", 1},
		{"10.0.0.2:80", "transactions", 2}, {"10.0.0.2:80", "resets", 1}, {"10.0.0.2:80", "bytes_to_server", 250},
		{"10.0.0.2:80", "bytes_from_server", 800 + 1448 + 600},
		{"10.0.0.2:*", "refused", 1}, {"10.0.0.2:*", "connections", 1}, {"10.0.0.9:*", "unanswered", 1},
		{"[fd00::2]:5432", "transactions", 1},
	}
	for _, c := range checks {
		if got := counter(c.server, c.counter); got != c.want {
			t.Errorf("%s %s = %d, want %d", c.server, c.counter, got, c.want)
		}
	}
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-3 }
	// connect_time: 20.5 ms and, SYN retried, 1230.4 − 200 ms.
	n, lo, hi := metricOf(t, by["10.0.0.2:80"], "connect_time")
	if n != 2 || !near(lo, 20500) || !near(hi, 1030400) {
		t.Errorf("connect_time count %d min %v max %v", n, fmtF(lo), fmtF(hi))
	}
	// transfer_time: 25.5 − 21.5 ms and 102 − 100 ms.
	n, lo, hi = metricOf(t, by["10.0.0.2:80"], "transfer_time")
	if n != 2 || !near(lo, 2000) || !near(hi, 4000) {
		t.Errorf("transfer_time count %d min %v max %v", n, fmtF(lo), fmtF(hi))
	}
	// Only the first connection's handshake gives rtt_server: 0.5 ms.
	n, lo, _ = metricOf(t, by["10.0.0.2:80"], "rtt_server")
	if n < 1 || !near(lo, 500) && *lo > 500 {
		t.Errorf("rtt_server count %d min %v", n, fmtF(lo))
	}
	n, lo, hi = metricOf(t, by["[fd00::2]:5432"], "response_time")
	if n != 1 || !near(lo, 8000) || !near(hi, 8000) {
		t.Errorf("v6 response_time count %d min %v max %v", n, fmtF(lo), fmtF(hi))
	}
	n, lo, _ = metricOf(t, by["10.0.0.9:*"], "rtt")
	if n != 0 || lo != nil {
		t.Errorf("unanswered server rtt count %d min %v, want empty with null", n, fmtF(lo))
	}
}

func fmtF(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}

// TestAnalyzeSeveralFiles: a capture cut in two and given as two files gives
// the result of the whole.
func TestAnalyzeSeveralFiles(t *testing.T) {
	_, c := analyzeCapture(t)
	dir := t.TempDir()
	first, second := &synth.Capture{Frames: c.Frames[:len(c.Frames)/2]}, &synth.Capture{Frames: c.Frames[len(c.Frames)/2:]}
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	if err := first.WriteFile(a); err != nil {
		t.Fatal(err)
	}
	if err := second.WriteFile(b); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole.pcap")
	if err := c.WriteFile(whole); err != nil {
		t.Fatal(err)
	}
	want, _, code := runAnalyze(t, "--format", "json", whole)
	if code != 0 {
		t.Fatal("whole failed")
	}
	got, errOut, code := runAnalyze(t, "--format", "json", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got != want {
		t.Errorf("two files:\n%s\nwhole:\n%s", got, want)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	path, _ := analyzeCapture(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pcap")
	if err := os.WriteFile(garbage, []byte("this is not a capture file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"nosuch/capture.pcap"}, 1, "no such file"},
		{"missing bare name", []string{"nosuchcapture"}, 1, "no such file"},
		{"no file", []string{"port", "80"}, 2, "no capture file"},
		{"not a capture", []string{garbage}, 1, "garbage.pcap"},
		{"bad format", []string{"--format", "xml", path}, 2, "table or json"},
		{"bad filter", []string{path, "port", "port"}, 1, "filter"},
		{"bad max-flows", []string{"--max-flows", "0", path}, 2, "max-flows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runAnalyze(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q (stdout %q)", code, errOut, tt.code, tt.want, out)
			}
		})
	}
}
