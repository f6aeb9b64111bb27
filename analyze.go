package main

import (
	"context"
	"errors"
	"io"
)

// analyzeCommand is "pastmon analyze". Not built yet: see the open issues.
type analyzeCommand struct{ stdout, stderr io.Writer }

func (c *analyzeCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("analyze", c.stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errors.New("analyze: not implemented yet")
}
