// Package report sums a capture's closed windows per server over the whole
// input and prints them as "pastmon analyze" shows them: a table for
// people or JSON ({"servers":[...]}, DESIGN.md) for scripts. It also says
// what the capture skipped. It neither reads captures nor keeps windows
// apart by time.
package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/aggregate"
	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/udp"
	"github.com/pastmon/pastmon/capture/window"
)

// Totals are per-server sums over every window of an input.
type Totals map[serverKey]*window.Summary

// serverKey is a server: its address and transport.
type serverKey struct {
	addr netip.AddrPort
	udp  bool
}

// Add merges one closed window into its server's total.
func (t Totals) Add(s window.Summary) {
	k := serverKey{s.Server, s.UDP()}
	tot := t[k]
	if tot == nil {
		tot = &window.Summary{Server: s.Server, Transport: s.Transport, Start: s.Start}
		t[k] = tot
	}
	s.Start = tot.Start // one total across windows
	_ = tot.Merge(&s)   // same server and start: cannot fail
}

// sorted orders servers by connections, most first, then by address.
func (t Totals) sorted() []*window.Summary {
	out := make([]*window.Summary, 0, len(t))
	for _, s := range t {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *window.Summary) int {
		if c := cmp.Compare(b.Connections, a.Connections); c != 0 {
			return c
		}
		if c := a.Server.Compare(b.Server); c != 0 {
			return c
		}
		return cmp.Compare(a.Transport, b.Transport)
	})
	return out
}

type serverJSON struct {
	Server    string `json:"server"`
	Transport string `json:"transport"` // "tcp" or "udp", as DESIGN.md's JSON says
	window.Counters
	RTT          window.Stats `json:"rtt"`
	RTTServer    window.Stats `json:"rtt_server"`
	RTTClient    window.Stats `json:"rtt_client"`
	ConnectTime  window.Stats `json:"connect_time"`
	ResponseTime window.Stats `json:"response_time"`
	TransferTime window.Stats `json:"transfer_time"`
	// For a recognised protocol (DESIGN.md): most frequent first.
	Protocol   string            `json:"protocol,omitempty"`
	Operations []operationJSON   `json:"operations,omitempty"`
	Statuses   map[string]uint64 `json:"statuses,omitempty"`
}

type operationJSON struct {
	Operation    string       `json:"operation"`
	Count        uint64       `json:"count"`
	OK           uint64       `json:"ok"`
	ClientError  uint64       `json:"client_error"`
	ServerError  uint64       `json:"server_error"`
	ResponseTime window.Stats `json:"response_time"`
}

func operationsJSON(ops []window.Operation) []operationJSON {
	var out []operationJSON
	for i := range ops {
		o := &ops[i]
		out = append(out, operationJSON{o.Name, o.Count, o.OK, o.ClientError, o.ServerError, o.ResponseTime.Stats()})
	}
	return out
}

func transport(s *window.Summary) string {
	if s.UDP() {
		return "udp"
	}
	return "tcp"
}

// protocol is a server's protocol as the table shows it.
func protocol(s *window.Summary) string {
	if s.Protocol == "" {
		return transport(s)
	}
	return s.Protocol
}

func toJSON(s *window.Summary) serverJSON {
	m := &s.Metrics
	return serverJSON{
		Server: window.ServerName(s.Server), Transport: transport(s), Counters: s.Counters,
		RTT: m[window.RTT].Stats(), RTTServer: m[window.RTTServer].Stats(), RTTClient: m[window.RTTClient].Stats(),
		ConnectTime: m[window.ConnectTime].Stats(), ResponseTime: m[window.ResponseTime].Stats(), TransferTime: m[window.TransferTime].Stats(),
		Protocol: s.Protocol, Operations: operationsJSON(s.Operations), Statuses: s.Statuses,
	}
}

// Write prints the totals as format "json", else as a table: of servers,
// or with ops of their top operations.
func (t Totals) Write(w io.Writer, format string, ops bool) error {
	switch {
	case format == "json":
		return t.WriteJSON(w)
	case ops:
		return t.WriteOperations(w)
	default:
		return t.WriteTable(w)
	}
}

// WriteJSON prints {"servers":[...]}, indented. It writes one server at a
// time, so that a capture of many servers (a host sweep) does not hold its
// whole output in memory.
func (t Totals) WriteJSON(w io.Writer) error {
	sorted := t.sorted()
	if len(sorted) == 0 {
		_, err := io.WriteString(w, "{\n  \"servers\": []\n}\n")
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("{\n  \"servers\": [\n")
	for i, s := range sorted {
		b, err := json.MarshalIndent(toJSON(s), "    ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString("    ")
		bw.Write(b)
		if i < len(sorted)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]\n}\n")
	return bw.Flush()
}

// WriteTable prints one aligned line per server.
func (t Totals) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "SERVER\tPROTO\t")
	for k := range window.NumCounters {
		fmt.Fprint(tw, counterHead(k), "\t")
	}
	fmt.Fprintln(tw, "RTT p50\tRTT p95\tCONNECT p50\tRESPONSE p50\tRESPONSE p95\tTRANSFER p95\t")
	for _, s := range t.sorted() {
		fmt.Fprint(tw, serverName(s), "\t", protocol(s), "\t")
		for k := range window.NumCounters {
			fmt.Fprint(tw, counterCell(&s.Counters, k), "\t")
		}
		m := &s.Metrics
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n",
			HumanMicros(m[window.RTT].Quantile(0.5)), HumanMicros(m[window.RTT].Quantile(0.95)),
			HumanMicros(m[window.ConnectTime].Quantile(0.5)),
			HumanMicros(m[window.ResponseTime].Quantile(0.5)), HumanMicros(m[window.ResponseTime].Quantile(0.95)),
			HumanMicros(m[window.TransferTime].Quantile(0.95)))
	}
	return tw.Flush()
}

// counterHeads abbreviates counter names for the table's header; a counter
// not listed is headed by its name.
var counterHeads = map[window.Counter]string{
	window.Connections: "CONNS", window.Established: "ESTAB", window.Unanswered: "UNANSW",
	window.SynRetries: "SYN-RETRY", window.Retransmits: "RETRANS", window.Transactions: "TRANS",
	window.BytesToServer: "TO-SRV", window.BytesFromServer: "FROM-SRV",
	window.ClientErrors: "CLI-ERR", window.ServerErrors: "SRV-ERR",
}

// TopOperations is how many operations per server WriteOperations prints.
const TopOperations = 20

// WriteOperations prints, per server with a recognised protocol, its most
// frequent operations: count, the share that failed (client or server
// error), and the p50/p95/p99 response_time.
func (t Totals) WriteOperations(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SERVER\tPROTO\tOPERATION\tCOUNT\tERR%\tCLI-ERR\tSRV-ERR\tRESPONSE p50\tRESPONSE p95\tRESPONSE p99\t")
	for _, s := range t.sorted() {
		for i := range s.Operations[:min(len(s.Operations), TopOperations)] {
			o := &s.Operations[i]
			errPct := "-"
			if o.Count > 0 {
				errPct = strconv.FormatFloat(100*float64(o.ClientError+o.ServerError)/float64(o.Count), 'f', 1, 64)
			}
			rt := &o.ResponseTime
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t\n", serverName(s), protocol(s),
				tabSafe(o.Name), o.Count, errPct, o.ClientError, o.ServerError,
				HumanMicros(rt.Quantile(0.5)), HumanMicros(rt.Quantile(0.95)), HumanMicros(rt.Quantile(0.99)))
		}
	}
	return tw.Flush()
}

// tabSafe keeps an operation name (bytes from the network) from breaking
// the table: tabs, line ends and other control characters become spaces.
func tabSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func counterHead(k window.Counter) string {
	if h, ok := counterHeads[k]; ok {
		return h
	}
	return strings.ToUpper(strings.ReplaceAll(k.String(), "_", "-"))
}

// counterCell prints a counter; byte counts in human units.
func counterCell(c *window.Counters, k window.Counter) string {
	if strings.HasPrefix(k.String(), "bytes_") {
		return capture.HumanBytes(*c.Field(k))
	}
	return strconv.FormatUint(*c.Field(k), 10)
}

// HumanMicros prints a duration in µs with three significant digits.
func HumanMicros(us float64) string {
	switch {
	case math.IsNaN(us):
		return "-"
	case us < 1000:
		return fmt.Sprintf("%.3gµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.3gms", us/1e3)
	default:
		return fmt.Sprintf("%.3gs", us/1e6)
	}
}

// Skipped prints what the capture did not count, one line per reason.
func Skipped(w io.Writer, s *capture.Stats) {
	if n := s.Skipped.Skipped(); n > 0 {
		fmt.Fprintf(w, "skipped %d packets: %s\n", n, s.Skipped.String())
	}
	if s.Filtered > 0 {
		fmt.Fprintf(w, "filtered out %d packets\n", s.Filtered)
	}
	if s.Duplicates > 0 {
		fmt.Fprintf(w, "ignored %d packets seen on a second interface\n", s.Duplicates)
	}
	if s.Dropped > 0 {
		fmt.Fprintf(w, "dropped %d counts and samples: more than %d server windows at once\n", s.Dropped, aggregate.MaxOpen)
	}
	if s.Evicted > 0 {
		fmt.Fprintf(w, "evicted %d connections from a full flow table (raise --max-flows)\n", s.Evicted)
	}
	if f := s.Protocols.Fallbacks; f != ([proto.NumProtocols]uint64{}) {
		var parts []string
		for p, n := range f {
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", proto.Protocol(p), n))
			}
		}
		fmt.Fprintf(w, "timed %s connections as plain tcp: their protocol's parser gave up\n", strings.Join(parts, ", "))
	}
	if s.ListenersDropped > 0 {
		fmt.Fprintf(w, "forgot %d listening servers: more than %d seen\n", s.ListenersDropped, tcp.MaxListeners)
	}
	if s.UDP.FlowsDropped > 0 {
		fmt.Fprintf(w, "dropped %d DNS datagrams of new UDP flows: more than %d flows at once\n", s.UDP.FlowsDropped, udp.DefaultMaxFlows)
	}
	if s.UDP.PendingDropped > 0 {
		fmt.Fprintf(w, "left %d DNS queries untimed: more than %d awaiting an answer at once\n", s.UDP.PendingDropped, udp.DefaultMaxPending)
	}
}

// serverName is the server as DESIGN.md writes it: ip:port (ip:* for
// closed ports), with /udp for a UDP server.
func serverName(s *window.Summary) string {
	if s.UDP() {
		return window.ServerName(s.Server) + "/udp"
	}
	return window.ServerName(s.Server)
}
