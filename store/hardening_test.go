package store

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"

	"github.com/pastmon/pastmon/capture/window"
)

// TestIngestRefusesOnlyBadWindows stores the valid windows of a batch and
// names the others, whatever makes them bad.
func TestIngestRefusesOnlyBadWindows(t *testing.T) {
	db := openTest(t)
	g := newGen(21)
	good1, _ := g.summary(addr(1), t0, 10)
	good2, _ := g.summary(addr(2), t0, 10)
	absurd, _ := g.summary(addr(3), t0, 10)
	absurd.Connections = math.MaxInt64 + 1
	future, _ := g.summary(addr(4), t0.Add(window.MaxSkew+window.Width), 10)
	res, err := db.IngestWindows(context.Background(), batch("b1", "alpha", good1, absurd, good2, future), t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || len(res.Rejected) != 2 || res.Rejected[0].Index != 1 || res.Rejected[1].Index != 3 ||
		res.Rejected[0].Server != absurd.Server || !res.Rejected[0].Start.Equal(t0) || res.Rejected[0].Reason == "" {
		t.Fatalf("result %+v, want windows 1 and 3 refused", res)
	}
	list, err := db.Servers(context.Background(), t0, t0.Add(time.Hour))
	if err != nil || len(list) != 2 || list[0].Server != good1.Server || list[1].Server != good2.Server {
		t.Fatalf("stored %v %v, want the two good windows", list, err)
	}
}

// bigDist is a distribution of n values of 0 µs (all in the sketch's
// zero count), built from its stored form.
func bigDist(t *testing.T, n uint64) window.Dist {
	t.Helper()
	b := binary.AppendUvarint(nil, n)
	b = append(b, make([]byte, 24)...) // sum, min and max 0
	enc.EncodeFlag(&b, enc.FlagZeroCountVarFloat)
	enc.EncodeVarfloat64(&b, float64(n))
	var d window.Dist
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return d
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMergesNeverOverflow sends windows of one key whose merged counters
// would pass int64 and whose merged distribution would pass
// window.MaxCount: counters saturate, the window that would overflow the
// distribution is refused alone, and every later batch and every reader
// keeps working.
func TestMergesNeverOverflow(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	w := window.Summary{Server: addr(1), Start: t0}
	w.BytesToServer = window.MaxWindowBytes
	w.Metrics[window.RTT] = bigDist(t, 1<<39) // 2^39 ≤ MaxWindowCount; 2^13 of them pass MaxCount
	per := 1000
	sent := 0
	for b := 0; sent < 1<<13+10; b++ {
		sums := make([]window.Summary, per)
		for i := range sums {
			sums[i] = w
		}
		res, err := db.IngestWindows(ctx, batch("o-"+string(rune('a'+b)), "alpha", sums...), t0)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		for _, r := range res.Rejected {
			if !strings.Contains(r.Reason, window.ErrOverflow.Error()) {
				t.Fatalf("batch %d: window %d refused: %s", b, r.Index, r.Reason)
			}
		}
		sent += per
	}
	list, err := db.Servers(ctx, t0, t0.Add(time.Hour))
	if err != nil || len(list) != 1 {
		t.Fatalf("servers: %v %v", list, err)
	}
	if got := list[0].Metrics[window.RTT].Count; got > window.MaxCount || got < window.MaxCount-(1<<39) {
		t.Errorf("merged count %d, want just under %d", got, uint64(window.MaxCount))
	}
	if got := list[0].BytesToServer; got != math.MaxInt64 {
		t.Errorf("bytes_to_server %d, want saturated at %d", got, int64(math.MaxInt64))
	}
	if _, err := db.Series(ctx, SeriesQuery{Server: addr(1), Metric: window.RTT, From: t0, To: t0.Add(time.Hour)}); err != nil {
		t.Errorf("series: %v", err)
	}
	if err := db.Maintain(ctx, t0.Add(3*time.Hour), 0, 0); err != nil {
		t.Errorf("maintain: %v", err)
	}
}

// corrupt damages one stored value of the 5-minute row of server i in
// place, as bit rot or an older version would.
func corrupt(t *testing.T, db *DB, i int, set string, args ...any) {
	t.Helper()
	res, err := db.w.Exec("UPDATE windows SET "+set+" WHERE server = (SELECT id FROM servers WHERE addr = ?)", append(args, addr(i).String())...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("no row of server %d", i)
	}
}

// TestUnreadableRowsAreMovedAside damages stored rows in every way a
// reader can meet and checks that listings, series, maintenance and
// ingest keep working, that the rows land in quarantine, and that the
// good rows are untouched.
func TestUnreadableRowsAreMovedAside(t *testing.T) {
	damage := []struct {
		name, set string
		arg       []any
	}{
		{"fractional sketch", "rtt = ?", []any{fractionalBlob()}},
		{"truncated blob", "response_time = x'05'", nil},
		{"garbage blob", "rtt = x'ffffffffffffffffffff'", nil},
		{"text counter", "connections = 'many'", nil},
		{"negative counter", "resets = -1", nil},
		{"real counter", "established = 1.5", nil},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			db := openTest(t)
			ctx := context.Background()
			g := newGen(5)
			bad, _ := g.summary(addr(1), t0, 10)
			good, _ := g.summary(addr(2), t0, 10)
			mustIngest(t, db, batch("b1", "alpha", bad, good), t0)
			// With writable schema checks off, as damage bypasses them.
			if _, err := db.w.Exec("PRAGMA ignore_check_constraints = 1"); err != nil {
				t.Fatal(err)
			}
			corrupt(t, db, 1, d.set, d.arg...)
			if _, err := db.w.Exec("PRAGMA ignore_check_constraints = 0"); err != nil {
				t.Fatal(err)
			}
			list, err := db.ServerList(ctx, ServersQuery{From: t0, To: t0.Add(time.Hour), Limit: 10, Sort: SortWorst})
			if err != nil {
				t.Fatalf("servers: %v", err)
			}
			var found bool
			for _, s := range list.Servers {
				if s.Server == good.Server {
					found = s.Counters == good.Counters && s.Metrics[window.RTT].Count == good.Metrics[window.RTT].Count
				}
			}
			if !found {
				t.Errorf("good server missing or changed: %+v", list.Servers)
			}
			if _, err := db.Series(ctx, SeriesQuery{Server: addr(1), Metric: window.RTT, From: t0, To: t0.Add(time.Hour)}); err != nil {
				t.Errorf("series: %v", err)
			}
			again, _ := g.summary(addr(1), t0, 10)
			if _, err := db.Ingest(ctx, batch("b2", "alpha", again), t0); err != nil {
				t.Errorf("ingest onto the damaged key: %v", err)
			}
			if err := db.Maintain(ctx, t0.Add(3*time.Hour), time.Hour, 0); err != nil {
				t.Errorf("maintain: %v", err)
			}
			n, err := db.Quarantined(ctx)
			if err != nil || n != 1 || db.BadRows().Quarantined != 1 {
				t.Errorf("quarantine holds %d rows (%v), BadRows %+v; want the damaged row", n, err, db.BadRows())
			}
			var sessions int
			if err := db.r.QueryRow("SELECT count(*) FROM windows").Scan(&sessions); err != nil || sessions != 0 {
				t.Errorf("retention after damage: %d 5-minute rows left (%v)", sessions, err)
			}
		})
	}
}

// fractionalBlob is a stored distribution of count 1 whose one sketch bin
// holds 1.4 values: older versions accepted such a sketch.
func fractionalBlob() []byte {
	b := binary.AppendUvarint(nil, 1)
	for range 3 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1000))
	}
	enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypePositiveStore, enc.BinEncodingIndexDeltasAndCounts))
	enc.EncodeUvarint64(&b, 1)
	enc.EncodeVarint64(&b, 345)
	enc.EncodeVarfloat64(&b, 1.4)
	return b
}

// TestDatabaseIsPrivate: a new database and its companions are readable
// by their owner only, whatever the umask.
func TestDatabaseIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustIngest(t, db, batch("p1", "alpha", must(func() (window.Summary, error) { s, _ := newGen(1).summary(addr(1), t0, 3); return s, nil }())), t0)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(f), st.Mode().Perm())
		}
	}
}
