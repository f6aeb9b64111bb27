package main

import (
	"context"
	"errors"
	"io"
)

// webCommand is "pastmon web". Not built yet: see the open issues.
type webCommand struct{ stdout, stderr io.Writer }

func (c *webCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("web", c.stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errors.New("web: not implemented yet")
}
