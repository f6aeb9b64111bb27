package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// corpusDir is the shared test corpus beside the repository.
func corpusDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "shared", "corpus", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus %s not present: %v", dir, err)
	}
	return dir
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func runAnalyze(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"analyze"}, args...), &o, &e)
	return o.String(), e.String(), code
}

// connJSON is DESIGN.md's --connections line as a reader sees it, kept
// apart from the tracker's Record so that the format itself is tested.
type connJSON struct {
	Client       string            `json:"client"`
	Server       string            `json:"server"`
	Start        string            `json:"start"`
	Outcome      string            `json:"outcome"`
	Reset        bool              `json:"reset"`
	SynRetries   uint64            `json:"syn_retries"`
	RTTServer    *float64          `json:"rtt_server_us"`
	RTTClient    *float64          `json:"rtt_client_us"`
	ConnectTime  *float64          `json:"connect_time_us"`
	Retransmits  uint64            `json:"retransmits"`
	BytesTo      uint64            `json:"bytes_to_server"`
	BytesFrom    uint64            `json:"bytes_from_server"`
	Transactions []transactionJSON `json:"transactions"`
}

type transactionJSON struct {
	RequestAt     string   `json:"request_at"`
	ResponseTime  *float64 `json:"response_time_us"`
	TransferTime  *float64 `json:"transfer_time_us"`
	RequestBytes  uint64   `json:"request_bytes"`
	ResponseBytes uint64   `json:"response_bytes"`
}

func parseConnections(t *testing.T, out string) []connJSON {
	t.Helper()
	var conns []connJSON
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var c connJSON
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("connection line %q: %v", sc.Text(), err)
		}
		conns = append(conns, c)
	}
	return conns
}

// TestRealCaptureMatchesTshark checks the connect times and transfer times of
// a real capture against tshark's tcp.analysis.initial_rtt and http.time.
func TestRealCaptureMatchesTshark(t *testing.T) {
	dir := corpusDir(t, "real")
	out, errOut, code := runAnalyze(t, "--connections", filepath.Join(dir, "http-dev-server.pcap.gz"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	byClient := map[string]connJSON{}
	for _, c := range parseConnections(t, out) {
		byClient[c.Client] = c
	}

	streams := map[string]string{} // tcp.stream → client ip:port
	irtt := readCSV(t, filepath.Join(dir, "http-dev-server.irtt.csv"))
	for _, r := range irtt {
		ip := r["ip.src"]
		if ip == "" {
			ip = r["ipv6.src"]
		}
		port, _ := strconv.ParseUint(r["tcp.srcport"], 10, 16)
		client := netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)).String()
		streams[r["tcp.stream"]] = client
		want, err := strconv.ParseFloat(r["tcp.analysis.initial_rtt"], 64)
		if err != nil {
			t.Fatalf("stream %s: initial_rtt %q", r["tcp.stream"], r["tcp.analysis.initial_rtt"])
		}
		c, ok := byClient[client]
		switch {
		case !ok:
			t.Errorf("stream %s (%s): no connection", r["tcp.stream"], client)
		case c.ConnectTime == nil:
			t.Errorf("stream %s (%s): connect_time null, tshark says %v s", r["tcp.stream"], client, want)
		case math.Abs(*c.ConnectTime-want*1e6) > 1:
			t.Errorf("stream %s (%s): connect_time %v µs, tshark initial_rtt %v µs", r["tcp.stream"], client, *c.ConnectTime, want*1e6)
		}
	}

	seen := map[string]int{} // responses matched so far per stream
	http := readCSV(t, filepath.Join(dir, "http-dev-server.http.csv"))
	for _, r := range http {
		client, ok := streams[r["tcp.stream"]]
		if !ok {
			t.Fatalf("http.csv stream %s not in irtt.csv", r["tcp.stream"])
		}
		want, _ := strconv.ParseFloat(r["http.time"], 64)
		at, _ := strconv.ParseFloat(r["frame.time_epoch"], 64)
		n := seen[r["tcp.stream"]]
		seen[r["tcp.stream"]]++
		c := byClient[client]
		if n >= len(c.Transactions) {
			t.Errorf("stream %s (%s): response %d missing (%d transactions)", r["tcp.stream"], client, n, len(c.Transactions))
			continue
		}
		tr := c.Transactions[n]
		if tr.TransferTime == nil || math.Abs(*tr.TransferTime-want*1e6) > 1 {
			t.Errorf("stream %s (%s) response %d: transfer_time %v µs, tshark http.time %v µs", r["tcp.stream"], client, n, deref(tr.TransferTime), want*1e6)
			continue
		}
		// The response's last segment is the frame tshark reports it at.
		req, err := time.Parse(time.RFC3339Nano, tr.RequestAt)
		if err != nil {
			t.Fatal(err)
		}
		end := float64(req.UnixNano())/1e9 + *tr.TransferTime/1e6
		if math.Abs(end-at) > 2e-6 {
			t.Errorf("stream %s response %d: ends at %.6f, tshark frame at %.6f", r["tcp.stream"], n, end, at)
		}
	}
	if len(http) == 0 || len(irtt) == 0 {
		t.Fatal("empty reference CSVs")
	}
	for stream, n := range seen {
		if got := len(byClient[streams[stream]].Transactions); got != n {
			t.Errorf("stream %s: %d transactions, tshark saw %d HTTP responses", stream, got, n)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTcpdumpCorpus runs every capture of tcpdump's test suite through
// analyze: each gives a result or a clear error, never a panic.
func TestTcpdumpCorpus(t *testing.T) {
	dir := corpusDir(t, "tcpdump-tests")
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("only %d corpus files", len(files))
	}
	ok, failed := 0, 0
	for _, f := range files {
		out, errOut, code := analyzeNoPanic(t, "--format", "json", f)
		switch code {
		case 0:
			var v struct {
				Servers []json.RawMessage `json:"servers"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Errorf("%s: exit 0 but output is not JSON: %v", f, err)
			}
			ok++
		case 1:
			if !strings.Contains(errOut, "pastmon: analyze: ") {
				t.Errorf("%s: exit 1 without a clear error: %q", f, errOut)
			}
			failed++
		default:
			t.Errorf("%s: exit %d: %s", f, code, errOut)
		}
	}
	t.Logf("%d captures analysed, %d refused with an error", ok, failed)
}

func analyzeNoPanic(t *testing.T, args ...string) (out, errOut string, code int) {
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("analyze %v panicked: %v", args, r)
			code = -1
		}
	}()
	return runAnalyze(t, args...)
}
