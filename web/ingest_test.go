package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web/ship"
)

// goodBatchJSON is a valid batch with one window at start, as a sensor
// would encode it.
func goodBatchJSON(t *testing.T, start time.Time) string {
	t.Helper()
	b := batch("ok-1", "sensor-a", summary("192.0.2.10:443", start, 5, []float64{100, 200, 300}, []float64{1000}))
	return string(must(json.Marshal(b)))
}

func TestIngestRejectsBadInput(t *testing.T) {
	e := newEnv(t, testAdminPW)
	now := e.clock.Now()
	start := window.Start(now).Add(-window.Width)
	good := goodBatchJSON(t, start)
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	replace := func(old, nw string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return strings.Replace(good, old, nw, 1)
	}
	startJSON := string(must(json.Marshal(start)))
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		msg    string
	}{
		{"no token", good, []string{"Content-Type", "application/json"}, 401, "token"},
		{"wrong token", good, []string{"Authorization", "Bearer " + testToken + "x"}, 401, "token"},
		{"token prefix", good, []string{"Authorization", "Bearer " + testToken[:5]}, 401, "token"},
		{"basic instead of bearer", good, []string{"Authorization", basicAuth("admin", testAdminPW)}, 401, "token"},
		{"over 8 MiB", `{"id":"big","sensor":{"name":"s"},"windows":[` + strings.Repeat(" ", MaxIngestBody) + `]}`, auth, 413, "larger than 8388608 bytes"},
		{"empty body", "", auth, 400, "empty body"},
		{"bad JSON", `{"id":"x",`, auth, 400, "bad JSON"},
		{"not an object", `[1,2,3]`, auth, 400, "bad JSON"},
		{"extra data", good + `{}`, auth, 400, "extra data"},
		{"unknown field", replace(`"id":`, `"colour":"red","id":`), auth, 400, `unknown field "colour"`},
		{"unknown sensor field", replace(`"name":"sensor-a"`, `"name":"sensor-a","cpu":3`), auth, 400, `unknown field "cpu"`},
		{"unknown metric", replace(`"rtt":`, `"latency":`), auth, winBad, `unknown metric "latency"`},
		{"negative counter", replace(`"connections":5`, `"connections":-5`), auth, winBad, "connections"},
		{"fractional counter", replace(`"connections":5`, `"connections":5.5`), auth, winBad, "connections"},
		{"absurd counter", replace(`"connections":5`, `"connections":5000000000000`), auth, winBad, "connections = 5000000000000 is absurd"},
		{"negative timing", replace(`"min_us":100`, `"min_us":-100`), auth, winBad, "negative"},
		{"absurd timing", replace(`"max_us":300`, `"max_us":1e12`), auth, winBad, "absurd"},
		{"sum outside min max", replace(`"sum_us":600`, `"sum_us":6000`), auth, winBad, "sum outside"},
		{"sketch count mismatch", replace(`"count":3`, `"count":4`), auth, winBad, ""},
		{"off the 5-minute grid", strings.Replace(good, startJSON, string(must(json.Marshal(start.Add(time.Minute)))), 1), auth, winBad, "not on a 5-minute boundary"},
		{"far future", strings.Replace(good, startJSON, string(must(json.Marshal(start.Add(24*time.Hour)))), 1), auth, winBad, "in the future"},
		{"no batch id", replace(`"id":"ok-1"`, `"id":""`), auth, 400, "batch id"},
		{"no sensor name", replace(`"name":"sensor-a"`, `"name":""`), auth, 400, "sensor name"},
		{"control characters in sensor name", replace(`"name":"sensor-a"`, `"name":"a\u0007b"`), auth, 400, "printable"},
		{"server without port", replace(`"192.0.2.10:443"`, `"192.0.2.10"`), auth, winBad, "ip:port"},
		{"server port 0", replace(`"192.0.2.10:443"`, `"192.0.2.10:0"`), auth, winBad, "ip:port"},
		{"wrong content type", good, []string{"Authorization", "Bearer " + testToken, "Content-Type", "text/plain"}, 415, "application/json"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case its own batch id: a window refused in a batch
			// leaves the batch id recorded.
			body := strings.Replace(tc.body, `"id":"ok-1"`, fmt.Sprintf(`"id":"bad-%d"`, i), 1)
			r := e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(body), tc.hdr...)
			var got ingestAnswer
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("%d: answer is not JSON: %q", r.status, r.body)
			}
			if tc.status == winBad {
				// The batch is fine, its window is not: refused alone.
				if r.status != http.StatusOK || got.Accepted != 0 || len(got.Rejected) != 1 || got.Rejected[0].Index != 0 ||
					!strings.Contains(got.Rejected[0].Error, tc.msg) {
					t.Errorf("%d %s, want 200 refusing windows[0] with %q", r.status, r.body, tc.msg)
				}
			} else if r.status != tc.status || got.OK || !strings.Contains(got.Error, tc.msg) || got.Error == "" {
				t.Errorf("%d %+v, want %d with %q", r.status, got, tc.status, tc.msg)
			}
			assertNoWindows(t, e)
		})
	}
	if r := e.do(http.DefaultClient, http.MethodGet, IngestPath, nil, auth...); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET ingest: %d, want 405", r.status)
	}

	// The good batch goes in; sent again it is acknowledged as a duplicate.
	for i, wantDup := range []bool{false, true} {
		r := e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(good), auth...)
		var got ingestAnswer
		wantN := 1
		if wantDup {
			wantN = 0
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 || !got.OK || got.Duplicate != wantDup ||
			got.Accepted != wantN || got.ID != "ok-1" || got.Rejected == nil {
			t.Fatalf("good batch, try %d: %d %s", i, r.status, r.body)
		}
	}
	list := must(e.db.Servers(context.Background(), start, start.Add(window.Width)))
	if len(list) != 1 || list[0].Connections != 5 {
		t.Fatalf("stored %+v, want one server with 5 connections (the duplicate not added)", list)
	}
}

func mustWindowJSON(t *testing.T, server string, start time.Time) string {
	s := summary(server, start, 1, []float64{50}, nil)
	return string(must(json.Marshal(&s)))
}

// winBad in a test case's status: the window is refused, the batch 200.
const winBad = -1

func assertNoWindows(t *testing.T, e *env) {
	t.Helper()
	now := e.clock.Now()
	if list := must(e.db.Servers(context.Background(), now.Add(-48*time.Hour), now.Add(48*time.Hour))); len(list) != 0 {
		t.Errorf("servers stored from a refused batch: %d", len(list))
	}
	if st := e.db.Stats(); st.Windows != 0 {
		t.Errorf("store stats after refused windows: %+v", st)
	}
}

func assertNothingStored(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	assertNoWindows(t, e)
	if list := must(e.db.Sensors(ctx)); len(list) != 0 {
		t.Errorf("sensors stored from a refused batch: %+v", list)
	}
	if st := e.db.Stats(); st.Batches != 0 || st.Windows != 0 {
		t.Errorf("store stats after refused batches: %+v", st)
	}
}

func TestIngestDisabledWithoutToken(t *testing.T) {
	e := newEnv(t, testAdminPW, func(c *Config) { c.Token = "" })
	good := goodBatchJSON(t, window.Start(e.clock.Now()))
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer "}, {"Authorization", "Bearer " + testToken}} {
		r := e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(good), hdr...)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "--token") {
			t.Errorf("%v: %d %s, want 403", hdr, r.status, r.body)
		}
	}
	assertNothingStored(t, e)
}

// TestClientAgainstServer drives the sensors' ingest client against the
// real handler: acknowledged, duplicate, a window refused alone, and
// answers that keep the batch for a retry.
func TestClientAgainstServer(t *testing.T) {
	e := newEnv(t, testAdminPW)
	start := window.Start(e.clock.Now()).Add(-window.Width)
	ctx := context.Background()
	c := ship.NewHTTP(e.ts.URL, testToken)
	b := batch("c-1", "sensor-c", summary("198.51.100.7:5432", start, 2, []float64{10, 20}, nil))
	if _, err := c.Send(ctx, b); err != nil {
		t.Fatalf("first send: %v", err)
	}
	if _, err := c.Send(ctx, b); err != nil {
		t.Fatalf("duplicate send: %v", err)
	}
	// An invalid window is refused alone; its batch is acknowledged.
	bad := batch("c-2", "sensor-c", summary("198.51.100.7:5432", start.Add(time.Second), 1, nil, nil))
	if reply, err := c.Send(ctx, bad); err != nil || len(reply.Rejected) != 1 || reply.Rejected[0].Index != 0 {
		t.Fatalf("batch with an unaligned window: %+v, %v; want it acknowledged with window 0 refused", reply, err)
	}
	var se *ship.StatusError
	if _, err := c.Send(ctx, &window.Batch{Sensor: bad.Sensor}); !errors.As(err, &se) || se.Status != 400 || !strings.Contains(se.Message, "batch id") {
		t.Fatalf("batch without an id: %v, want a 400 kept for a retry", err)
	}
	wrong := ship.NewHTTP(e.ts.URL, "not-the-token")
	if _, err := wrong.Send(ctx, b); !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("wrong token: %v, want a 401 kept for a retry", err)
	}
	if st := e.db.Stats(); st.Batches != 2 || st.Duplicates != 1 || st.Windows != 1 {
		t.Fatalf("store stats %+v, want 2 batches, 1 duplicate, 1 window", st)
	}
}

// TestIngestRefusesOnlyTheBadWindow: one window the web node cannot take
// (here a sketch whose bin counts are fractions, sent twice so that the
// merge would leave an unreadable row) is refused alone; the windows
// around it are stored and every listing keeps working.
func TestIngestRefusesOnlyTheBadWindow(t *testing.T) {
	e := newEnv(t, testAdminPW)
	start := window.Start(e.clock.Now()).Add(-window.Width)
	frac := fmt.Sprintf(`{"server":"192.0.2.20:80","start":%q,"metrics":{"rtt":{"count":1,"sum_us":1000,"min_us":1000,"max_us":1000,"sketch":%q}}}`,
		start.Format(time.RFC3339), b64Sketch(1.4))
	body := `{"id":"mixed","sensor":{"name":"s1"},"windows":[` + mustWindowJSON(t, "192.0.2.11:80", start) + `,` + frac + `,` + frac + `,` +
		mustWindowJSON(t, "192.0.2.12:80", start) + `]}`
	r := e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(body), "Authorization", "Bearer "+testToken)
	var got ingestAnswer
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != http.StatusOK || got.Accepted != 2 ||
		len(got.Rejected) != 2 || got.Rejected[0].Index != 1 || got.Rejected[1].Index != 2 || got.Rejected[0].Server != "192.0.2.20:80" {
		t.Fatalf("%d %s, want windows 1 and 2 refused", r.status, r.body)
	}
	c, _ := e.loggedIn()
	for _, p := range []string{"/api/v1/servers", "/"} {
		if r := e.do(c, http.MethodGet, p, nil); r.status != http.StatusOK || !strings.Contains(r.body, "192.0.2.12:80") {
			t.Errorf("GET %s: %d, want the good windows listed", p, r.status)
		}
	}
}

// b64Sketch encodes a sketch with one bin of 1 ms holding count values.
func b64Sketch(count float64) string {
	var b []byte
	enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypePositiveStore, enc.BinEncodingIndexDeltasAndCounts))
	enc.EncodeUvarint64(&b, 1)
	enc.EncodeVarint64(&b, 345)
	enc.EncodeVarfloat64(&b, count)
	return base64.StdEncoding.EncodeToString(b)
}

// TestDiskFull: while the database cannot grow (its size capped at what
// it holds, as a full disk would), ingest answers 503 (sensors keep the
// batch) and /healthz 503 with the reason; once there is room the same
// batch goes in, exactly once, and /healthz recovers.
func TestDiskFull(t *testing.T) {
	e := newEnv(t, testAdminPW)
	start := window.Start(e.clock.Now()).Add(-window.Width)
	e.ingest(batch("before", "s1", summary("192.0.2.1:80", start, 1, []float64{10}, nil)))
	size, err := e.db.Size(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.LimitSize(t.Context(), size); err != nil {
		t.Fatal(err)
	}
	var sums []window.Summary
	for i := range 300 {
		sums = append(sums, summary(fmt.Sprintf("198.51.100.%d:%d", i%250, 1000+i), start, 2, []float64{10, 20}, nil))
	}
	big := batch("while-full", "s1", sums...)
	body := string(must(json.Marshal(big)))
	post := func() reply {
		return e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(body), "Authorization", "Bearer "+testToken)
	}
	if r := post(); r.status != http.StatusServiceUnavailable {
		t.Fatalf("ingest on a full disk: %d %s, want 503", r.status, r.body)
	}
	if r := e.do(http.DefaultClient, http.MethodGet, "/healthz", nil); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "full") {
		t.Errorf("/healthz on a full disk: %d %s, want 503 saying why", r.status, r.body)
	}
	if _, err := ship.NewHTTP(e.ts.URL, testToken).Send(t.Context(), big); err == nil {
		t.Errorf("the client took a 503 for an acknowledgement")
	}
	if err := e.db.LimitSize(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the sensor's retry, and a duplicate of it
		if r := post(); r.status != http.StatusOK {
			t.Fatalf("ingest once there is room: %d %s", r.status, r.body)
		}
	}
	if r := e.do(http.DefaultClient, http.MethodGet, "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("/healthz after room returned: %d %s", r.status, r.body)
	}
	list := must(e.db.ServerList(t.Context(), store.ServersQuery{From: start, To: start.Add(window.Width), Limit: 1000, Sort: store.SortServer}))
	var conns uint64
	for _, s := range list.Servers {
		conns += s.Connections
	}
	if list.Matched != 301 || conns != 1+2*300 {
		t.Errorf("after the disk filled: %d servers, %d connections; want 301 and %d (each window once)", list.Matched, conns, 1+2*300)
	}
}
