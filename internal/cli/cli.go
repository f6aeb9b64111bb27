// Package cli holds what pastmon's commands share on their command lines:
// flag sets that also read PASTMON_<FLAG> from the environment, the flags
// several commands define alike (etcd, snaplen, interfaces), and the
// usage error. It runs nothing.
package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/discovery"
)

// ErrUsage reports bad flags or arguments; pastmon exits 2 on it.
var ErrUsage = errors.New("usage")

// ExitCode reports err on stderr (prefixed "pastmon: ") and returns the
// exit status: 0 for none or --help, 2 for ErrUsage, the code of an Exit
// error, else 1.
func ExitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
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

// Exit wraps err so that pastmon exits with code (ExitCode) instead of 1.
func Exit(code int, err error) error { return &exitError{code, err} }

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// Parse parses args into fs, then fills every flag not given on the
// command line from PASTMON_<FLAG> (upper case, '-' → '_'). Bad flags print
// the error and the flag set's usage and return ErrUsage.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %v: %w", fs.Name(), err, ErrUsage)
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
		return fmt.Errorf("%s: %w: %w", fs.Name(), err, ErrUsage)
	}
	return nil
}

// NewFlagSet returns a flag set that reports errors and usage on w and lets
// Parse decide the exit code.
func NewFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage of pastmon %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// EtcdFlags defines the etcd flags of web, sensor and discover into cfg.
func EtcdFlags(fs *flag.FlagSet, cfg *discovery.Config) {
	cfg.Key = discovery.DefaultKey
	fs.Var(endpoints{&cfg.Endpoints}, "etcd-endpoints", "comma-separated etcd `endpoints` (h:2379 or https://h:2379,...) the web node registers in")
	fs.StringVar(&cfg.Key, "etcd-key", discovery.DefaultKey, "etcd key the web node registers under")
	fs.StringVar(&cfg.CACert, "etcd-cacert", "", "CA certificate (PEM) that signed etcd's certificate")
	fs.StringVar(&cfg.Cert, "etcd-cert", "", "client certificate (PEM) when etcd requires one")
	fs.StringVar(&cfg.CertKey, "etcd-cert-key", "", "key (PEM) of --etcd-cert")
}

// SnaplenFlag defines --snaplen with the live capture's default.
func SnaplenFlag(fs *flag.FlagSet, v *int, usage string) {
	fs.IntVar(v, "snaplen", live.DefaultSnaplen, usage)
}

// ValidSnaplen checks a --snaplen value.
func ValidSnaplen(n int) error {
	if n < 64 || n > live.MaxSnaplen {
		return fmt.Errorf("--snaplen %d: want 64 to %d", n, live.MaxSnaplen)
	}
	return nil
}

// endpoints is a comma-separated list flag.
type endpoints struct{ list *[]string }

func (e endpoints) String() string {
	if e.list == nil {
		return ""
	}
	return strings.Join(*e.list, ",")
}

func (e endpoints) Set(s string) error {
	*e.list = discovery.SplitEndpoints(s)
	return nil
}

// Interfaces turns --interface into live.Config.Interfaces ("any": all).
func Interfaces(value string) []string {
	if value == "any" || value == "" {
		return nil
	}
	return strings.Split(value, ",")
}

// placeholders are the secrets the deploy files ship with, refused so that
// a copied example never runs with a known password.
var placeholders = []string{"change-me-to-a-long-random-string", "change-me-too", "change-me", "changeme", "admin"}

// Secret sets *v from file when given (one line; surrounding space
// dropped; giving both is an error), then checks it: no example value of
// the deploy files, and when set at least min characters.
func Secret(v *string, file, name string, min int) []error {
	var errs []error
	if err := readSecret(v, file, name); err != nil {
		errs = append(errs, err)
	}
	if slices.Contains(placeholders, strings.ToLower(*v)) {
		errs = append(errs, fmt.Errorf("--%s: %q is the example value of the deploy files: set a secret of your own", name, *v))
	}
	if *v != "" && len(*v) < min {
		errs = append(errs, fmt.Errorf("--%s: want at least %d characters", name, min))
	}
	return errs
}

func readSecret(v *string, file, flagName string) error {
	if file == "" {
		return nil
	}
	if *v != "" {
		return fmt.Errorf("--%s and --%s-file: give one", flagName, flagName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--%s-file: %w", flagName, err)
	}
	if *v = strings.TrimSpace(string(b)); *v == "" {
		return fmt.Errorf("--%s-file %s is empty", flagName, file)
	}
	return nil
}

// ValidListen checks the [host]:port address of flag name.
func ValidListen(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--%s %q: want [host]:port: %v", name, addr, err)
	}
	return nil
}

// ValidFlush checks a --flush-interval: 0 (off) or at least a second.
func ValidFlush(d time.Duration) error {
	if d != 0 && d < time.Second {
		return fmt.Errorf("--flush-interval %s: want 0 or at least 1s", d)
	}
	return nil
}

// ValidTLS checks that a certificate and its key are both given, or
// neither, and that they load.
func ValidTLS(cert, key string) error {
	if (cert == "") != (key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if cert == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return nil
}

// ValidEtcd checks the etcd flags when endpoints are given.
func ValidEtcd(c *discovery.Config) error {
	if len(c.Endpoints) == 0 {
		return nil
	}
	if !strings.HasPrefix(c.Key, "/") {
		return fmt.Errorf("--etcd-key %q: want a key starting with /", c.Key)
	}
	return c.Validate()
}

// ValidHTTPURL checks flag name's http:// or https:// URL, when given.
func ValidHTTPURL(name, s string) error {
	if s == "" {
		return nil
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--%s %q: want http://host:port or https://host:port", name, s)
	}
	return nil
}

// ValidInput checks that flag name's input file exists, when given; "-"
// is standard input.
func ValidInput(name, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--%s: %w", name, err)
	}
	return nil
}
