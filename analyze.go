package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/aggregate"
	"github.com/pastmon/pastmon/capture/filter"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

// analyzeCommand is "pastmon analyze": it runs capture files through the
// same pipeline as a sensor and prints per-server results for the whole input.
type analyzeCommand struct{ stdout, stderr io.Writer }

func (c *analyzeCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("analyze", c.stderr)
	format := fs.String("format", "table", "output: table or json")
	conns := fs.Bool("connections", false, "print one JSON object per connection instead of the server summary")
	maxFlows := fs.Int("max-flows", tcp.DefaultMaxFlows, "connections tracked at once")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: pastmon analyze [flags] FILE... [tcpdump filter expression ...]\n\n"+
			"FILE is a pcap or pcapng file, optionally gzip-compressed, or - for standard input.\n"+
			"Several files are analysed as one stream, in the order given. Flags come first.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("analyze: --format %q: want table or json: %w", *format, errUsage)
	}
	if *maxFlows <= 0 {
		return fmt.Errorf("analyze: --max-flows %d: want a positive number: %w", *maxFlows, errUsage)
	}
	files, filter, err := splitInputs(fs.Args())
	if err != nil {
		return err
	}
	src, err := openInputs(files)
	if err != nil {
		return err
	}
	defer src.Close()
	// Connection lines on a terminal would be overwritten by the progress line.
	src.progress, src.out = terminal(c.stderr) && !(*conns && terminal(c.stdout)), c.stderr

	out := bufio.NewWriter(c.stdout)
	defer out.Flush()
	totals := map[netip.AddrPort]*window.Summary{}
	cfg := capture.Config{
		Filter:   filter,
		MaxFlows: *maxFlows,
		OnWindow: func(s window.Summary) { mergeTotal(totals, &s) },
	}
	var recErr error
	if *conns {
		enc := json.NewEncoder(out)
		cfg.OnRecord = func(r *tcp.Record) {
			if err := enc.Encode(r); err != nil && recErr == nil {
				recErr = err
			}
		}
	}
	stats, runErr := capture.Run(ctx, src, cfg)
	src.endProgress()
	if runErr != nil && stats.Packets == 0 {
		return fmt.Errorf("analyze: %w", runErr)
	}
	reportSkipped(c.stderr, &stats)
	if recErr != nil {
		return fmt.Errorf("analyze: write: %w", recErr)
	}
	if !*conns {
		var werr error
		if *format == "json" {
			werr = writeJSON(out, totals)
		} else {
			werr = writeTable(out, totals)
		}
		if werr != nil {
			return fmt.Errorf("analyze: write: %w", werr)
		}
	}
	if runErr != nil {
		return fmt.Errorf("analyze: %w", runErr)
	}
	return nil
}

// splitInputs separates capture files (the leading arguments that name an
// existing file, or "-") from the words of the filter expression, which run
// from the first other argument to the end.
func splitInputs(args []string) (files []string, expr string, err error) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "-" {
			files = append(files, a)
			continue
		}
		_, err := os.Stat(a)
		if err == nil {
			files = append(files, a)
			continue
		}
		if looksLikePath(a) {
			return nil, "", fmt.Errorf("analyze: %w", err)
		}
		break
	}
	if len(files) == 0 {
		if len(args) > 0 {
			if _, perr := filter.Parse(strings.Join(args, " ")); perr != nil {
				_, err := os.Stat(args[0]) // not a filter either: say why it is no file
				return nil, "", fmt.Errorf("analyze: %w", err)
			}
		}
		return nil, "", fmt.Errorf("analyze: no capture file given: %w", errUsage)
	}
	return files, strings.Join(args[i:], " "), nil
}

// looksLikePath tells a mistyped file name from a filter word, so that it
// gets "no such file" rather than a filter syntax error.
func looksLikePath(a string) bool {
	if strings.ContainsRune(a, '/') {
		return true
	}
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".gz"} {
		if strings.HasSuffix(a, ext) {
			return true
		}
	}
	return false
}

// inputs reads several capture files as one stream.
type inputs struct {
	names    []string
	cur      capture.Source
	progress bool
	frames   uint64
	lastShow time.Time
	shown    bool
	out      io.Writer
	done     int64 // sizes of the files finished
	total    int64
}

func openInputs(names []string) (*inputs, error) {
	in := &inputs{names: names}
	for _, n := range names {
		if n == "-" {
			in.total = -1
			continue
		}
		st, err := os.Stat(n)
		if err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
		if in.total >= 0 {
			in.total += st.Size()
		}
	}
	if err := in.next(); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *inputs) next() error {
	src, err := capture.OpenFile(in.names[0])
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	in.names = in.names[1:]
	in.cur = src
	return nil
}

func (in *inputs) ReadFrame(f *capture.Frame) error {
	for {
		err := in.cur.ReadFrame(f)
		if err == nil {
			if in.frames++; in.progress && in.frames%65536 == 0 {
				in.showProgress()
			}
			return nil
		}
		if !errors.Is(err, io.EOF) || len(in.names) == 0 {
			return err
		}
		if p, ok := in.cur.(capture.Progresser); ok {
			d, _ := p.Progress()
			in.done += d
		}
		in.cur.Close()
		if err := in.next(); err != nil {
			in.cur = errSource{err}
			return err
		}
	}
}

func (in *inputs) Close() error { return in.cur.Close() }

type errSource struct{ err error }

func (e errSource) ReadFrame(*capture.Frame) error { return e.err }
func (e errSource) Close() error                   { return nil }

func (in *inputs) showProgress() {
	if time.Since(in.lastShow) < 500*time.Millisecond {
		return
	}
	in.lastShow = time.Now()
	done := in.done
	if p, ok := in.cur.(capture.Progresser); ok {
		d, _ := p.Progress()
		done += d
	}
	line := fmt.Sprintf("analyze: %d packets, %s read", in.frames, humanBytes(uint64(done)))
	if in.total > 0 {
		line += fmt.Sprintf(" (%.0f%%)", 100*float64(done)/float64(in.total))
	}
	fmt.Fprintf(in.out, "\r%-70s", line)
	in.shown = true
}

func (in *inputs) endProgress() {
	if in.shown {
		fmt.Fprintf(in.out, "\r%-70s\r", "")
	}
}

// terminal reports whether w is a terminal (for the progress line).
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func mergeTotal(totals map[netip.AddrPort]*window.Summary, s *window.Summary) {
	t := totals[s.Server]
	if t == nil {
		t = &window.Summary{Server: s.Server}
		totals[s.Server] = t
	}
	t.Counters.Add(&s.Counters)
	for i := range t.Metrics {
		t.Metrics[i].Merge(&s.Metrics[i])
	}
}

func reportSkipped(w io.Writer, s *capture.Stats) {
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
	if s.ListenersDropped > 0 {
		fmt.Fprintf(w, "forgot %d listening servers: more than %d seen\n", s.ListenersDropped, tcp.MaxListeners)
	}
}

// sortedServers orders servers by connections, most first, then by address.
func sortedServers(totals map[netip.AddrPort]*window.Summary) []*window.Summary {
	out := make([]*window.Summary, 0, len(totals))
	for _, s := range totals {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *window.Summary) int {
		if c := cmp.Compare(b.Connections, a.Connections); c != 0 {
			return c
		}
		return a.Server.Compare(b.Server)
	})
	return out
}

type serverJSON struct {
	Server string `json:"server"`
	window.Counters
	RTT          window.Stats `json:"rtt"`
	RTTServer    window.Stats `json:"rtt_server"`
	RTTClient    window.Stats `json:"rtt_client"`
	ConnectTime  window.Stats `json:"connect_time"`
	ResponseTime window.Stats `json:"response_time"`
	TransferTime window.Stats `json:"transfer_time"`
}

func writeJSON(w io.Writer, totals map[netip.AddrPort]*window.Summary) error {
	servers := []serverJSON{}
	for _, s := range sortedServers(totals) {
		m := &s.Metrics
		servers = append(servers, serverJSON{
			Server: window.ServerName(s.Server), Counters: s.Counters,
			RTT: m[window.RTT].Stats(), RTTServer: m[window.RTTServer].Stats(), RTTClient: m[window.RTTClient].Stats(),
			ConnectTime: m[window.ConnectTime].Stats(), ResponseTime: m[window.ResponseTime].Stats(), TransferTime: m[window.TransferTime].Stats(),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Servers []serverJSON `json:"servers"`
	}{servers})
}

func writeTable(w io.Writer, totals map[netip.AddrPort]*window.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "SERVER\t")
	for k := range window.NumCounters {
		fmt.Fprint(tw, counterHead(k), "\t")
	}
	fmt.Fprintln(tw, "RTT p50\tRTT p95\tCONNECT p50\tRESPONSE p50\tRESPONSE p95\tTRANSFER p95\t")
	for _, s := range sortedServers(totals) {
		fmt.Fprint(tw, window.ServerName(s.Server), "\t")
		for k := range window.NumCounters {
			fmt.Fprint(tw, counterCell(&s.Counters, k), "\t")
		}
		m := &s.Metrics
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n",
			humanMicros(m[window.RTT].Quantile(0.5)), humanMicros(m[window.RTT].Quantile(0.95)),
			humanMicros(m[window.ConnectTime].Quantile(0.5)),
			humanMicros(m[window.ResponseTime].Quantile(0.5)), humanMicros(m[window.ResponseTime].Quantile(0.95)),
			humanMicros(m[window.TransferTime].Quantile(0.95)))
	}
	return tw.Flush()
}

// counterHeads abbreviates counter names for the table's header; a counter
// not listed is headed by its name.
var counterHeads = map[window.Counter]string{
	window.Connections: "CONNS", window.Established: "ESTAB", window.Unanswered: "UNANSW",
	window.SynRetries: "SYN-RETRY", window.Retransmits: "RETRANS", window.Transactions: "TRANS",
	window.BytesToServer: "TO-SRV", window.BytesFromServer: "FROM-SRV",
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
		return humanBytes(*c.Field(k))
	}
	return strconv.FormatUint(*c.Field(k), 10)
}

// humanMicros prints a duration in µs with three significant digits.
func humanMicros(us float64) string {
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

func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n), "kMGTPE"
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.3g%cB", v, suffix[i])
}
