package proto_test

import (
	"encoding/csv"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// The l7-mix capture (../shared/corpus/l7, see its README) against its
// tshark references, for HTTP, TLS and Redis.

func l7Dir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "l7")
	if _, err := os.Stat(filepath.Join(dir, "l7-mix.pcap.gz")); err != nil {
		t.Skipf("l7 corpus not found: %v", err)
	}
	return dir
}

// l7Run is the capture through the pipeline: its connection records by
// client and server address, and its summaries.
type l7Run struct {
	records   map[string][]*tcp.Record
	summaries []window.Summary
	stats     capture.Stats
}

// conn returns the connection from client to server that was open at at
// (ports are reused: the latest one started by then).
func (r *l7Run) conn(client, server string, at time.Time) *tcp.Record {
	var best *tcp.Record
	for _, rec := range r.records[client+" "+server] {
		if !rec.Start.After(at) && (best == nil || rec.Start.After(best.Start)) {
			best = rec
		}
	}
	return best
}

var (
	l7Once   sync.Once
	l7Result l7Run
	l7Err    error
)

func runL7(t *testing.T) *l7Run {
	t.Helper()
	dir := l7Dir(t)
	l7Once.Do(func() {
		src, err := capture.OpenFile(filepath.Join(dir, "l7-mix.pcap.gz"))
		if err != nil {
			l7Err = err
			return
		}
		defer src.Close()
		r := l7Run{records: map[string][]*tcp.Record{}}
		cfg := capture.Config{
			OnRecord: func(rec *tcp.Record) {
				k := rec.Client.String() + " " + rec.Server.String()
				r.records[k] = append(r.records[k], rec)
			},
			OnWindow: func(s window.Summary) { r.summaries = append(r.summaries, s) },
		}
		r.stats, l7Err = capture.Run(t.Context(), src, cfg)
		l7Result = r
	})
	if l7Err != nil {
		t.Fatal(l7Err)
	}
	return &l7Result
}

// readCSV returns the rows of a reference file as maps by column name.
func readCSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(l7Dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
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

// epoch parses a tshark frame.time_epoch exactly.
func epoch(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	a, err1 := strconv.ParseInt(sec, 10, 64)
	frac = (frac + "000000000")[:9]
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("time %q", s)
	}
	return time.Unix(a, b).UTC()
}

// streamEnds maps tcp.stream to its client and server ip:port
// (l7-mix.irtt.csv).
func streamEnds(t *testing.T) map[string][2]string {
	out := map[string][2]string{}
	end := func(r map[string]string, side, port string) string {
		ip := r["ip."+side]
		if ip == "" {
			ip = r["ipv6."+side]
		}
		a, err := netip.ParseAddr(ip)
		p, err2 := strconv.Atoi(r[port])
		if err != nil || err2 != nil {
			t.Fatalf("stream %s: address %q port %q", r["tcp.stream"], ip, r[port])
		}
		return netip.AddrPortFrom(a, uint16(p)).String()
	}
	for _, r := range readCSV(t, "l7-mix.irtt.csv") {
		out[r["tcp.stream"]] = [2]string{end(r, "src", "tcp.srcport"), end(r, "dst", "tcp.dstport")}
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// template is DESIGN.md's route templating, written independently of the
// parser's: query string dropped, ids (all digits, a UUID, 16+ hex digits)
// become :id.
var idSegment = regexp.MustCompile(`^([0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})$`)

func template(uri string) string {
	uri, _, _ = strings.Cut(uri, "?")
	segs := strings.Split(uri, "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			segs[i] = ":id"
		}
	}
	return strings.Join(segs, "/")
}

func TestL7HTTP(t *testing.T) {
	run := runL7(t)
	ends := streamEnds(t)
	byStream := map[string][]map[string]string{}
	final := 0
	for _, r := range readCSV(t, "l7-mix.http.csv") {
		if r["interim"] == "1" {
			continue
		}
		byStream[r["tcp.stream"]] = append(byStream[r["tcp.stream"]], r)
		final++
	}
	if final != 372 {
		t.Fatalf("%d final responses in the reference, README says 372", final)
	}
	checked := 0
	for stream, refs := range byStream {
		rec := run.conn(ends[stream][0], ends[stream][1], epoch(t, refs[0]["frame.time_epoch"]))
		if rec == nil {
			t.Errorf("stream %s (%s): no connection record", stream, ends[stream])
			continue
		}
		if rec.Protocol != "http" {
			t.Errorf("stream %s: protocol %q", stream, rec.Protocol)
		}
		if len(rec.Transactions) != len(refs) {
			t.Errorf("stream %s: %d transactions, tshark %d responses", stream, len(rec.Transactions), len(refs))
			continue
		}
		for i, ref := range refs {
			tx := rec.Transactions[i]
			wantOp := ref["request.method"] + " " + template(ref["request.uri"])
			if str(tx.Status) != ref["http.response.code"] || str(tx.Operation) != wantOp {
				t.Errorf("stream %s #%d: %s %s, tshark %s %s", stream, i, str(tx.Operation), str(tx.Status), wantOp, ref["http.response.code"])
			}
			want, _ := strconv.ParseFloat(ref["http.time"], 64)
			if tx.TransferTime == nil || math.Abs(*tx.TransferTime-want*1e6) > 1 {
				t.Errorf("stream %s #%d (%s): transfer_time %v µs, tshark http.time %v s", stream, i, wantOp, tx.TransferTime, want)
			}
			wantRes := "ok"
			switch ref["http.response.code"][0] {
			case '4':
				wantRes = "client_error"
			case '5':
				wantRes = "server_error"
			}
			if str(tx.Result) != wantRes {
				t.Errorf("stream %s #%d: result %s, want %s", stream, i, str(tx.Result), wantRes)
			}
			checked++
		}
	}
	if checked != final {
		t.Errorf("checked %d of %d responses", checked, final)
	}
}

func TestL7TLS(t *testing.T) {
	run := runL7(t)
	names := map[string]string{"0x0304": "TLS1.3", "0x0303": "TLS1.2"}
	refs := readCSV(t, "l7-mix.tls.csv")
	if len(refs) != 102 {
		t.Fatalf("%d TLS connections in the reference, README says 102", len(refs))
	}
	for _, ref := range refs {
		rec := run.conn(ref["client"], "10.210.0.2:8443", epoch(t, ref["clienthello.time_epoch"]))
		if rec == nil {
			t.Errorf("stream %s (%s): no connection record", ref["tcp.stream"], ref["client"])
			continue
		}
		if rec.Protocol != "tls" || len(rec.Transactions) == 0 {
			t.Errorf("stream %s: protocol %q, %d transactions", ref["tcp.stream"], rec.Protocol, len(rec.Transactions))
			continue
		}
		hs := rec.Transactions[0]
		wantSNI := ref["sni"]
		if gotSNI := rec.SNI; (gotSNI == nil) != (wantSNI == "") || gotSNI != nil && *gotSNI != wantSNI {
			t.Errorf("stream %s: sni %s, tshark %q", ref["tcp.stream"], str(gotSNI), wantSNI)
		}
		var wantStatus, wantRes string
		if ref["serverhello.time_epoch"] != "" {
			wantStatus, wantRes = names[ref["version"]], "ok"
			rt := epoch(t, ref["serverhello.time_epoch"]).Sub(epoch(t, ref["clienthello.time_epoch"]))
			if hs.ResponseTime == nil || math.Abs(*hs.ResponseTime-float64(rt.Nanoseconds())/1e3) > 1 {
				t.Errorf("stream %s: handshake response_time %v µs, ServerHello − ClientHello %v", ref["tcp.stream"], hs.ResponseTime, rt)
			}
		} else {
			wantStatus, wantRes = "alert:"+ref["alert.name"], "client_error"
		}
		if str(hs.Operation) != "handshake" || str(hs.Status) != wantStatus || str(hs.Result) != wantRes {
			t.Errorf("stream %s: first transaction %s %s %s, want handshake %s %s", ref["tcp.stream"],
				str(hs.Operation), str(hs.Status), str(hs.Result), wantStatus, wantRes)
		}
		for i, tx := range rec.Transactions[1:] {
			if tx.Operation != nil || tx.Status != nil || tx.Result != nil {
				t.Errorf("stream %s #%d: later turn named %s %s %s", ref["tcp.stream"], i+1, str(tx.Operation), str(tx.Status), str(tx.Result))
			}
		}
	}
}

func TestL7Redis(t *testing.T) {
	run := runL7(t)
	type key struct{ client, at string }
	first := map[key]map[string]string{} // the first command of each turn
	const server = "10.210.0.2:6379"
	var errs []map[string]string
	for _, r := range readCSV(t, "l7-mix.redis.csv") {
		k := key{r["client"], epoch(t, r["command.end_time"]).Format(tcp.TimeFormat)}
		if first[k] == nil {
			first[k] = r
		}
		if r["reply.type"] == "-" || r["reply.type"] == "!" {
			errs = append(errs, r)
		}
	}
	if len(errs) != 8 {
		t.Fatalf("%d error replies in the reference, README says 8", len(errs))
	}
	named := 0
	for k, ref := range first {
		rec := run.conn(k.client, server, epoch(t, ref["command.time"]))
		if rec == nil {
			t.Errorf("%s: no connection record", k.client)
			continue
		}
		if rec.Protocol != "redis" {
			t.Errorf("%s: protocol %q", k.client, rec.Protocol)
			continue
		}
		var tx *tcp.Transaction
		for i := range rec.Transactions {
			if rec.Transactions[i].RequestAt.Format(tcp.TimeFormat) == k.at {
				tx = &rec.Transactions[i]
			}
		}
		if tx == nil {
			continue // a command whose turn went on in a later segment
		}
		named++
		if str(tx.Operation) != ref["command"] {
			t.Errorf("%s at %s: operation %s, reference %s", k.client, k.at, str(tx.Operation), ref["command"])
		}
		wantStatus, wantRes := "OK", "ok"
		if ref["error"] != "" {
			wantStatus, wantRes = ref["error"], "client_error"
		}
		if ref["reply.type"] != "" && (str(tx.Status) != wantStatus || str(tx.Result) != wantRes) {
			t.Errorf("%s %s at %s: status %s %s, reference %s %s", k.client, ref["command"], k.at, str(tx.Status), str(tx.Result), wantStatus, wantRes)
		}
	}
	if named < len(first)*9/10 {
		t.Errorf("only %d of %d commands matched a transaction by time", named, len(first))
	}
	for _, e := range errs {
		rec := run.conn(e["client"], server, epoch(t, e["command.time"]))
		at := epoch(t, e["command.end_time"]).Format(tcp.TimeFormat)
		found := false
		for _, tx := range rec.Transactions {
			if tx.RequestAt.Format(tcp.TimeFormat) == at && str(tx.Status) == e["error"] {
				found = true
			}
		}
		if !found {
			t.Errorf("error %s to %s at %s not found", e["error"], e["command"], at)
		}
	}
	t.Logf("%d turns of %d reference commands named and checked", named, len(first))
}

// TestL7Summaries checks that the per-server breakdown adds up: every
// transaction of a recognised server is in its operations, and the error
// counters equal the errors among them.
func TestL7Summaries(t *testing.T) {
	run := runL7(t)
	totals := map[string]*window.Summary{}
	for i := range run.summaries {
		s := &run.summaries[i]
		k := s.Server.String() + "/" + s.Transport
		if totals[k] == nil {
			c := *s
			c.Start = time.Time{}
			c.Operations, c.Statuses = nil, nil
			c.MergeBreakdown(s)
			totals[k] = &c
			continue
		}
		o := *s
		o.Start = time.Time{}
		if err := totals[k].Merge(&o); err != nil {
			t.Fatal(err)
		}
	}
	for _, port := range []string{"10.210.0.2:8080", "10.210.0.2:8443", "10.210.0.2:6379", "[fd10::2]:8080"} {
		s := totals[port+"/"]
		if s == nil {
			t.Errorf("no summary for %s", port)
			continue
		}
		var count, ce, se uint64
		for _, o := range s.Operations {
			count += o.Count
			ce += o.ClientError
			se += o.ServerError
		}
		var statuses uint64
		for _, n := range s.Statuses {
			statuses += n
		}
		t.Logf("%s %s: %d transactions, %d operations, client_errors %d, server_errors %d, statuses %v",
			port, s.Protocol, s.Transactions, len(s.Operations), s.ClientErrors, s.ServerErrors, s.Statuses)
		if s.Protocol == "tls" {
			count = statuses // later turns have no operation; the handshakes have one each
		}
		if statuses != count || ce != s.ClientErrors || se != s.ServerErrors {
			t.Errorf("%s: %d in operations, %d with a status, errors %d/%d in operations, counters %d/%d",
				port, count, statuses, ce, se, s.ClientErrors, s.ServerErrors)
		}
		if s.Protocol != "tls" && count != s.Transactions {
			t.Errorf("%s: %d transactions, %d in operations", port, s.Transactions, count)
		}
	}
}
