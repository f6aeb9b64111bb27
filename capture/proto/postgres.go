package proto

// PostgreSQL (frontend/backend protocol 3.0). A turn's operation is the
// first keyword of its statement: the simple query's, or for the extended
// protocol the keyword of the statement that Bind executes, looked up by
// name in a small per-connection table filled by Parse; a turn that only
// prepares (Parse, Describe, Sync) is PREPARE. The startup phase (SSLRequest,
// StartupMessage, authentication, up to the first ReadyForQuery) is STARTUP.
// The status is the SQLSTATE of the turn's first ErrorResponse, else OK.

// pgStmts is the number of prepared statement names remembered per
// connection; a new name beyond it replaces the oldest. pgbench's TPC-B
// script, the largest common case, prepares 7.
const pgStmts = 7

// postgresState is 56 bytes: the framing position of each direction and the
// statement table (FNV-1a hashes of the names and their keywords' ids).
type postgresState struct {
	skip  [2]uint32 // bytes of a message begun in an earlier segment, per direction
	names [pgStmts]uint32
	ops   [pgStmts]uint16
	phase uint8
	flags uint8
	next  uint8 // table slot the next new name takes
}

// Phases of a connection.
const (
	pgUnknown uint8 = iota // nothing seen yet (or picked up mid-stream)
	pgSSLWait              // SSLRequest or GSSENCRequest sent, one-byte answer due
	pgAuth                 // startup sent: authentication until ReadyForQuery
	pgReady                // queries
)

// postgresState flags.
const (
	pgLost0    uint8 = 1 << iota // client framing lost until its next run
	pgLost1                      // server framing lost until its next run
	pgParsed                     // the turn has a Parse
	pgDescribe                   // the turn has a Describe
	pgClosed                     // the turn has a Close
)

// looksPostgres recognises a client's startup packet (Strong), or, picked up
// mid-stream, a simple or extended query message whose text starts with a
// word: Strong when the message ends where the captured bytes do, else
// Weak. A server's startup answers are not recognisable alone.
func looksPostgres(data []byte, client bool) Match {
	if !client {
		return NoMatch
	}
	if _, _, ok := pgStartup(data); ok {
		return Strong
	}
	typ, body, size, ok := pgNext(data)
	if !ok {
		return NoMatch
	}
	var buf [maxKeyword]byte
	var q []byte
	switch typ {
	case 'Q':
		q = body
	case 'P':
		if _, q, ok = pgParse(body); !ok {
			return NoMatch
		}
	default:
		return NoMatch
	}
	if len(sqlKeyword(q, &buf)) == 0 {
		return NoMatch
	}
	if size == len(data) || typ == 'P' && size < len(data) && data[size] == 'B' {
		return Strong
	}
	return Weak
}

func (s *postgresState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	off, ok := s.resume(0, n, run)
	if !ok {
		return
	}
	if s.phase == pgUnknown || s.phase == pgSSLWait {
		if code, size, ok := pgStartup(data[off:]); ok {
			s.startup(c, t, code)
			off += size
		}
	}
	for off < n {
		if len(data)-off < 5 {
			s.flags |= pgLost0 // a header cut by the capture or split across segments
			return
		}
		typ, body, size, ok := pgNext(data[off:])
		if !ok || !pgFrontendType(typ) {
			c.fail(t)
			return
		}
		if s.phase == pgUnknown {
			s.phase = pgReady
		}
		s.frontend(c, t, typ, body)
		off += size
	}
	s.skip[0] = uint32(off - n)
}

// resume skips the rest of a message begun in an earlier segment of
// direction dir; ok is false when nothing more of this segment can be read.
func (s *postgresState) resume(dir int, n int, run bool) (off int, ok bool) {
	return resumeFrame(&s.skip, &s.flags, pgLost0<<dir, dir, n, run)
}

// startup handles a startup-phase packet.
func (s *postgresState) startup(c *Conn, t *Tables, code uint32) {
	switch code {
	case pgSSLReq, pgGSSENCReq:
		s.phase = pgSSLWait
	case pgCancel:
		c.setOp(t.Ops.IDString("CANCEL"))
		return
	default:
		s.phase = pgAuth
	}
	c.setOp(t.Ops.IDString("STARTUP"))
}

// frontend handles one client message after the startup packet.
func (s *postgresState) frontend(c *Conn, t *Tables, typ byte, body []byte) {
	if s.phase != pgReady {
		c.setOp(t.Ops.IDString("STARTUP")) // password, SASL and GSS responses
		return
	}
	var buf [maxKeyword]byte
	switch typ {
	case 'Q':
		c.setOp(t.Ops.ID(sqlKeyword(body, &buf)))
	case 'P':
		if name, q, ok := pgParse(body); ok {
			s.prepare(pgHash(name), t.Ops.ID(sqlKeyword(q, &buf)))
		}
		s.flags |= pgParsed
	case 'B':
		if stmt, ok := pgBind(body); ok {
			op := s.lookup(pgHash(stmt))
			if op == NoName {
				op = t.Ops.IDString("EXECUTE")
			}
			c.setOp(op)
		}
	case 'D':
		s.flags |= pgDescribe
	case 'C':
		if kind, name, ok := pgClose(body); ok && kind == 'S' {
			s.forget(pgHash(name))
		}
		s.flags |= pgClosed
	case 'S', 'H':
		s.endBatch(c, t)
	case 'X':
		c.setOp(t.Ops.IDString("TERMINATE"))
	case 'F':
		c.setOp(t.Ops.IDString("FUNCTION_CALL"))
	case 'd', 'c', 'f':
		c.setOp(t.Ops.IDString("COPY"))
	}
}

// endBatch names a batch that executed nothing by what it did.
func (s *postgresState) endBatch(c *Conn, t *Tables) {
	switch {
	case s.flags&pgParsed != 0:
		c.setOp(t.Ops.IDString("PREPARE"))
	case s.flags&pgDescribe != 0:
		c.setOp(t.Ops.IDString("DESCRIBE"))
	case s.flags&pgClosed != 0:
		c.setOp(t.Ops.IDString("CLOSE"))
	default:
		c.setOp(t.Ops.IDString("SYNC"))
	}
	s.flags &^= pgParsed | pgDescribe | pgClosed
}

func (s *postgresState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	off, ok := s.resume(1, n, run)
	if !ok {
		return false
	}
	if s.phase == pgSSLWait && off < len(data) {
		switch data[off] {
		case 'S':
			c.setStatus(t.Statuses.IDString("OK"), OK)
			c.become(TLS)
			return false
		case 'G': // GSSAPI encryption: nothing more to read
			c.fail(t)
			return false
		case 'N':
			c.setStatus(t.Statuses.IDString("OK"), OK)
			s.phase = pgUnknown
			off++
		}
	}
	for off < n {
		if len(data)-off < 5 {
			s.flags |= pgLost1
			return false
		}
		typ, body, size, ok := pgNext(data[off:])
		if !ok || !pgBackendType(typ) {
			c.fail(t)
			return false
		}
		s.backend(c, t, typ, body)
		off += size
	}
	s.skip[1] = uint32(off - n)
	return false
}

// backend handles one server message.
func (s *postgresState) backend(c *Conn, t *Tables, typ byte, body []byte) {
	switch typ {
	case 'E':
		code, ok := pgSQLState(body)
		if !ok {
			c.setStatus(t.Statuses.IDString("ERROR"), ServerError)
			return
		}
		r := ClientError
		if pgServerClass(code) {
			r = ServerError
		}
		c.setStatus(t.Statuses.ID(code[:]), r)
		return
	case 'Z':
		if s.phase != pgReady {
			s.phase = pgReady
		}
	case 'N', 'A', 'S': // notices, notifications, parameter changes are no answer
		return
	}
	c.setStatus(t.Statuses.IDString("OK"), OK)
}

// pgHash is the FNV-1a hash of a statement name.
func pgHash(name []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range name {
		h ^= uint32(b)
		h *= 16777619
	}
	return h
}

// prepare remembers that statement h has keyword op.
func (s *postgresState) prepare(h uint32, op uint16) {
	if op == NoName {
		s.forget(h)
		return
	}
	for i := range s.names {
		if s.names[i] == h && s.ops[i] != NoName {
			s.ops[i] = op
			return
		}
	}
	for i := range s.ops {
		if s.ops[i] == NoName {
			s.names[i], s.ops[i] = h, op
			return
		}
	}
	i := s.next % pgStmts
	s.names[i], s.ops[i] = h, op
	s.next = (i + 1) % pgStmts
}

// lookup returns the keyword of statement h, NoName when unknown.
func (s *postgresState) lookup(h uint32) uint16 {
	for i := range s.names {
		if s.names[i] == h && s.ops[i] != NoName {
			return s.ops[i]
		}
	}
	return NoName
}

func (s *postgresState) forget(h uint32) {
	for i := range s.names {
		if s.names[i] == h {
			s.ops[i] = NoName
		}
	}
}
