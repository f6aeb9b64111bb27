package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

type opCounts struct {
	Operation   string `json:"operation"`
	Count       uint64 `json:"count"`
	OK          uint64 `json:"ok"`
	ClientError uint64 `json:"client_error"`
	ServerError uint64 `json:"server_error"`
}

// TestOperationsMatchAnalyze replays the L7 corpus capture with sensor
// --read and checks that /api/v1/operations answers, per server (TCP and
// UDP), the operations and results that analyze --format json finds in
// the file.
func TestOperationsMatchAnalyze(t *testing.T) {
	file := filepath.Join(corpusDir(t, "l7"), "l7-mix.pcap.gz")
	var out, errb syncBuffer
	if code := run(context.Background(), []string{"analyze", "--format", "json", file}, &out, &errb); code != 0 {
		t.Fatalf("analyze exited %d: %s", code, errb.String())
	}
	var doc struct {
		Servers []struct {
			Server     string     `json:"server"`
			Transport  string     `json:"transport"`
			Operations []opCounts `json:"operations"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("analyze json: %v", err)
	}
	type key struct{ server, transport string }
	want := map[key][]opCounts{}
	for _, s := range doc.Servers {
		if len(s.Operations) > 0 {
			tr := s.Transport
			if tr == "" {
				tr = "tcp"
			}
			want[key{s.Server, tr}] = s.Operations
		}
	}
	if len(want) == 0 {
		t.Skip("analyze finds no operation in the capture: no application protocol is recognised yet")
	}

	dir := t.TempDir()
	web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"))
	if code, stderr := runSensorCmd(t, "--read", file, "--web", web.url, "--token", testToken,
		"--spool", filepath.Join(dir, "spool.db"), "--name", "l7", "--shutdown-wait", "60s"); code != 0 {
		t.Fatalf("sensor exited %d: %s", code, stderr)
	}
	to := time.Now().Add(3 * time.Hour)
	for k, ops := range want {
		server := k.server + "/" + k.transport
		q := url.Values{"server": {k.server}, "transport": {k.transport}, "from": {to.Add(-399 * 24 * time.Hour).Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
		req, _ := http.NewRequest("GET", web.url+"/api/v1/operations?"+q.Encode(), nil)
		req.SetBasicAuth("admin", "test-admin-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Operations []opCounts `json:"operations"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", server, resp.StatusCode, err)
		}
		byName := map[string]opCounts{}
		for _, o := range got.Operations {
			byName[o.Operation] = o
		}
		if len(got.Operations) != len(ops) {
			t.Errorf("%s: the API has %d operations, analyze %d", server, len(got.Operations), len(ops))
		}
		for _, o := range ops {
			if g := byName[o.Operation]; g != o {
				t.Errorf("%s %s: the API says %+v, analyze %+v", server, o.Operation, g, o)
			}
		}
	}
}
