package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// pageRanges are the preset ranges of the overview and the server page;
// the overview's default is the first.
var pageRanges = []struct {
	Name  string
	Label string
	D     time.Duration
}{{"1h", "last hour", time.Hour}, {"6h", "last 6 hours", 6 * time.Hour}, {"24h", "last 24 hours", 24 * time.Hour},
	{"7d", "last 7 days", 7 * 24 * time.Hour}, {"30d", "last 30 days", 30 * 24 * time.Hour}}

// overviewPage is how many servers one overview page lists.
const overviewPage = 50

type overviewRow struct {
	ap                            netip.AddrPort
	Addr, Link, Service, Protocol string
	Transport                     string // "udp" or "" for TCP
	Sensors                       []string
	RTT, Response                 window.Stats
	ErrorPct                      float64 // of transactions; 0 without any
	Spark                         string
	window.Counters
}

// bucketRow is a closed-port bucket (ip:*): connections refused or
// unanswered at ports of a host that never completed a handshake.
type bucketRow struct {
	Host                string
	Refused, Unanswered uint64
}

type overviewData struct {
	Servers              []overviewRow
	Buckets              []bucketRow
	Refused, Unanswered  uint64 // of the buckets
	Range, Label         string
	From, To             int64 // unix seconds
	Custom               bool
	Ranges               []string
	Sort, Q              string
	Matched, First, Last int
	Prev, Next           string
	RangeLinks           []rangeLink
	SortLinks            map[string]string
	Keep, KeepNoRange    []field // the query fields a form must carry along
	ClearQ               string
	API                  string // the API request with the same figures
	Why                  []string
	RangeError           string
}

type rangeLink struct {
	Name, Href string
	On         bool
}

type field struct{ Name, Value string }

// overviewQuery is what the overview's URL selects.
type overviewQuery struct {
	rng      string
	from, to time.Time
	custom   bool
	sort, q  string
	page     int
	refresh  int // seconds between reloads; 0: none
}

func (s *Server) readOverviewQuery(r *http.Request) (overviewQuery, error) {
	v := r.URL.Query()
	o := overviewQuery{rng: pageRanges[0].Name, sort: v.Get("sort"), q: strings.TrimSpace(v.Get("q"))}
	o.to = s.now()
	o.from = o.to.Add(-pageRanges[0].D)
	for _, p := range pageRanges {
		if p.Name == v.Get("range") {
			o.rng, o.from = p.Name, o.to.Add(-p.D)
		}
	}
	// Without scripts the custom range form sends what was typed (UTC).
	for _, k := range []string{"from", "to"} {
		if v.Get(k) == "" && v.Get(k+"_text") != "" {
			v.Set(k, v.Get(k+"_text"))
		}
	}
	if v.Get("from") != "" || v.Get("to") != "" {
		from, err1 := parsePageTime(v.Get("from"))
		to, err2 := parsePageTime(v.Get("to"))
		switch {
		case err1 != nil:
			return o, fmt.Errorf("from: %w", err1)
		case err2 != nil:
			return o, fmt.Errorf("to: %w", err2)
		case !from.Before(to):
			return o, fmt.Errorf("from (%s) must be before to (%s)", from.Format(pageTime), to.Format(pageTime))
		case to.Sub(from) > maxRange:
			return o, fmt.Errorf("a range of at most %d days, please", int(maxRange.Hours()/24))
		}
		o.from, o.to, o.custom, o.rng = from, to, true, ""
	}
	if o.sort == "" {
		o.sort = "worst"
	}
	if !slices.Contains([]string{"worst", "connections", "server"}, o.sort) {
		return o, fmt.Errorf("sort: want worst, connections or server, got %q", o.sort)
	}
	if len(o.q) > 200 {
		return o, fmt.Errorf("filter: at most 200 characters")
	}
	if f := v.Get("refresh"); f != "" {
		n, err := strconv.Atoi(f)
		if err != nil || n < 10 || n > 3600 {
			return o, fmt.Errorf("refresh: want seconds from 10 to 3600, got %q", f)
		}
		o.refresh = n
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 10000 {
			return o, fmt.Errorf("page: want a page number, got %q", p)
		}
		o.page = n - 1
	}
	return o, nil
}

// pageTime is the one time format of the pages: 24-hour ISO, UTC.
const pageTime = "2006-01-02 15:04"

// parsePageTime reads RFC 3339 or "2026-12-02 15:40" (UTC).
func parsePageTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(pageTime, strings.Replace(strings.TrimSpace(v), "T", " ", 1)); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a time such as 2026-12-02 15:40 (UTC) or 2026-12-02T15:40:00Z, got %q", v)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	o, err := s.readOverviewQuery(r)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, "The overview's address is wrong: "+err.Error()+".")
		return
	}
	// Bounded whatever is stored: one page of servers, sorted and
	// filtered by the store, and at most MaxServersLimit buckets.
	sort, _ := store.ParseServerSort(o.sort)
	list, err := s.db.ServerList(r.Context(), store.ServersQuery{From: o.from, To: o.to, Sort: sort, Q: o.q, QPorts: servicePorts(o.q),
		Limit: overviewPage, Offset: min(o.page*overviewPage, store.MaxServersDepth-overviewPage), Ports: store.OnlyServers})
	if err != nil {
		s.failPage(w, r, "list servers", err)
		return
	}
	buckets, err := s.db.ServerList(r.Context(), store.ServersQuery{From: o.from, To: o.to, Sort: store.SortConnections,
		Limit: store.MaxServersLimit, Ports: store.OnlyBuckets})
	if err != nil {
		s.failPage(w, r, "list servers", err)
		return
	}
	data := overviewData{Range: o.rng, Label: rangeLabel(o), From: o.from.Unix(), To: o.to.Unix(), Custom: o.custom, Sort: o.sort, Q: o.q}
	for _, p := range pageRanges {
		data.Ranges = append(data.Ranges, p.Name)
	}
	for i := range buckets.Servers {
		sv := &buckets.Servers[i]
		data.Buckets = append(data.Buckets, bucketRow{Host: sv.Server.Addr().String(), Refused: sv.Refused, Unanswered: sv.Unanswered})
		data.Refused += sv.Refused
		data.Unanswered += sv.Unanswered
	}
	for i := range list.Servers {
		data.Servers = append(data.Servers, toOverviewRow(&list.Servers[i], o.from, o.to))
	}
	data.Matched, data.First = list.Matched, o.page*overviewPage+1
	data.Last = data.First + len(data.Servers) - 1
	o.links(&data)
	link := func(page int) string { return "/?" + o.values(page).Encode() }
	if o.page > 0 {
		data.Prev = link(o.page)
	}
	if (o.page+1)*overviewPage < list.Matched && (o.page+2)*overviewPage <= store.MaxServersDepth {
		data.Next = link(o.page + 2)
	}
	api := o.values(0)
	api.Del("range")
	api.Del("refresh")
	api.Set("from", o.from.Format(time.RFC3339))
	api.Set("to", o.to.Format(time.RFC3339))
	api.Set("limit", strconv.Itoa(overviewPage))
	api.Set("offset", strconv.Itoa(o.page*overviewPage))
	data.API = "/api/v1/servers?" + api.Encode()
	if list.Matched == 0 && len(buckets.Servers) == 0 {
		if data.Why, err = s.whyEmpty(r); err != nil {
			s.failPage(w, r, "list sensors", err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "overview", page{Title: "Servers", Nav: "servers", Data: data})
}

// links fills in the links and hidden fields that keep the overview's
// state: range, sort and filter.
func (o overviewQuery) links(d *overviewData) {
	for _, p := range pageRanges {
		c := o
		c.rng, c.custom = p.Name, false
		d.RangeLinks = append(d.RangeLinks, rangeLink{Name: p.Name, Href: "/?" + c.values(0).Encode(), On: p.Name == o.rng})
	}
	d.SortLinks = map[string]string{}
	for _, by := range []string{"worst", "connections", "server"} {
		c := o
		c.sort = by
		d.SortLinks[by] = "/?" + c.values(0).Encode()
	}
	c := o
	c.q = ""
	d.ClearQ = "/?" + c.values(0).Encode()
	keep := o.values(0)
	keep.Del("q")
	for _, k := range []string{"range", "from", "to", "sort", "refresh"} {
		if v := keep.Get(k); v != "" {
			d.Keep = append(d.Keep, field{k, v})
			if k == "sort" || k == "refresh" {
				d.KeepNoRange = append(d.KeepNoRange, field{k, v})
			}
		}
	}
	if o.q != "" {
		d.KeepNoRange = append(d.KeepNoRange, field{"q", o.q})
	}
	// Server links keep the range.
	rv := url.Values{}
	if o.custom {
		rv.Set("from", o.from.Format(time.RFC3339))
		rv.Set("to", o.to.Format(time.RFC3339))
	} else {
		rv.Set("range", o.rng)
	}
	for i := range d.Servers {
		v := maps.Clone(rv)
		if d.Servers[i].Transport == "udp" {
			v.Set("transport", "udp")
		}
		d.Servers[i].Link += "?" + v.Encode()
	}
}

// values is the overview's URL query for the given page (1-based; 0: none).
func (o overviewQuery) values(page int) url.Values {
	v := url.Values{}
	if o.custom {
		v.Set("from", o.from.Format(time.RFC3339))
		v.Set("to", o.to.Format(time.RFC3339))
	} else {
		v.Set("range", o.rng)
	}
	if o.sort != "worst" {
		v.Set("sort", o.sort)
	}
	if o.q != "" {
		v.Set("q", o.q)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if o.refresh > 0 {
		v.Set("refresh", strconv.Itoa(o.refresh))
	}
	return v
}

func rangeLabel(o overviewQuery) string {
	for _, p := range pageRanges {
		if p.Name == o.rng {
			return p.Label
		}
	}
	return o.from.Format(pageTime) + " – " + o.to.Format(pageTime) + " UTC"
}

func toOverviewRow(sv *store.ServerSummary, from, to time.Time) overviewRow {
	row := overviewRow{
		ap: sv.Server, Addr: sv.Server.String(), Service: serviceGuess(sv.Server.Port()), Sensors: sv.Sensors,
		RTT: sv.Metrics[window.RTT].Stats(), Response: sv.Metrics[window.ResponseTime].Stats(),
		Spark: sparkline(sv.Spark, from, to), Counters: sv.Counters,
	}
	row.Link = "/servers/" + url.PathEscape(row.Addr)
	row.ErrorPct = errorPct(&sv.Counters)
	if sv.Transport == "udp" {
		row.Transport = "udp"
	}
	row.Protocol = sv.Protocol
	return row
}

// errorPct is the share of transactions that failed, in percent.
func errorPct(c *window.Counters) float64 {
	var failed uint64
	for _, name := range []string{"client_errors", "server_errors"} {
		if k, ok := window.ParseCounter(name); ok {
			failed += *c.Field(k)
		}
	}
	if c.Transactions == 0 {
		return 0
	}
	return 100 * float64(failed) / float64(c.Transactions)
}

// whyEmpty explains an empty overview: what the web node knows of its
// own sensor and of the others.
func (s *Server) whyEmpty(r *http.Request) ([]string, error) {
	var why []string
	if s.cfg.LocalSensor != nil {
		if msg := s.cfg.LocalSensor(); msg != "" {
			why = append(why, msg)
		}
	}
	rows, err := s.sensorRows(r)
	if err != nil {
		return nil, err
	}
	var online, offline []string
	for _, sn := range rows {
		if sn.Online {
			online = append(online, sn.Name)
		} else {
			offline = append(offline, sn.Name+" (last report "+sn.LastSeen.UTC().Format(pageTime)+" UTC)")
		}
	}
	switch {
	case len(rows) == 0 && len(why) == 0:
		why = append(why, "No sensor has reported to this web node yet. Its own sensor ships its first windows within a minute of start (--flush-interval); other hosts run pastmon sensor --web URL --token TOKEN.")
	case len(rows) == 0:
		why = append(why, "No other sensor has reported either: other hosts run pastmon sensor --web URL --token TOKEN.")
	case len(online) > 0:
		why = append(why, "Sensors "+strings.Join(online, ", ")+" report, but saw no server in this range: check their interface and capture filter, or choose a longer range.")
	default:
		why = append(why, "No sensor is online: "+strings.Join(offline, ", ")+".")
	}
	return why, nil
}
