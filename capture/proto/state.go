package proto

import "unsafe"

// StateSize is the room every protocol's parser state has in a Conn.
const StateSize = 56

// state is the per-connection parser state of whichever protocol the
// connection speaks: one protocol at a time, so their state types share
// these bytes (Go has no unions). Every state type is plain data (no
// pointers, so the garbage collector never looks at the tracker's slab) of
// at most StateSize bytes and 8-byte alignment; the checks below fail to
// compile otherwise.
type state [StateSize / 8]uint64

func (s *state) http() *httpState         { return (*httpState)(unsafe.Pointer(s)) }
func (s *state) tls() *tlsState           { return (*tlsState)(unsafe.Pointer(s)) }
func (s *state) postgres() *postgresState { return (*postgresState)(unsafe.Pointer(s)) }
func (s *state) mysql() *mysqlState       { return (*mysqlState)(unsafe.Pointer(s)) }
func (s *state) redis() *redisState       { return (*redisState)(unsafe.Pointer(s)) }
func (s *state) dns() *dnsState           { return (*dnsState)(unsafe.Pointer(s)) }

// Compile-time checks: a negative array length does not compile.
var (
	_ [StateSize - unsafe.Sizeof(httpState{})]byte
	_ [StateSize - unsafe.Sizeof(tlsState{})]byte
	_ [StateSize - unsafe.Sizeof(postgresState{})]byte
	_ [StateSize - unsafe.Sizeof(mysqlState{})]byte
	_ [StateSize - unsafe.Sizeof(redisState{})]byte
	_ [StateSize - unsafe.Sizeof(dnsState{})]byte
	_ [8 - unsafe.Alignof(httpState{})]byte
	_ [8 - unsafe.Alignof(tlsState{})]byte
	_ [8 - unsafe.Alignof(postgresState{})]byte
	_ [8 - unsafe.Alignof(mysqlState{})]byte
	_ [8 - unsafe.Alignof(redisState{})]byte
	_ [8 - unsafe.Alignof(dnsState{})]byte
	_ [64 - unsafe.Sizeof(Conn{})]byte
	_ [unsafe.Sizeof(Conn{}) - 64]byte
)
