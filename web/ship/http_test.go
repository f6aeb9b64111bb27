package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// TestHTTPClassifiesAnswers: only a 200 acknowledges a batch, dropping
// exactly the windows it names; every other answer keeps the batch for a
// retry and says what to fix.
func TestHTTPClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  bool
		hint     string
		rejected []int
	}{
		{"ok", 200, `{"id":"b1","accepted":3,"duplicate":false,"rejected":[]}`, false, "", nil},
		{"older web node", 200, `{"ok":true,"duplicate":false,"windows":3}`, false, "", nil},
		{"duplicate", 200, `{"id":"b1","accepted":0,"duplicate":true,"rejected":[]}`, false, "", nil},
		{"some rejected", 200, `{"id":"b1","accepted":1,"rejected":[{"index":2,"server":"10.0.0.2:443","start":"x","error":"bad sketch"},{"index":0,"error":"future"}]}`, false, "", []int{2, 0}},
		{"rejections out of range or repeated are ignored", 200, `{"id":"b1","accepted":1,"rejected":[{"index":7},{"index":-1},{"index":1},{"index":1}]}`, false, "", []int{1}},
		{"200 for another batch", 200, `{"id":"other","accepted":3}`, true, "", nil},
		{"200 not json", 200, `hello`, true, "", nil},
		{"bad request is kept", 400, `{"ok":false,"error":"malformed"}`, true, "a bug", nil},
		{"unauthorized", 401, `{"ok":false,"error":"bad token"}`, true, "--token", nil},
		{"forbidden", 403, `{"ok":false,"error":"ingest disabled"}`, true, "--token", nil},
		{"not found", 404, `404 page not found`, true, "--web", nil},
		{"too large", 413, `too large`, true, "too large", nil},
		{"rate limited", 429, ``, true, "", nil},
		{"server error", 500, `oops`, true, "", nil},
		{"unavailable", 503, `{"ok":false,"error":"disk full"}`, true, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotAuth, gotPath string
			var gotBatch window.Batch
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
				body, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(body, &gotBatch)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			h := NewHTTP(srv.URL+"/", "s3cret")
			reply, err := h.Send(context.Background(), &window.Batch{ID: "b1", Sensor: window.SensorInfo{Name: "n1"}, Summaries: syntheticWindows(3)})
			if gotAuth != "Bearer s3cret" || gotPath != IngestPath || gotBatch.ID != "b1" {
				t.Errorf("request: auth %q path %q batch %q", gotAuth, gotPath, gotBatch.ID)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.hint != "" && !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("err = %v, want a hint with %q", err, tc.hint)
			}
			var se *StatusError
			if tc.status != 200 && (!errors.As(err, &se) || se.Status != tc.status) {
				t.Errorf("err = %v, want a StatusError %d", err, tc.status)
			}
			if errors.Is(err, ErrTooLarge) != (tc.status == 413) {
				t.Errorf("err = %v: ErrTooLarge %v, want %v", err, errors.Is(err, ErrTooLarge), tc.status == 413)
			}
			var got []int
			for _, r := range reply.Rejected {
				got = append(got, r.Index)
			}
			if len(got) != len(tc.rejected) || (len(got) > 0 && !equalInts(got, tc.rejected)) {
				t.Errorf("rejected %v, want %v", got, tc.rejected)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestHTTPUnreachableIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, err := NewHTTP(url, "t").Send(context.Background(), &window.Batch{ID: "x"}); err == nil {
		t.Fatal("no error from a web node that is gone")
	}
	if _, err := NewHTTP("", "t").Send(context.Background(), &window.Batch{ID: "x"}); err == nil {
		t.Fatal("no error without a URL")
	}
}

// TestSplitTooLarge: a proxy that refuses batches of more than 64 windows
// with 413 makes the shipper split them until they pass; every window
// reaches the real web node once.
func TestSplitTooLarge(t *testing.T) {
	webURL, db := webNode(t)
	u, _ := url.Parse(webURL)
	next := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct{ Windows []json.RawMessage }
		_ = json.Unmarshal(body, &b)
		if len(b.Windows) > 64 {
			refused.Add(1)
			http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	sh := New(Config{Name: "split", Version: "test", Spool: NewMemory(1000), Dest: NewHTTP(proxy.URL, testToken), QueueMax: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	go func() { defer close(done); sh.Run(runCtx) }()
	sums := syntheticWindows(300)
	for _, s := range sums {
		sh.Add(s)
	}
	if err := sh.WaitEmpty(ctx); err != nil {
		t.Fatalf("not delivered: %v (last error %v)", err, sh.LastError())
	}
	stop()
	<-done
	if refused.Load() == 0 {
		t.Fatal("the proxy refused nothing: the test tests nothing")
	}
	servers, err := db.Servers(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(servers) != len(sums) || sh.Delivered() != uint64(len(sums)) {
		t.Fatalf("%d servers stored (%v), %d delivered; want %d", len(servers), err, sh.Delivered(), len(sums))
	}
	for _, s := range servers {
		if s.Connections != 100 {
			t.Fatalf("server %s: %d connections, want 100 (each window once)", s.Server, s.Connections)
		}
	}
}
