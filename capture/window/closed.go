package window

import (
	"errors"
	"fmt"
	"net/netip"
)

// A summary whose server has port 0 is a host's closed-ports bucket
// (DESIGN's Limits): the TCP connections refused or unanswered at ports of
// the host that the sensor never saw complete a handshake. So that a port
// scan makes one summary per host, not one per port, these carry no
// timings and only the counters below. It is shown as ip:* (ServerName).
var closedPortCounters = [NumCounters]bool{Connections: true, Refused: true, Unanswered: true, SynRetries: true}

// ServerName is how a server is shown: ip:port, or ip:* for the host's
// closed-ports bucket.
func ServerName(server netip.AddrPort) string {
	if server.Port() == 0 && server.IsValid() {
		s := server.String()
		return s[:len(s)-1] + "*"
	}
	return server.String()
}

// validateClosedPorts reports what a closed-ports bucket holds that it
// cannot.
func (s *Summary) validateClosedPorts() error {
	if s.Transport != "" && s.Transport != "tcp" {
		return fmt.Errorf("port 0 with transport %q: want ip:port (only TCP has closed-ports buckets)", s.Transport)
	}
	if s.Protocol != "" || len(s.Operations) > 0 || len(s.Statuses) > 0 {
		return errors.New("port 0 with an application protocol: want ip:port")
	}
	for k := range NumCounters {
		if !closedPortCounters[k] && *s.Counters.Field(k) != 0 {
			return fmt.Errorf("port 0 with %s: want ip:port (a closed-ports bucket only counts connections refused or unanswered)", k)
		}
	}
	for m := range s.Metrics {
		if s.Metrics[m].Count != 0 {
			return fmt.Errorf("port 0 with %s samples: want ip:port (a closed-ports bucket has no timings)", Metric(m))
		}
	}
	return nil
}
