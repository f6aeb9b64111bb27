package cli

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  a-secret-of-20-chars \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, value, file, want, err string
	}{
		{name: "from the flag", value: "a-secret-of-20-chars", want: "a-secret-of-20-chars"},
		{name: "from a file, trimmed", file: file, want: "a-secret-of-20-chars"},
		{name: "unset is allowed", want: ""},
		{name: "both", value: "x", file: file, err: "give one"},
		{name: "empty file", file: empty, err: "is empty"},
		{name: "missing file", file: filepath.Join(dir, "nope"), err: "no such file"},
		{name: "placeholder", value: "Change-Me", err: "example value"},
		{name: "short", value: "short", err: "at least 16"},
	} {
		v := tc.value
		errs := Secret(&v, tc.file, "token", 16)
		err := errors.Join(errs...)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || v != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, v, err, tc.want)
		}
	}
}

// TestParseEnv: a flag not given on the command line comes from
// PASTMON_<FLAG>; one given wins; a bad value is a usage error.
func TestParseEnv(t *testing.T) {
	t.Setenv("PASTMON_SPOOL_MAX", "42")
	t.Setenv("PASTMON_NAME", "from-env")
	fs := NewFlagSet("test", io.Discard)
	n := fs.Int("spool-max", 1, "")
	name := fs.String("name", "", "")
	if err := Parse(fs, []string{"--name", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if *n != 42 || *name != "from-flag" {
		t.Errorf("spool-max %d, name %q; want 42 from the environment and the flag's name", *n, *name)
	}
	t.Setenv("PASTMON_SPOOL_MAX", "many")
	fs = NewFlagSet("test", io.Discard)
	fs.Int("spool-max", 1, "")
	if err := Parse(fs, nil); !errors.Is(err, ErrUsage) {
		t.Errorf("bad environment value: %v, want ErrUsage", err)
	}
	if code := ExitCode(Exit(3, errors.New("x")), io.Discard); code != 3 {
		t.Errorf("ExitCode(Exit(3)) = %d", code)
	}
	if code := ExitCode(flag.ErrHelp, io.Discard); code != 0 {
		t.Errorf("ExitCode(ErrHelp) = %d", code)
	}
}
