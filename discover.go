package main

import (
	"context"
	"errors"
	"io"
)

// discoverCommand is "pastmon discover". Not built yet: see the open issues.
type discoverCommand struct{ stdout, stderr io.Writer }

func (c *discoverCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("discover", c.stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errors.New("discover: not implemented yet")
}
