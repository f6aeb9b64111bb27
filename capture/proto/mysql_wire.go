package proto

import "encoding/binary"

// MySQL/MariaDB client/server protocol: packet framing and the few
// payloads the mysql parser reads.

// Commands (the first payload byte of a client packet with sequence 0).
const (
	myQuit        = 0x01
	myInitDB      = 0x02
	myQuery       = 0x03
	myFieldList   = 0x04
	myCreateDB    = 0x05
	myDropDB      = 0x06
	myRefresh     = 0x07
	myShutdown    = 0x08
	myStatistics  = 0x09
	myProcessInfo = 0x0a
	myProcessKill = 0x0c
	myDebug       = 0x0d
	myPing        = 0x0e
	myChangeUser  = 0x11
	myBinlogDump  = 0x12
	myRegSlave    = 0x15
	myPrepare     = 0x16
	myExecute     = 0x17
	myLongData    = 0x18
	myStmtClose   = 0x19
	myStmtReset   = 0x1a
	mySetOption   = 0x1b
	myStmtFetch   = 0x1c
	myResetConn   = 0x1f
)

// myCommandName names the commands that are not statements.
func myCommandName(cmd byte) string {
	switch cmd {
	case myQuit:
		return "QUIT"
	case myInitDB:
		return "USE"
	case myFieldList:
		return "FIELD_LIST"
	case myCreateDB:
		return "CREATE_DB"
	case myDropDB:
		return "DROP_DB"
	case myRefresh:
		return "REFRESH"
	case myShutdown:
		return "SHUTDOWN"
	case myStatistics:
		return "STATISTICS"
	case myProcessInfo:
		return "PROCESSLIST"
	case myProcessKill:
		return "KILL"
	case myDebug:
		return "DEBUG"
	case myPing:
		return "PING"
	case myChangeUser:
		return "CHANGE_USER"
	case myBinlogDump:
		return "BINLOG_DUMP"
	case myRegSlave:
		return "REGISTER_SLAVE"
	case myPrepare:
		return "PREPARE"
	case myExecute:
		return "EXECUTE"
	case myLongData:
		return "STMT_SEND_LONG_DATA"
	case myStmtClose:
		return "STMT_CLOSE"
	case myStmtReset:
		return "STMT_RESET"
	case mySetOption:
		return "SET_OPTION"
	case myStmtFetch:
		return "STMT_FETCH"
	case myResetConn:
		return "RESET_CONNECTION"
	}
	return ""
}

// myNoReply reports whether the server answers cmd with nothing.
func myNoReply(cmd byte) bool { return cmd == myStmtClose || cmd == myLongData }

// myMaxPayload is the largest payload of one packet; a bigger one is split.
const myMaxPayload = 1<<24 - 1

// myNext reads the 4-byte header of the packet at the start of b: its
// sequence number, its payload as far as captured, and its whole size
// (header included), which may exceed len(b). ok is false when fewer than
// 4 bytes are there.
func myNext(b []byte) (seq byte, payload []byte, size int, ok bool) {
	if len(b) < 4 {
		return 0, nil, 0, false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	size = 4 + n
	return b[3], b[4:min(size, len(b))], size, true
}

// myGreeting reports whether payload is a server greeting (Initial
// Handshake Packet, protocol version 10): version 10, then a printable
// version string ended by NUL.
func myGreeting(payload []byte) bool {
	if len(payload) < 2 || payload[0] != 10 {
		return false
	}
	for i, c := range payload[1:] {
		if c == 0 {
			return i > 0
		}
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(payload) > 1 // version string cut by the capture
}

// Response kinds, by the first payload byte.
const (
	myOK  = 0x00
	myEOF = 0xfe
	myERR = 0xff
)

// myErrCode reads the error code of an ERR packet's payload.
func myErrCode(payload []byte) (code uint16, ok bool) {
	if len(payload) < 3 || payload[0] != myERR {
		return 0, false
	}
	return binary.LittleEndian.Uint16(payload[1:3]), true
}

// myPrepareOK reads the statement id of a COM_STMT_PREPARE_OK payload.
func myPrepareOK(payload []byte) (id uint32, ok bool) {
	if len(payload) < 5 || payload[0] != myOK {
		return 0, false
	}
	return binary.LittleEndian.Uint32(payload[1:5]), true
}

// myStmtID reads the statement id of COM_STMT_EXECUTE (and of the other
// COM_STMT_* commands that name one).
func myStmtID(payload []byte) (id uint32, ok bool) {
	if len(payload) < 5 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(payload[1:5]), true
}

// myServerError reports whether an error code is the server's fault:
// resources (disk, memory, connections, threads, table full), locks and
// deadlocks, shutdown, aborted connections and internal errors. Every
// other error is the client's (syntax, unknown table, duplicate key,
// access denied ...).
func myServerError(code uint16) bool {
	switch code {
	case 1004, 1006, // can't create file, database
		1011, 1015, 1016, 1017, 1018, 1019, 1020, // file, lock, directory errors
		1021,       // disk full
		1024, 1025, // error reading, error on rename
		1026, 1027, 1028, 1030, 1034, 1035, 1036, // engine and key file errors
		1037, 1038, // out of memory
		1040,                   // too many connections
		1041,                   // out of resources
		1053,                   // server shutdown
		1077, 1078, 1079, 1080, // normal/forced shutdown
		1081,                   // can't create IP socket
		1105,                   // unknown error
		1114,                   // table full
		1119,                   // thread stack overrun
		1135,                   // can't create thread
		1152, 1154, 1155, 1156, // aborted connections, network errors
		1157, 1158, 1159, 1160, 1161, // network read/write errors and timeouts
		1180, 1181, // commit, rollback failed
		1183, 1184, // checkpoint, aborted connection
		1203,       // max_user_connections
		1205,       // lock wait timeout
		1206,       // lock table full
		1213,       // deadlock
		1297,       // temporary storage engine error
		1317,       // query interrupted
		1436,       // thread stack overrun
		1614,       // XA deadlock
		1637,       // too many active concurrent transactions
		1927,       // connection killed (MariaDB)
		1969,       // statement timeout (MariaDB max_statement_time)
		3024,       // maximum statement execution time exceeded (MySQL)
		3058, 3572: // deadlock/lock wait variants (MySQL 8 NOWAIT)
		return true
	}
	return false
}
