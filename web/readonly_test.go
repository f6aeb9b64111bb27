package web

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/internal/tmpfs"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// TestStartOnFullDisk starts the web node on a database whose (tmpfs)
// filesystem is full: it serves the pages read-only with a banner, logins
// work, /healthz and ingest answer 503; once there is room the database
// becomes writable again. It needs root (to mount) and skips without.
func TestStartOnFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, "1m")
	path := filepath.Join(dir, "web.db")
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsureAdmin(t.Context(), testAdminPW); err != nil {
		t.Fatal(err)
	}
	db.Close()
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	for {
		if _, err := f.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	f.Close()

	db, err = store.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvOn(t, db, path)
	c, _ := e.loggedIn()
	if r := e.get(c, "/"); r.status != http.StatusOK || !strings.Contains(r.body, "The disk is full: read-only, ingest refused") {
		t.Errorf("overview on a full disk: %d, want 200 with the banner:\n%s", r.status, r.body)
	}
	if r := e.do(http.DefaultClient, http.MethodGet, "/healthz", nil); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "read-only") {
		t.Errorf("/healthz on a full disk: %d %s, want 503 saying why", r.status, r.body)
	}
	start := window.Start(e.clock.Now()).Add(-window.Width)
	body := string(must(json.Marshal(batch("b1", "s1", summary("192.0.2.1:80", start, 1, []float64{10}, nil)))))
	post := func() reply {
		return e.do(http.DefaultClient, http.MethodPost, IngestPath, strings.NewReader(body), "Authorization", "Bearer "+testToken)
	}
	if r := post(); r.status != http.StatusServiceUnavailable {
		t.Errorf("ingest on a full disk: %d %s, want 503", r.status, r.body)
	}

	os.Remove(filler)
	if err := db.Recover(t.Context()); err != nil {
		t.Fatalf("Recover with room: %v", err)
	}
	if r := post(); r.status != http.StatusOK {
		t.Errorf("ingest once there is room: %d %s", r.status, r.body)
	}
	if r := e.get(c, "/"); r.status != http.StatusOK || strings.Contains(r.body, "read-only") {
		t.Errorf("overview after recovery: %d, want 200 without the banner", r.status)
	}
	if r := e.do(http.DefaultClient, http.MethodGet, "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("/healthz after recovery: %d %s", r.status, r.body)
	}
}
