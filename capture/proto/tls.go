package proto

// tlsState is the TLS parser's per-connection state.
type tlsState struct{}

// looksTLS reports whether data, the first bytes of a run of the client
// (client) or the server, starts a TLS message.
func looksTLS(data []byte, client bool) bool { return false }

func (s *tlsState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *tlsState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
