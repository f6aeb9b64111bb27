package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/report"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/internal/cli"
)

// analyzeCommand is "pastmon analyze": it runs capture files through the
// same pipeline as a sensor and prints per-server results for the whole input.
type analyzeCommand struct{ stdout, stderr io.Writer }

func (c *analyzeCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("analyze", c.stderr)
	format := fs.String("format", "table", "output: table or json")
	conns := fs.Bool("connections", false, "print one JSON object per connection instead of the server summary")
	ops := fs.Bool("operations", false, "print the top operations of each server instead of the server table")
	protocols := fs.Bool("protocols", true, "recognise application protocols (false: time every connection as plain tcp)")
	maxFlows := fs.Int("max-flows", tcp.DefaultMaxFlows, "connections tracked at once")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: pastmon analyze [flags] FILE... [tcpdump filter expression ...]\n\n"+
			"FILE is a pcap or pcapng file, optionally gzip-compressed, or - for standard input.\n"+
			"Several files are analysed as one stream, in the order given. Flags come first.\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("analyze: --format %q: want table or json: %w", *format, cli.ErrUsage)
	}
	if *maxFlows <= 0 {
		return fmt.Errorf("analyze: --max-flows %d: want a positive number: %w", *maxFlows, cli.ErrUsage)
	}
	files, filter, err := capture.SplitArgs(fs.Args())
	if errors.Is(err, capture.ErrNoFile) {
		return fmt.Errorf("analyze: %w: %w", err, cli.ErrUsage)
	}
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	src, err := capture.OpenFiles(files)
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	defer src.Close()
	// Connection lines on a terminal would be overwritten by the progress line.
	if terminal(c.stderr) && !(*conns && terminal(c.stdout)) {
		src.ShowProgress(c.stderr, "analyze")
	}

	out := bufio.NewWriter(c.stdout)
	defer out.Flush()
	totals := report.Totals{}
	cfg := capture.Config{Filter: filter, MaxFlows: *maxFlows, OnWindow: totals.Add, NoProtocols: !*protocols}
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
	src.EndProgress()
	if runErr != nil && stats.Packets == 0 {
		return fmt.Errorf("analyze: %w", runErr)
	}
	report.Skipped(c.stderr, &stats)
	if recErr != nil {
		return fmt.Errorf("analyze: write: %w", recErr)
	}
	if !*conns {
		if err := totals.Write(out, *format, *ops); err != nil {
			return fmt.Errorf("analyze: write: %w", err)
		}
	}
	if runErr != nil {
		return fmt.Errorf("analyze: %w", runErr)
	}
	return nil
}

// terminal reports whether w is a terminal (for the progress line).
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
