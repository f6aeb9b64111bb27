package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestPrometheusScrapesWebNode runs a real Prometheus server (native
// histograms on) against a web node while a capture is replayed into it,
// and asks Prometheus what it saw: per server, increase() of transactions
// must be the count analyze gives, and histogram_quantile(0.95) of the
// response times pastmon's own p95 within 2%.
func TestPrometheusScrapesWebNode(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (scripts/test-deps.sh installs it)")
	}
	file := realCapture(t)
	want := analyzedServers(t, file)
	dir := t.TempDir()
	const scrapeToken = "prometheus-scrape-token"
	web := startWeb(t, freeAddr(t), filepath.Join(dir, "web.db"), "--metrics-token", scrapeToken)
	prom := startPrometheus(t, promBin, dir, web.url, scrapeToken)
	start := time.Now()
	prom.waitUp(t)

	args := []string{"--read", file, "--web", web.url, "--token", testToken,
		"--spool", filepath.Join(dir, "spool.db"), "--name", "replay", "--shutdown-wait", "60s"}
	if code, stderr := runSensorCmd(t, args...); code != 0 {
		t.Fatalf("sensor exited %d: %s", code, stderr)
	}
	delivered := time.Now()

	checked := 0
	for _, s := range want {
		if s.Transactions == 0 {
			continue
		}
		sel := fmt.Sprintf(`{server=%q,transport="tcp"}`, s.Server)
		// Evaluate at the last sample's time, once Prometheus has scraped
		// after the delivery, over a range that starts before the series
		// existed: increase() then extrapolates nothing.
		at := prom.lastSampleAfter(t, "pastmon_transactions_total"+sel, delivered.Add(2*time.Second))
		rng := strconv.Itoa(int(at.Sub(start).Seconds())+30) + "s"
		got := prom.scalar(t, "increase(pastmon_transactions_total"+sel+"["+rng+"])", at)
		if math.Abs(got-float64(s.Transactions)) > 1e-6 {
			t.Errorf("%s: increase(transactions) = %v, analyze counts %d", s.Server, got, s.Transactions)
		}
		if s.ResponseTime.Count == 0 {
			continue
		}
		// Prometheus 2.42 extrapolates a histogram's increase to the
		// range start whatever its first sample (it only spares counters
		// that start at zero): the range starts at the first sample, the
		// zero that a new series shows first.
		first := prom.firstSample(t, "pastmon_transactions_total"+sel, at, rng)
		rng = strconv.FormatInt(at.Sub(first).Milliseconds(), 10) + "ms"
		p95 := prom.scalar(t, "histogram_quantile(0.95, increase(pastmon_response_time_seconds"+sel+"["+rng+"]))", at)
		if mine := *s.ResponseTime.P95 / 1e6; math.Abs(p95-mine) > 0.02*mine {
			t.Errorf("%s: Prometheus p95 %v s, pastmon's %v s: more than 2%% apart", s.Server, p95, mine)
		}
		t.Logf("%s: increase(transactions) %v, analyze %d; p95 Prometheus %.6f s, pastmon %.6f s", s.Server, got, s.Transactions, p95, *s.ResponseTime.P95/1e6)
		n := prom.scalar(t, "histogram_count(increase(pastmon_response_time_seconds"+sel+"["+rng+"]))", at)
		if n != float64(s.ResponseTime.Count) {
			t.Errorf("%s: Prometheus counts %v response times, analyze %d", s.Server, n, s.ResponseTime.Count)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no server with response times to compare")
	}
}

type analyzedServer struct {
	Server       string `json:"server"`
	Transactions uint64 `json:"transactions"`
	ResponseTime struct {
		Count uint64   `json:"count"`
		P95   *float64 `json:"p95_us"`
	} `json:"response_time"`
}

func analyzedServers(t *testing.T, file string) []analyzedServer {
	t.Helper()
	var out, errb syncBuffer
	if code := run(context.Background(), []string{"analyze", "--format", "json", file}, &out, &errb); code != 0 {
		t.Fatalf("analyze exited %d: %s", code, errb.String())
	}
	var doc struct {
		Servers []analyzedServer `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Servers
}

type promServer struct {
	url string
	cmd *exec.Cmd
	log *syncBuffer
}

// startPrometheus runs prometheus scraping target's /metrics every second
// with the bearer token.
func startPrometheus(t *testing.T, bin, dir, target, token string) *promServer {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pastmon
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: %q
    static_configs:
      - targets: [%q]
`, token, u.Host)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &promServer{url: "http://" + addr, log: &syncBuffer{}}
	p.cmd = exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--enable-feature=native-histograms")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	return p
}

// query runs an instant query at ts and returns its vector.
func (p *promServer) query(t *testing.T, q string, ts time.Time) ([]promSample, error) {
	t.Helper()
	v := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := http.Get(p.url + "/api/v1/query?" + v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	return r.Data.Result, nil
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) float(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample value %v: %v", s.Value, err)
	}
	return v
}

// scalar is the single value of a query, failing the test otherwise.
func (p *promServer) scalar(t *testing.T, q string, ts time.Time) float64 {
	t.Helper()
	res, err := p.query(t, q, ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("%s: %d results, want 1: %+v", q, len(res), res)
	}
	return res[0].float(t)
}

// waitUp waits until Prometheus has scraped the web node successfully.
func (p *promServer) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := p.query(t, `up{job="pastmon"}`, time.Now()); err == nil && len(res) == 1 && res[0].float(t) == 1 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Prometheus did not scrape the web node within 60s:\n%s", p.log)
}

// lastSampleAfter waits until the series' latest sample is later than
// after and returns that sample's time.
func (p *promServer) lastSampleAfter(t *testing.T, series string, after time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := p.query(t, "timestamp("+series+")", time.Now())
		if err == nil && len(res) == 1 {
			ts := time.UnixMilli(int64(math.Round(res[0].float(t) * 1000)))
			if ts.After(after) {
				return ts
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no sample of %s after %s within 60s:\n%s", series, after.Format(time.RFC3339Nano), p.log)
	return time.Time{}
}

// firstSample returns the time and checks the value (zero) of the first
// sample of series in the range rng before at.
func (p *promServer) firstSample(t *testing.T, series string, at time.Time, rng string) time.Time {
	t.Helper()
	v := url.Values{"query": {series + "[" + rng + "]"}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := http.Get(p.url + "/api/v1/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Result) != 1 || len(r.Data.Result[0].Values) == 0 {
		t.Fatalf("%s[%s]: no samples", series, rng)
	}
	s := r.Data.Result[0].Values[0]
	if s[1] != "0" {
		t.Fatalf("%s: first sample %v, want the zero of a new series", series, s[1])
	}
	ts, _ := s[0].(float64)
	return time.UnixMilli(int64(math.Round(ts * 1000)))
}
