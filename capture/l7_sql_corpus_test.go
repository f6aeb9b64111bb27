package capture

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// The l7-mix capture of ../shared/corpus/l7 against its tshark references:
// DNS (UDP and TCP), PostgreSQL and MySQL.

var l7Once struct {
	sync.Once
	records []*tcp.Record
	sums    []window.Summary
	err     error
}

// l7Run runs the pipeline over l7-mix.pcap.gz once for every test here.
func l7Run(t *testing.T) ([]*tcp.Record, []window.Summary) {
	t.Helper()
	dir := corpusDir(t, "l7")
	l7Once.Do(func() {
		src, err := OpenFile(filepath.Join(dir, "l7-mix.pcap.gz"))
		if err != nil {
			l7Once.err = err
			return
		}
		defer src.Close()
		_, l7Once.err = Run(t.Context(), src, Config{
			OnRecord: func(r *tcp.Record) { l7Once.records = append(l7Once.records, r) },
			OnWindow: func(s window.Summary) { l7Once.sums = append(l7Once.sums, s) },
		})
	})
	if l7Once.err != nil {
		t.Fatal(l7Once.err)
	}
	return l7Once.records, l7Once.sums
}

// readCSV reads a reference CSV as maps by column name.
func readCSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir(t, "l7"), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
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

// epoch parses a frame.time_epoch value exactly (ns).
func epoch(t *testing.T, s string) int64 {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("time %q", s)
	}
	return a*1e9 + b
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestL7DNS: every DNS response's response_time_us equals tshark's dns.time
// within 1 µs, with the same type and rcode; the unanswered queries are
// TIMEOUT without timing.
func TestL7DNS(t *testing.T) {
	records, sums := l7Run(t)
	type key struct {
		transport string
		client    uint16
		at        int64
	}
	got := map[key]tcp.Transaction{}
	for _, r := range records {
		if r.Protocol != "dns" {
			continue
		}
		tr := r.Transport
		if tr == "" {
			tr = "tcp"
		}
		for _, x := range r.Transactions {
			got[key{tr, r.Client.Port(), x.RequestAt.UnixNano()}] = x
		}
	}
	rows := readCSV(t, "l7-mix.dns.csv")
	var answered, timeouts int
	for _, row := range rows {
		port, _ := strconv.Atoi(row["client.port"])
		k := key{row["transport"], uint16(port), epoch(t, row["query.time_epoch"])}
		x, ok := got[k]
		where := fmt.Sprintf("%s stream %s id %s", row["transport"], row["stream"], row["dns.id"])
		if !ok {
			t.Errorf("%s: no transaction with a query at %s", where, time.Unix(0, k.at).UTC().Format(tcp.TimeFormat))
			continue
		}
		if str(x.Operation) != row["qry.type.name"] {
			t.Errorf("%s: operation %s, tshark %s", where, str(x.Operation), row["qry.type.name"])
		}
		if row["response.frame"] == "" {
			timeouts++
			if str(x.Status) != "TIMEOUT" || x.ResponseTime != nil || x.TransferTime != nil || str(x.Result) != "server_error" {
				t.Errorf("%s unanswered: status %s result %s response_time %v", where, str(x.Status), str(x.Result), x.ResponseTime)
			}
			continue
		}
		answered++
		if str(x.Status) != row["rcode.name"] {
			t.Errorf("%s: status %s, tshark %s", where, str(x.Status), row["rcode.name"])
		}
		want, _ := strconv.ParseFloat(row["dns.time"], 64)
		if x.ResponseTime == nil || math.Abs(*x.ResponseTime-want*1e6) > 1 {
			t.Errorf("%s: response_time %v µs, tshark %.0f", where, x.ResponseTime, want*1e6)
		}
	}
	if answered != 240 || timeouts != 42 {
		t.Errorf("%d answered and %d unanswered queries in the reference, want 240 and 42", answered, timeouts)
	}
	// The summaries: UDP servers have transport udp, and their
	// transactions add up to the reference's UDP rows.
	var udpTx uint64
	for _, s := range sums {
		if s.Transport == "udp" {
			udpTx += s.Counters.Transactions
			if s.Protocol != "dns" {
				t.Errorf("udp server %v: protocol %q", s.Server, s.Protocol)
			}
		}
	}
	var udpRows uint64
	for _, row := range rows {
		if row["transport"] == "udp" {
			udpRows++
		}
	}
	if udpTx != udpRows {
		t.Errorf("udp transactions %d, reference %d", udpTx, udpRows)
	}
}

// refErrors reads, per client port, the error codes of a reference CSV in
// order: the rows where code is set and isErr says it is an error.
func refErrors(t *testing.T, name, code string, isErr func(map[string]string) bool) map[uint16][]string {
	t.Helper()
	rows := readCSV(t, name)
	client := map[string]uint16{} // stream → client port
	for _, r := range rows {
		if r["direction"] == "c2s" {
			p, _ := strconv.Atoi(r["tcp.srcport"])
			client[r["tcp.stream"]] = uint16(p)
		}
	}
	out := map[uint16][]string{}
	for _, r := range rows {
		if r[code] != "" && isErr(r) {
			out[client[r["tcp.stream"]]] = append(out[client[r["tcp.stream"]]], r[code])
		}
	}
	return out
}

// gotErrors lists, per client port of a server port's connections, the
// statuses of failed transactions in order, checking each result class.
func gotErrors(t *testing.T, port uint16, protocol string, server func(string) bool) (map[uint16][]string, int) {
	records, _ := l7Run(t)
	out := map[uint16][]string{}
	conns := 0
	for _, r := range records {
		if r.Server.Port() != port {
			continue
		}
		conns++
		if r.Protocol != protocol {
			t.Errorf("%v → %v: protocol %q, want %s", r.Client, r.Server, r.Protocol, protocol)
			continue
		}
		for _, x := range r.Transactions {
			res := str(x.Result)
			if res == "ok" || x.Result == nil && x.Status == nil { // ok, or no answer (COM_QUIT, Terminate)
				continue
			}
			want := "client_error"
			if server(str(x.Status)) {
				want = "server_error"
			}
			if res != want {
				t.Errorf("%v: status %s result %s, want %s", r.Client, str(x.Status), res, want)
			}
			out[r.Client.Port()] = append(out[r.Client.Port()], str(x.Status))
		}
	}
	return out, conns
}

func compareErrors(t *testing.T, what string, got, want map[uint16][]string) {
	t.Helper()
	n := 0
	for port, codes := range want {
		n += len(codes)
		if strings.Join(got[port], ",") != strings.Join(codes, ",") {
			t.Errorf("%s connection from port %d: errors %v, tshark %v", what, port, got[port], codes)
		}
	}
	for port, codes := range got {
		if _, ok := want[port]; !ok {
			t.Errorf("%s connection from port %d: errors %v, tshark none", what, port, codes)
		}
	}
	if n == 0 {
		t.Errorf("no %s errors in the reference", what)
	}
}

// TestL7Postgres: every PostgreSQL ErrorResponse's SQLSTATE matches
// tshark's, in order per connection, with DESIGN.md's result class.
func TestL7Postgres(t *testing.T) {
	want := refErrors(t, "l7-mix.pgsql.csv", "pgsql.code", func(r map[string]string) bool { return r["pgsql.type"] == "Error" })
	got, conns := gotErrors(t, 5432, "postgres", func(s string) bool {
		switch s[:2] {
		case "08", "40", "53", "55", "57", "58", "XX":
			return true
		}
		return false
	})
	if conns != 47 {
		t.Errorf("%d connections to :5432, tshark 47", conns)
	}
	compareErrors(t, "postgres", got, want)
}

// TestL7MySQL: every MySQL ERR packet's code matches tshark's, in order per
// connection (none of the capture's errors is the server's).
func TestL7MySQL(t *testing.T) {
	want := refErrors(t, "l7-mix.mysql.csv", "mysql.error_code", func(r map[string]string) bool { return r["kind"] == "response ERROR" })
	got, conns := gotErrors(t, 3306, "mysql", func(string) bool { return false })
	if conns != 27 {
		t.Errorf("%d connections to :3306, tshark 27", conns)
	}
	compareErrors(t, "mysql", got, want)
}

// TestPipelineAllocsL7 is TestPipelineAllocs on the six-protocol capture,
// every parser on, DNS over UDP included: what a pass allocates is per
// server window (summaries, sketches, the operation breakdown), never per
// packet.
func TestPipelineAllocsL7(t *testing.T) {
	src, err := OpenFile(filepath.Join(corpusDir(t, "l7"), "l7-mix.pcap.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	frames := readFrames(t, src)
	var windows int
	p, err := newPipeline(Config{OnWindow: func(window.Summary) { windows++ }})
	if err != nil {
		t.Fatal(err)
	}
	shift := frames[len(frames)-1].TS - frames[0].TS + int64(2*window.Width)
	round := int64(0)
	pass := func() {
		replay(len(frames), p, frames, shift, round, 0, 0)
		p.housekeep(frames[len(frames)-1].TS + round*shift + int64(time.Minute))
		round++
	}
	pass()
	windows = 0
	const runs = 4
	allocs := testing.AllocsPerRun(runs, pass)
	if p.stats.Datagrams == 0 {
		t.Fatal("no DNS datagrams tracked")
	}
	perWindow := allocs / (float64(windows) / (runs + 1))
	t.Logf("%d packets, %.0f allocations and %d server windows per pass (%.1f per window)", len(frames), allocs, windows/(runs+1), perWindow)
	// A window's work (summary, sketch pages of its metrics and of each
	// operation, statuses) costs about 75 allocations here. One allocation
	// per packet would add 13381 a pass, one per transaction about 2800:
	// either breaks this bound.
	if limit := 100 * float64(windows) / (runs + 1); allocs > limit {
		t.Errorf("%.0f allocations per pass of %d packets and %d windows (limit %.0f): the hot path allocates per packet or transaction",
			allocs, len(frames), windows/(runs+1), limit)
	}
}
