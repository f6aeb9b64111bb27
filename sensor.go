package main

import (
	"context"
	"errors"
	"io"
)

// sensorCommand is "pastmon sensor". Not built yet: see the open issues.
type sensorCommand struct{ stdout, stderr io.Writer }

func (c *sensorCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("sensor", c.stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errors.New("sensor: not implemented yet")
}
