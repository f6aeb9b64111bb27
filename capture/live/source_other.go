//go:build !linux

package live

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/pastmon/pastmon/capture"
	"golang.org/x/net/bpf"
)

// errUnsupported is what live capture answers off Linux.
var errUnsupported = fmt.Errorf("live capture needs Linux (AF_PACKET), not %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Source is a live capture; off Linux it cannot be opened.
type Source struct{}

func open(context.Context, Config, []bpf.Instruction, []string, string) (*Source, error) {
	return nil, errUnsupported
}

// ReadFrame reports that live capture is unsupported.
func (s *Source) ReadFrame(*capture.Frame) error { return errUnsupported }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Stats returns zero counters.
func (s *Source) Stats() Stats { return Stats{} }

// Interfaces returns nothing.
func (s *Source) Interfaces() []string { return nil }
