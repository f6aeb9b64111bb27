// Command pastmon is a passive application response time monitor: sensors
// time every TCP handshake and request/response turn they see, and a web node
// stores and charts 5-minute summaries per server. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pastmon/pastmon/internal/cli"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// command is one subcommand: it parses its own flags and runs until done or
// until ctx is cancelled.
type command interface {
	Run(ctx context.Context, args []string) error
}

func commands(stdout, stderr io.Writer) map[string]command {
	return map[string]command{
		"web":      &webCommand{stdout: stdout, stderr: stderr},
		"sensor":   &sensorCommand{stdout: stdout, stderr: stderr},
		"analyze":  &analyzeCommand{stdout: stdout, stderr: stderr},
		"discover": &discoverCommand{stdout: stdout, stderr: stderr},
		"version":  &versionCommand{stdout: stdout},
	}
}

const usage = `pastmon: passive application response time monitor

Usage:
  pastmon web      [flags]                 store, chart and (unless --no-sensor) capture
  pastmon sensor   [flags] [filter ...]    capture and ship summaries to the web node
  pastmon analyze  [flags] FILE... [filter ...]
  pastmon discover [flags]                 print the web node's URL from etcd
  pastmon version
  pastmon help [command]

Every flag may also be set as PASTMON_<FLAG> in the environment
(e.g. PASTMON_TOKEN, PASTMON_ETCD_ENDPOINTS). Run "pastmon help COMMAND" for flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	cmds := commands(stdout, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if _, ok := cmds[rest[0]]; ok {
				return cli.ExitCode(cmds[rest[0]].Run(ctx, []string{"--help"}), stderr)
			}
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "pastmon: unknown command %q\n\n%s", name, usage)
		return 2
	}
	return cli.ExitCode(cmd.Run(ctx, rest), stderr)
}

type versionCommand struct{ stdout io.Writer }

func (c *versionCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("version", c.stdout)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pastmon %s\n", Version)
	return nil
}
