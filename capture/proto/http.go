package proto

// httpState is the HTTP parser's per-connection state.
type httpState struct{}

// looksHTTP reports whether data, the first bytes of a run of the client
// (client) or the server, starts a HTTP message.
func looksHTTP(data []byte, client bool) bool { return false }

func (s *httpState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *httpState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
