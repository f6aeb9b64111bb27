package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// onlineWithin is how recently a sensor must have reported to count as
// online: sensors send at least one batch (windows or a heartbeat) per
// window.
const onlineWithin = 2 * window.Width

// sparkline turns the RTT averages into SVG polyline points in a 120×24
// box spanning [from,to); windows without samples are skipped. Empty when
// fewer than two points have data.
func sparkline(pts []store.SparkPoint, from, to time.Time) string {
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, p := range pts {
		if !math.IsNaN(p.RTTAvg) {
			lo, hi, n = math.Min(lo, p.RTTAvg), math.Max(hi, p.RTTAvg), n+1
		}
	}
	if n < 2 {
		return ""
	}
	var b strings.Builder
	span := to.Sub(from).Seconds()
	for _, p := range pts {
		if math.IsNaN(p.RTTAvg) {
			continue
		}
		x := math.Max(0, math.Min(120, 120*p.T.Sub(from).Seconds()/span))
		y := 12.0
		if hi > lo {
			y = 23 - 22*(p.RTTAvg-lo)/(hi-lo)
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64))
	}
	return b.String()
}

// serverRanges are the presets of the server page.
var serverRanges = []string{"1h", "6h", "24h", "7d", "30d"}

type serverData struct {
	Addr, Service, Transport string
	Sensors                  []string
	Seen                     bool
	First, Last              int64 // unix seconds of its first and latest window
	Ranges                   []string
}

func (s *Server) serverPage(w http.ResponseWriter, r *http.Request) {
	addr, err := netip.ParseAddrPort(chi.URLParam(r, "server"))
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a server address: want ip:port, e.g. 10.0.0.1:80 or [2001:db8::1]:443.", chi.URLParam(r, "server")))
		return
	}
	transport := r.URL.Query().Get("transport")
	if transport != "" && transport != "tcp" && transport != "udp" {
		s.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("transport %q: want tcp or udp.", transport))
		return
	}
	first, last, seen, err := s.db.ServerSeen(r.Context(), addr, transport)
	if err != nil {
		s.failPage(w, r, "look up server", err)
		return
	}
	data := serverData{Addr: addr.String(), Service: serviceGuess(addr.Port()), Transport: transport, Seen: seen}
	if !seen {
		s.render(w, r, http.StatusNotFound, "server", page{Title: addr.String(), Nav: "servers", Data: data})
		return
	}
	data.First, data.Last = first.Unix(), last.Unix()
	if data.Sensors, err = s.sensorsSeeing(r, addr, transport); err != nil {
		s.failPage(w, r, "list servers", err)
		return
	}
	data.Ranges = serverRanges
	s.render(w, r, http.StatusOK, "server", page{Title: addr.String(), Nav: "servers", Data: data})
}

// sensorsSeeing lists the sensors for the server page's filter: those that
// reported addr over transport in the last day, else every known sensor (reading weeks of
// 5-minute rows just for names would be slow).
func (s *Server) sensorsSeeing(r *http.Request, addr netip.AddrPort, transport string) ([]string, error) {
	to := s.now()
	names, err := s.db.ServerSensors(r.Context(), addr, transport, to.Add(-24*time.Hour), to)
	if err != nil || len(names) > 0 {
		return names, err
	}
	all, err := s.db.Sensors(r.Context())
	if err != nil {
		return nil, err
	}
	for _, sn := range all {
		names = append(names, sn.Name)
	}
	return names, nil
}

type sensorRow struct {
	store.Sensor
	Online bool
}

// skewWarn is the clock skew the sensors page flags: windows would land in
// the wrong 5-minute slot, and past window.MaxSkew ahead they are refused.
const skewWarn = time.Minute

// Skew prints the clock skew ("+1m30s", "−2s"), "" when unknown.
func (r sensorRow) Skew() string {
	if !r.HasSkew {
		return ""
	}
	d := r.ClockSkew.Round(time.Second)
	if d < 0 {
		return "−" + (-d).String()
	}
	return "+" + d.String()
}

// SkewBad is true when the skew is large enough to flag.
func (r sensorRow) SkewBad() bool { return r.HasSkew && r.ClockSkew.Abs() >= skewWarn }

func (s *Server) sensorRows(r *http.Request) ([]sensorRow, error) {
	list, err := s.db.Sensors(r.Context())
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]sensorRow, len(list))
	for i, sn := range list {
		rows[i] = sensorRow{Sensor: sn, Online: now.Sub(sn.LastSeen) <= onlineWithin}
	}
	return rows, nil
}

func (s *Server) sensorsPage(w http.ResponseWriter, r *http.Request) {
	rows, err := s.sensorRows(r)
	if err != nil {
		s.failPage(w, r, "list sensors", err)
		return
	}
	s.render(w, r, http.StatusOK, "sensors", page{Title: "Sensors", Nav: "sensors", Data: struct{ Sensors []sensorRow }{rows}})
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	s.renderUsers(w, r, http.StatusOK, "", "")
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, msg, flash string) {
	var users []store.User
	if identityFrom(r.Context()).user.Admin {
		var err error
		if users, err = s.db.Users(r.Context()); err != nil {
			s.fail(w, r, "list users", err)
			return
		}
	}
	s.render(w, r, status, "users", page{Title: "Users", Nav: "users", Error: msg, Flash: flash, Data: struct{ Users []store.User }{users}})
}

// userError answers a failed user change on the users page, with the
// status its cause deserves.
func (s *Server) userError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrExists):
		s.renderUsers(w, r, http.StatusConflict, what+": the user already exists.", "")
	case errors.Is(err, store.ErrNotFound):
		s.renderUsers(w, r, http.StatusNotFound, what+": no such user.", "")
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrLastAdmin):
		s.renderUsers(w, r, http.StatusBadRequest, what+": "+err.Error(), "")
	default:
		s.fail(w, r, what, err)
	}
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	name, pw, admin := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password"), r.PostFormValue("admin") != ""
	if msg := checkNewPassword(pw, pw); msg != "" {
		s.renderUsers(w, r, http.StatusBadRequest, "Add user: "+msg, "")
		return
	}
	if err := s.db.CreateUser(r.Context(), name, pw, admin); err != nil {
		s.userError(w, r, "Add user "+name, err)
		return
	}
	// The admin chose this password: the user must replace it.
	if err := s.db.SetPassword(r.Context(), name, pw, true); err != nil {
		s.userError(w, r, "Add user "+name, err)
		return
	}
	s.log.Info("user added", "user", name, "admin", admin, "by", identityFrom(r.Context()).user.Name)
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if name == identityFrom(r.Context()).user.Name {
		s.renderUsers(w, r, http.StatusBadRequest, "You cannot remove yourself.", "")
		return
	}
	if err := s.db.DeleteUser(r.Context(), name); err != nil {
		s.userError(w, r, "Remove user "+name, err)
		return
	}
	if err := s.db.DeleteUserSessions(r.Context(), name); err != nil {
		s.fail(w, r, "end sessions", err)
		return
	}
	s.log.Info("user removed", "user", name, "by", identityFrom(r.Context()).user.Name)
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	name, pw := chi.URLParam(r, "name"), r.PostFormValue("password")
	if msg := checkNewPassword(pw, pw); msg != "" {
		s.renderUsers(w, r, http.StatusBadRequest, "Reset password: "+msg, "")
		return
	}
	if err := s.db.SetPassword(r.Context(), name, pw, true); err != nil {
		s.userError(w, r, "Reset password of "+name, err)
		return
	}
	if err := s.db.DeleteUserSessions(r.Context(), name); err != nil {
		s.fail(w, r, "end sessions", err)
		return
	}
	s.log.Info("password reset", "user", name, "by", identityFrom(r.Context()).user.Name)
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}
