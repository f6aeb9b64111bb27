package proto

// redisState is the Redis parser's per-connection state.
type redisState struct{}

// looksRedis reports whether data, the first bytes of a run of the client
// (client) or the server, starts a Redis message.
func looksRedis(data []byte, client bool) bool { return false }

func (s *redisState) client(c *Conn, t *Tables, data []byte, n int, run bool) {}

func (s *redisState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	return false
}
