package cli

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/pastmon/pastmon/web/otlp"
)

// OTLPFlags defines the --otlp-* flags of web and sensor into c.
func OTLPFlags(fs *flag.FlagSet, c *otlp.Config) {
	fs.StringVar(&c.Endpoint, "otlp-endpoint", "", "also export every window to this OpenTelemetry `endpoint` (host:port, http://host:port or https://host:port[/path]; empty: off)")
	fs.StringVar(&c.Protocol, "otlp-protocol", "grpc", "OTLP protocol: grpc or http (HTTP/protobuf)")
	fs.Var(headerFlag{&c.Headers}, "otlp-header", "`name=value` header sent with every OTLP export (repeatable)")
	fs.BoolVar(&c.Insecure, "otlp-insecure", false, "export to a host:port --otlp-endpoint in plain text (no TLS)")
	fs.StringVar(&c.CAFile, "otlp-ca", "", "PEM `file` of the CAs that sign the OTLP endpoint's certificate (default: the system's)")
}

// ValidOTLP checks the --otlp-* flags when an endpoint is given.
func ValidOTLP(c *otlp.Config) error {
	if c.Endpoint == "" {
		return nil
	}
	return c.Validate()
}

// headerFlag is a repeatable name=value flag.
type headerFlag struct{ m *map[string]string }

func (h headerFlag) String() string {
	if h.m == nil {
		return ""
	}
	var kv []string
	for k := range *h.m {
		kv = append(kv, k+"=…")
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	if *h.m == nil {
		*h.m = map[string]string{}
	}
	(*h.m)[strings.TrimSpace(k)] = v
	return nil
}
