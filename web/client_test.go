package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pastmon/pastmon/capture/window"
)

// TestClientClassifiesAnswers checks how Send maps each kind of answer to
// acknowledged, rejected for good, or retryable.
func TestClientClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantErr   bool
		wantFinal bool
	}{
		{"ok", 200, `{"ok":true,"duplicate":false,"windows":0}`, false, false},
		{"duplicate", 200, `{"ok":true,"duplicate":true,"windows":0}`, false, false},
		{"200 without ok", 200, `{"ok":false}`, true, false},
		{"200 not json", 200, `hello`, true, false},
		{"bad request", 400, `{"ok":false,"error":"windows[0]: bad"}`, true, true},
		{"too large", 413, `{"ok":false,"error":"too large"}`, true, true},
		{"unauthorized retries", 401, `{"ok":false,"error":"bad token"}`, true, false},
		{"timeout retries", 408, ``, true, false},
		{"rate limited retries", 429, ``, true, false},
		{"server error retries", 500, `oops`, true, false},
		{"unavailable retries", 503, ``, true, false},
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
			c := NewClient(srv.URL+"/", "s3cret")
			err := c.Send(context.Background(), &window.Batch{ID: "b1", Sensor: window.SensorInfo{Name: "n1"}})
			if gotAuth != "Bearer s3cret" || gotPath != IngestPath || gotBatch.ID != "b1" {
				t.Errorf("request: auth %q path %q batch %q", gotAuth, gotPath, gotBatch.ID)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var rej *RejectedError
			if errors.As(err, &rej) != tc.wantFinal {
				t.Fatalf("err = %v (%T), want RejectedError %v", err, err, tc.wantFinal)
			}
			if rej != nil && rej.Status != tc.status {
				t.Errorf("status %d, want %d", rej.Status, tc.status)
			}
		})
	}
}

func TestClientUnreachableIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := NewClient(url, "t").Send(context.Background(), &window.Batch{ID: "x"})
	var rej *RejectedError
	if err == nil || errors.As(err, &rej) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestClientSetURLConcurrently(t *testing.T) {
	c := NewClient("http://a:1", "t")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); c.SetURL("http://b:2/") }()
		go func() { defer wg.Done(); _ = c.URL() }()
	}
	wg.Wait()
	if c.URL() != "http://b:2" {
		t.Fatalf("URL = %q", c.URL())
	}
}
