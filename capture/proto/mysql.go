package proto

// MySQL and MariaDB (client/server protocol 4.1). The server's greeting is a
// banner; the client's handshake response and any authentication exchange
// that follows are LOGIN. In the command phase a turn is named by its first
// command: the first keyword of COM_QUERY, the keyword a statement was
// prepared with for COM_STMT_EXECUTE (statement ids from the PREPARE_OK
// answers, in a small per-connection table), else the command's name (PING,
// USE for COM_INIT_DB, PREPARE ...). Commands the server does not answer
// (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) name a turn only when nothing
// else in it does. The status is the error code of the first ERR packet,
// else OK.

// myStmts is the number of prepared statement ids remembered per connection.
const myStmts = 7

// mysqlState is 56 bytes: the framing position of each direction, the
// statement table and the turn's command.
type mysqlState struct {
	skip  [2]uint32 // bytes of a packet begun in an earlier segment, per direction
	ids   [myStmts]uint32
	ops   [myStmts]uint16
	prep  uint16 // keyword of the statement the turn prepares
	phase uint8
	cmd   uint8 // the turn's command, for reading its answer
	flags uint8
	next  uint8
}

// Phases of a connection.
const (
	myUnknown uint8 = iota // nothing seen yet (or picked up mid-stream)
	myGreeted              // greeting seen: the client's next packet logs in
	myLogin                // authentication until OK or ERR
	myReady                // commands
)

// mysqlState flags.
const (
	myLost0    uint8 = 1 << iota // client framing lost until its next run
	myLost1                      // server framing lost until its next run
	myWeak                       // the turn's name comes from a command without answer
	myAnswered                   // the turn's answer has begun
)

// clientSSL is the capability bit of a client asking for TLS.
const clientSSL = 0x0800

// looksMySQL recognises a server greeting (Strong), or, picked up
// mid-stream, a client command: Strong when the packet ends where the
// captured bytes do, else Weak.
func looksMySQL(data []byte, client bool) Match {
	seq, p, size, ok := myNext(data)
	if !ok || seq != 0 || len(p) == 0 || size < 5 {
		return NoMatch
	}
	if !client {
		return matchIf(size <= 1024 && myGreeting(p))
	}
	var buf [maxKeyword]byte
	var ok2 bool
	switch p[0] {
	case myQuery, myPrepare:
		ok2 = len(sqlKeyword(p[1:], &buf)) > 0
	case myPing, myQuit, myStatistics, myResetConn:
		ok2 = size == 5
	case myExecute, myStmtClose, myStmtReset:
		ok2 = size >= 9
	}
	switch {
	case !ok2:
		return NoMatch
	case size == len(data):
		return Strong
	}
	return Weak
}

func (s *mysqlState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	off, ok := s.resume(0, n, run)
	if !ok {
		return
	}
	for off < n {
		if len(data)-off < 5 {
			s.flags |= myLost0
			return
		}
		seq, p, size, _ := myNext(data[off:])
		if s.phase == myGreeted && seq == 1 && size == 36 && len(p) >= 4 &&
			(uint32(p[0])|uint32(p[1])<<8)&clientSSL != 0 {
			// SSLRequest: TLS follows, maybe in this very segment.
			c.setOp(t.Ops.IDString("LOGIN"))
			c.become(TLS)
			if off+size < len(data) {
				c.st.tls().client(c, t, data[off+size:], n-off-size, true)
			}
			return
		}
		if !s.request(c, t, seq, p) {
			c.fail(t)
			return
		}
		off += size
	}
	s.skip[0] = uint32(off - n)
}

// resume skips the rest of a packet begun in an earlier segment of
// direction dir; ok is false when nothing more of this segment can be read.
func (s *mysqlState) resume(dir int, n int, run bool) (off int, ok bool) {
	return resumeFrame(&s.skip, &s.flags, myLost0<<dir, dir, n, run)
}

// request handles one client packet; false means it cannot be MySQL.
func (s *mysqlState) request(c *Conn, t *Tables, seq byte, p []byte) bool {
	s.flags &^= myAnswered
	switch s.phase {
	case myGreeted:
		s.phase = myLogin
		c.setOp(t.Ops.IDString("LOGIN"))
		return true
	case myLogin:
		c.setOp(t.Ops.IDString("LOGIN"))
		return true
	}
	if seq != 0 || len(p) == 0 {
		return true // the rest of a large command, or LOAD DATA LOCAL contents
	}
	s.phase = myReady
	if s.flags&myWeak != 0 {
		c.op = NoName // a command without answer yields the name
		s.flags &^= myWeak
	}
	cmd := p[0]
	s.cmd = cmd
	var buf [maxKeyword]byte
	switch cmd {
	case myQuery:
		c.setOp(t.Ops.ID(sqlKeyword(p[1:], &buf)))
		return true
	case myPrepare:
		s.prep = t.Ops.ID(sqlKeyword(p[1:], &buf))
	case myExecute:
		if id, ok := myStmtID(p); ok {
			if op := s.lookup(id); op != NoName {
				c.setOp(op)
				return true
			}
		}
	case myStmtClose:
		if id, ok := myStmtID(p); ok {
			s.forget(id)
		}
	case myChangeUser:
		s.phase = myLogin
	}
	name := myCommandName(cmd)
	if name == "" {
		return false
	}
	if myNoReply(cmd) && c.op == NoName {
		s.flags |= myWeak
	}
	c.setOp(t.Ops.IDString(name))
	return true
}

func (s *mysqlState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	off, ok := s.resume(1, n, run)
	if !ok {
		return false
	}
	for off < n {
		if len(data)-off < 5 {
			s.flags |= myLost1
			return false
		}
		seq, p, size, _ := myNext(data[off:])
		s.response(c, t, seq, p)
		off += size
	}
	s.skip[1] = uint32(off - n)
	return false
}

// response handles one server packet.
func (s *mysqlState) response(c *Conn, t *Tables, seq byte, p []byte) {
	if s.phase == myUnknown && seq == 0 && myGreeting(p) {
		s.phase = myGreeted // a banner, not an answer
		return
	}
	first := s.flags&myAnswered == 0
	s.flags = s.flags&^myWeak | myAnswered
	if code, ok := myErrCode(p); ok {
		var buf [8]byte
		r := ClientError
		if myServerError(code) {
			r = ServerError
		}
		c.setStatus(t.Statuses.ID(appendUint(buf[:0], uint64(code))), r)
		return
	}
	if !first {
		return
	}
	switch {
	case s.phase == myLogin && len(p) > 0 && p[0] == myOK:
		s.phase = myReady
	case s.phase == myUnknown:
		s.phase = myReady
	case s.phase == myReady && s.cmd == myPrepare:
		if id, ok := myPrepareOK(p); ok && s.prep != NoName {
			s.remember(id, s.prep)
		}
	}
	c.setStatus(t.Statuses.IDString("OK"), OK)
}

// remember records that statement id has keyword op.
func (s *mysqlState) remember(id uint32, op uint16) {
	for i := range s.ops {
		if s.ops[i] == NoName || s.ids[i] == id {
			s.ids[i], s.ops[i] = id, op
			return
		}
	}
	i := s.next % myStmts
	s.ids[i], s.ops[i] = id, op
	s.next = (i + 1) % myStmts
}

// lookup returns the keyword statement id was prepared with, NoName when
// unknown.
func (s *mysqlState) lookup(id uint32) uint16 {
	for i := range s.ids {
		if s.ids[i] == id && s.ops[i] != NoName {
			return s.ops[i]
		}
	}
	return NoName
}

func (s *mysqlState) forget(id uint32) {
	for i := range s.ids {
		if s.ids[i] == id {
			s.ops[i] = NoName
		}
	}
}
