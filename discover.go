package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/internal/cli"
)

// discoverCommand is "pastmon discover": it prints the URL the web node
// registered in etcd, for scripts and ExecStartPre gates.
type discoverCommand struct{ stdout, stderr io.Writer }

func (c *discoverCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("discover", c.stderr)
	var cfg discovery.Config
	cli.EtcdFlags(fs, &cfg)
	timeout := fs.Duration("timeout", 5*time.Second, "give up when etcd has not answered within this time")
	check := fs.Bool("check", false, "validate the flags and exit")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("discover: unexpected arguments %q: %w", fs.Args(), cli.ErrUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("discover: --timeout %v: want a positive duration: %w", *timeout, cli.ErrUsage)
	}
	cfg.DialTimeout = *timeout
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("discover: %w (set --etcd-endpoints and --etcd-key): %w", err, cli.ErrUsage)
	}
	if *check {
		fmt.Fprintln(c.stdout, "discover: configuration ok")
		return nil
	}
	v, err := discovery.Lookup(ctx, cfg)
	if err != nil {
		return cli.Exit(1, fmt.Errorf("discover: %w", discovery.Explain(cfg, err))) // no usable web node
	}
	fmt.Fprintln(c.stdout, v.URL)
	return nil
}
