// Package capture turns packets into measurements: it reads frames from
// capture files or live sockets, decodes them, tracks every TCP connection,
// times it as DESIGN.md defines, and hands closed 5-minute windows per server
// to a callback. It knows nothing about HTTP servers or databases.
package capture

import "errors"

// ErrIdle is returned by a live source's ReadFrame when no frame arrived
// within its poll interval. The pipeline uses it for housekeeping: advancing
// packet time to the wall clock while a link is quiet, closing windows.
var ErrIdle = errors.New("capture: no frame within the poll interval")

// Frame is one captured frame as a source delivers it. Data is only valid
// until the next ReadFrame call on the same source.
type Frame struct {
	Data    []byte
	TS      int64 // packet time, Unix nanoseconds
	Iface   int32
	Link    uint16 // packet.LinkEthernet, …
	WireLen int    // original length on the wire
}

// Source yields frames: capture files and live sockets.
type Source interface {
	// ReadFrame fills f with the next frame. It returns io.EOF at the end of
	// a file, ErrIdle from a live source after a quiet poll interval, and
	// the context's error when a live source is stopped.
	ReadFrame(f *Frame) error
	Close() error
}
