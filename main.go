// Command pastmon is a passive application response time monitor: sensors
// time every TCP handshake and request/response turn they see, and a web node
// stores and charts 5-minute summaries per server. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// command is one subcommand: it parses its own flags and runs until done or
// until ctx is cancelled.
type command interface {
	Run(ctx context.Context, args []string) error
}

// errUsage reports bad flags or arguments; main exits 2 on it.
var errUsage = errors.New("usage")

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
				return exitCode(cmds[rest[0]].Run(ctx, []string{"--help"}), stderr)
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
	return exitCode(cmd.Run(ctx, rest), stderr)
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "pastmon: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "pastmon: %v\n", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
}

// parseFlags parses args into fs, then fills every flag not given on the
// command line from PASTMON_<FLAG> (upper case, '-' → '_'). Bad flags print
// the error and the flag set's usage and return errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %v: %w", fs.Name(), err, errUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "PASTMON_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", env, v, err))
			}
		}
	})
	if len(errs) > 0 {
		err := errors.Join(errs...)
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return fmt.Errorf("%s: %w: %w", fs.Name(), err, errUsage)
	}
	return nil
}

// newFlagSet returns a flag set that reports errors and usage on w and lets
// parseFlags decide the exit code.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage of pastmon %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

type versionCommand struct{ stdout io.Writer }

func (c *versionCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("version", c.stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pastmon %s\n", Version)
	return nil
}
