package proto

// mysqlState is the MySQL parser's per-connection state.
type mysqlState struct{}

// looksMySQL reports whether data, the first bytes of a run of the client
// (client) or the server, starts a MySQL message.
func looksMySQL(data []byte, client bool) Match { return NoMatch }

func (s *mysqlState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *mysqlState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
