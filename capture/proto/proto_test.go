package proto

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

func TestNamesIntern(t *testing.T) {
	n := NewNames(5, 8)
	a := n.ID([]byte("GET /"))
	if a < 2 || n.Name(a) != "GET /" {
		t.Fatalf("id %d name %q", a, n.Name(a))
	}
	if b := n.IDString("GET /"); b != a {
		t.Fatalf("same name, ids %d and %d", a, b)
	}
	if id := n.ID(nil); id != NoName || n.Name(id) != "" {
		t.Fatalf("empty name: id %d", id)
	}
	// Cut at 8 bytes, and never inside a UTF-8 sequence: "héllo wö" is 9 bytes.
	long := n.ID([]byte("héllo wörld"))
	if got := n.Name(long); got != "héllo w" {
		t.Fatalf("cut name %q", got)
	}
	bad := n.ID([]byte{'a', 0xff, 'b'})
	if got := n.Name(bad); got != "a?b" {
		t.Fatalf("invalid UTF-8 interned as %q", got)
	}
	if n.Len() != 5 {
		t.Fatalf("%d names", n.Len())
	}
	if id := n.ID([]byte("POST /")); id != OtherName || n.Dropped != 1 || n.Name(id) != Other {
		t.Fatalf("full table: id %d (%q), dropped %d", id, n.Name(id), n.Dropped)
	}
	if id := n.ID([]byte("GET /")); id != a {
		t.Fatalf("full table forgets a held name: %d", id)
	}
}

func TestNamesHitAllocatesNothing(t *testing.T) {
	n := NewNames(MaxOpNames, MaxOpLen)
	b := []byte("SELECT")
	n.ID(b)
	if allocs := testing.AllocsPerRun(100, func() { n.ID(b) }); allocs != 0 {
		t.Fatalf("%v allocations per lookup of a held name", allocs)
	}
}

func TestProtocolNames(t *testing.T) {
	for p := TCP; p < NumProtocols; p++ {
		q, ok := ParseProtocol(p.String())
		if !ok || q != p {
			t.Errorf("%d: %q parses as %d, %v", p, p, q, ok)
		}
	}
	if _, ok := ParseProtocol("gopher"); ok {
		t.Error("unknown protocol parsed")
	}
	if OK.String() != "ok" || ClientError.String() != "client_error" || ServerError.String() != "server_error" || None.String() != "" {
		t.Error("result names")
	}
}

// TestStatesArePlainData: the parser states live in the tracker's slab,
// which the garbage collector must not have to scan.
func TestStatesArePlainData(t *testing.T) {
	for _, v := range []any{Conn{}, httpState{}, tlsState{}, postgresState{}, mysqlState{}, redisState{}, dnsState{}} {
		typ := reflect.TypeOf(v)
		if path := pointerIn(typ, typ.Name()); path != "" {
			t.Errorf("%s holds a pointer at %s", typ, path)
		}
	}
	if s := unsafe.Sizeof(Conn{}); s != 64 {
		t.Errorf("Conn is %d bytes, want 64", s)
	}
}

func pointerIn(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return path
	case reflect.Array:
		return pointerIn(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if p := pointerIn(f.Type, path+"."+f.Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestCutKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 10) // 20 bytes
	for max := 0; max <= 20; max++ {
		got := string(cut([]byte(s), max))
		if len(got) > max || len(got) < max-1 || !strings.HasPrefix(s, got) {
			t.Fatalf("cut at %d: %q", max, got)
		}
	}
}
