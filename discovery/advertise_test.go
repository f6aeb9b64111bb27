package discovery

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestAdvertiseURL(t *testing.T) {
	for _, tc := range []struct {
		listen string
		tls    bool
		want   string
		err    string
	}{
		{listen: "10.1.2.3:8080", want: "http://10.1.2.3:8080"},
		{listen: "[fd00::7]:80", want: "http://[fd00::7]:80"},
		{listen: "web.internal:8443", tls: true, want: "https://web.internal:8443"},
		{listen: "8080", err: "--listen"},
	} {
		got, err := AdvertiseURL(tc.listen, tc.tls)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("AdvertiseURL(%q) = %q, %v; want error with %q", tc.listen, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("AdvertiseURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
		}
	}
}

// An unspecified listen address advertises one of the host's own
// non-loopback addresses, with the listen port.
func TestAdvertiseURLUnspecified(t *testing.T) {
	own := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && p.Addr().IsGlobalUnicast() {
			own[p.Addr()] = true
		}
	}
	for _, listen := range []string{":8080", "0.0.0.0:8080", "[::]:8080"} {
		got, err := AdvertiseURL(listen, false)
		if len(own) == 0 {
			if err == nil {
				t.Errorf("AdvertiseURL(%q) = %q on a host without addresses; want an error", listen, got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("AdvertiseURL(%q): %v", listen, err)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil || !own[a] || u.Port() != "8080" || u.Scheme != "http" {
			t.Errorf("AdvertiseURL(%q) = %q: want http://<own non-loopback address>:8080 (have %v)", listen, got, own)
		}
	}
}
