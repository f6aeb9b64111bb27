package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pastmon/pastmon/discovery"
)

// discoverCommand is "pastmon discover": it prints the URL the web node
// registered in etcd, for scripts and ExecStartPre gates.
type discoverCommand struct{ stdout, stderr io.Writer }

// discoverError is a lookup that found no usable web node: exit status 1.
type discoverError struct{ err error }

func (e *discoverError) Error() string { return e.err.Error() }
func (e *discoverError) Unwrap() error { return e.err }
func (e *discoverError) ExitCode() int { return 1 }

func (c *discoverCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("discover", c.stderr)
	endpoints := fs.String("etcd-endpoints", "", "comma-separated etcd endpoints (h:2379 or https://h:2379)")
	key := fs.String("etcd-key", discovery.DefaultKey, "etcd key the web node registers under")
	caCert := fs.String("etcd-cacert", "", "CA certificate (PEM) that signed etcd's certificate")
	cert := fs.String("etcd-cert", "", "client certificate (PEM) when etcd requires one")
	certKey := fs.String("etcd-cert-key", "", "key (PEM) of --etcd-cert")
	timeout := fs.Duration("timeout", 5*time.Second, "give up when etcd has not answered within this time")
	check := fs.Bool("check", false, "validate the flags and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("discover: unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("discover: --timeout %v: want a positive duration: %w", *timeout, errUsage)
	}
	cfg := discovery.Config{
		Endpoints:   discovery.SplitEndpoints(*endpoints),
		Key:         *key,
		CACert:      *caCert,
		Cert:        *cert,
		CertKey:     *certKey,
		DialTimeout: *timeout,
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("discover: %w (set --etcd-endpoints and --etcd-key): %w", err, errUsage)
	}
	if *check {
		fmt.Fprintln(c.stdout, "discover: configuration ok")
		return nil
	}
	v, err := discovery.Lookup(ctx, cfg)
	if err != nil {
		return &discoverError{describeLookupError(cfg, err)}
	}
	fmt.Fprintln(c.stdout, v.URL)
	return nil
}

func describeLookupError(cfg discovery.Config, err error) error {
	eps := strings.Join(cfg.Endpoints, ",")
	switch {
	case errors.Is(err, discovery.ErrNotFound):
		return fmt.Errorf("discover: no web node registered at %s in etcd %s", cfg.Key, eps)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("discover: no answer within %v: %w", cfg.DialTimeout, err)
	default:
		return fmt.Errorf("discover: %w", err)
	}
}
