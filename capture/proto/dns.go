package proto

// dnsState is the DNS parser's per-connection state.
type dnsState struct{}

// looksDNS reports whether data, the first bytes of a run of the client
// (client) or the server, starts a DNS message.
func looksDNS(data []byte, client bool) Match { return NoMatch }

func (s *dnsState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *dnsState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
