package proto

// postgresState is the Postgres parser's per-connection state.
type postgresState struct{}

// looksPostgres reports whether data, the first bytes of a run of the client
// (client) or the server, starts a Postgres message.
func looksPostgres(data []byte, client bool) Match { return NoMatch }

func (s *postgresState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *postgresState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
