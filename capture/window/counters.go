package window

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Counters are per-server sums over a window. Counter names each field;
// its JSON name is the counter's name everywhere (JSON, store columns,
// /metrics, analyze).
//
// Adding a counter is its field here plus its constant in the list below,
// in the same order; everything else that lists counters (names, store
// columns, the analyze table, tests) derives from these. The store then
// needs a migration that adds its column.
type Counters struct {
	Connections     uint64 `json:"connections"` // every connection seen, timed or not
	Established     uint64 `json:"established"`
	Refused         uint64 `json:"refused"`
	Unanswered      uint64 `json:"unanswered"`
	Resets          uint64 `json:"resets"`
	SynRetries      uint64 `json:"syn_retries"`
	Retransmits     uint64 `json:"retransmits"`
	Transactions    uint64 `json:"transactions"`
	BytesToServer   uint64 `json:"bytes_to_server"`
	BytesFromServer uint64 `json:"bytes_from_server"`
	ClientErrors    uint64 `json:"client_errors"` // transactions a recognised protocol says the client got wrong
	ServerErrors    uint64 `json:"server_errors"` // … the server failed
}

// Counter names one of the fields of Counters.
type Counter uint8

// The counters, in the order of Counters' fields.
const (
	Connections Counter = iota
	Established
	Refused
	Unanswered
	Resets
	SynRetries
	Retransmits
	Transactions
	BytesToServer
	BytesFromServer
	ClientErrors
	ServerErrors
	NumCounters
)

// counterNames are the JSON names of Counters' fields. Building them
// checks that Counters is NumCounters uint64 fields and nothing else, which
// Field relies on.
var counterNames = func() (names [NumCounters]string) {
	t := reflect.TypeFor[Counters]()
	if t.NumField() != int(NumCounters) || t.Size() != uint64Size*uintptr(NumCounters) {
		panic(fmt.Sprintf("window: Counters has %d fields, the Counter list %d", t.NumField(), NumCounters))
	}
	for i := range names {
		f := t.Field(i)
		if f.Type.Kind() != reflect.Uint64 || f.Offset != uint64Size*uintptr(i) {
			panic(fmt.Sprintf("window: Counters.%s is not a uint64 in its place", f.Name))
		}
		names[i] = f.Tag.Get("json")
	}
	return names
}()

const uint64Size = unsafe.Sizeof(uint64(0))

// String returns the counter's JSON name, such as "bytes_to_server".
func (k Counter) String() string { return enumName(counterNames[:], k, "counter") }

// ParseCounter maps a counter name such as "resets" to its Counter.
func ParseCounter(s string) (Counter, bool) { return parseEnum[Counter](counterNames[:], s) }

// array views c as its fields in Counter order (checked by counterNames).
func (c *Counters) array() *[NumCounters]uint64 {
	return (*[NumCounters]uint64)(unsafe.Pointer(c))
}

// Field returns the field of c that k names; k must be below NumCounters.
func (c *Counters) Field(k Counter) *uint64 { return &c.array()[k] }

// AddCount adds n to the field k names, saturating at math.MaxUint64.
func (c *Counters) AddCount(k Counter, n uint64) {
	f := c.Field(k)
	*f = addSat(*f, n)
}

// Add adds o to c field by field, saturating at math.MaxUint64: sums never
// wrap.
func (c *Counters) Add(o *Counters) {
	a, b := c.array(), o.array()
	for i := range a {
		a[i] = addSat(a[i], b[i])
	}
}
