package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// AdvertiseURL is the URL sensors reach a web node listening on listen at:
// the listen address, or the first non-loopback address of the host when
// it listens on all of them. tls selects https.
func AdvertiseURL(listen string, tls bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	if host != "" && net.ParseIP(host) == nil {
		return scheme + "://" + net.JoinHostPort(host, port), nil // a name
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("find an address to advertise (set --advertise-url): %w", err)
	}
	var v6 string
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLoopback() || !p.Addr().IsGlobalUnicast() {
			continue
		}
		if p.Addr().Is4() {
			return scheme + "://" + net.JoinHostPort(p.Addr().String(), port), nil
		}
		if v6 == "" {
			v6 = p.Addr().String()
		}
	}
	if v6 != "" {
		return scheme + "://" + net.JoinHostPort(v6, port), nil
	}
	return "", errors.New("no non-loopback address to advertise in etcd: set --advertise-url")
}
