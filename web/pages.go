package web

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pastmon/pastmon/store"
)

var pageNames = []string{"login", "password", "overview", "server", "sensors", "users", "error"}

// page is what every template gets.
// ReadOnlyBanner is shown on every page while the database, opened on a
// full disk, is read-only.
const ReadOnlyBanner = "The disk is full: read-only, ingest refused. Free some space; pastmon resumes writing by itself."

type page struct {
	Title, Nav, CSRF, Version, Error, Flash string
	// Banner says, on every page, that the database is read-only.
	Banner string
	// Next is where the login or password form goes once done.
	Next string
	User *store.User
	Data any
}

func parsePages(fsys fs.FS) (map[string]*template.Template, error) {
	layout, err := template.New("layout").Funcs(templateFuncs).ParseFS(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(fsys, name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

var templateFuncs = template.FuncMap{
	"fmtus":   fmtMicros,
	"fmtint":  fmtInt,
	"pathesc": url.PathEscape,
	"join":    func(s []string) string { return strings.Join(s, ", ") },
	"ago":     func(t time.Time) string { return fmtAgo(time.Since(t)) },
	"deref":   func(p *float64) float64 { return *p },
	"fmtpct":  fmtPct,
}

// fmtMicros prints a duration given in microseconds with a readable unit.
func fmtMicros(us float64) string {
	switch {
	case math.IsNaN(us) || math.IsInf(us, 0):
		return "–"
	case us >= 1e6:
		return strconv.FormatFloat(us/1e6, 'f', 2, 64) + " s"
	case us >= 1e3:
		return strconv.FormatFloat(us/1e3, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(us, 'f', 0, 64) + " µs"
}

// fmtPct prints a percentage with a precision that suits its size.
func fmtPct(p float64) string {
	switch {
	case p == 0:
		return "0%"
	case p < 0.1:
		return "<0.1%"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// fmtInt groups digits by thousands.
func fmtInt(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if id := identityFrom(r.Context()); id != nil && p.User == nil {
		p.User = &id.user
		if id.session != nil {
			p.CSRF = id.session.CSRF
		}
	}
	p.Version = s.cfg.Version
	if s.db.ReadOnly() {
		p.Banner = ReadOnlyBanner
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status          int
	Reason, Message string
}

// httpError answers an error as an HTML page to a browser and as JSON to
// a script.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !fromBrowser(r) {
		writeJSONError(w, status, msg)
		return
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status),
		Data: errorData{Status: status, Reason: http.StatusText(status), Message: msg}})
}

// fail answers a failed store call on an action or API route: a browser
// gets the HTML error page, a script JSON.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "err", err)
	s.httpError(w, r, http.StatusInternalServerError, what+" failed; see the web node's log")
}

// failPage is fail for a page: browsers get the HTML error page.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "err", err)
	s.httpError(w, r, http.StatusInternalServerError, "Could not "+what+": see the web node's log.")
}

type loginData struct{ Next, Username string }

// renderLogin shows the login form with a fresh double-submit CSRF token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, username, msg string) {
	token := rand.Text() + rand.Text() // 260 bits, as a session id
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: token, Path: loginCookiePath, MaxAge: 3600,
		HttpOnly: true, Secure: s.cfg.TLS, SameSite: http.SameSiteStrictMode,
	})
	if status == http.StatusTooManyRequests || status == http.StatusUnauthorized {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.render(w, r, status, "login", page{Title: "Log in", CSRF: token, Error: msg, Data: loginData{Next: safeNext(next), Username: username}})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if id, err := s.authenticate(r); err == nil && id != nil && id.session != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", "")
}

// loginCookiePath is where the login form's CSRF cookie lives.
const loginCookiePath = "/login"

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	name, password, next := r.PostFormValue("username"), r.PostFormValue("password"), r.PostFormValue("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || !equalSecret(c.Value, r.PostFormValue(csrfField)) {
		s.renderLogin(w, r, http.StatusForbidden, next, name, "The login form expired (CSRF check failed): please try again.")
		return
	}
	now, client := s.now(), s.client(r)
	if ok, wait := s.limiter.loginAllowed(client, name, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.authFailure("login rate limited", name, client)
		s.renderLogin(w, r, http.StatusTooManyRequests, next, name, fmt.Sprintf("Too many failed logins: try again in %d s.", int(wait.Seconds())+1))
		return
	}
	user, err := s.checkPassword(r.Context(), name, password)
	if err != nil {
		if !isCredentialsErr(err) {
			s.fail(w, r, "check password", err)
			return
		}
		s.limiter.loginFailed(client, name, now)
		s.authFailure("login failed", name, client)
		s.renderLogin(w, r, http.StatusUnauthorized, next, name, "Wrong user name or password.")
		return
	}
	s.limiter.loginSucceeded(client, name)
	sess, err := s.db.CreateSession(r.Context(), user.Name, s.cfg.SessionTTL, now)
	if err != nil {
		s.fail(w, r, "create session", err)
		return
	}
	s.setSessionCookie(w, sess)
	s.clearCookie(w, loginCookie, loginCookiePath)
	s.log.Info("login", "user", user.Name, "client", client)
	dest := safeNext(next)
	switch {
	case user.MustChange && dest == "/":
		dest = "/password"
	case user.MustChange:
		// The deep link survives the forced password change too.
		dest = "/password?next=" + url.QueryEscape(dest)
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

func isCredentialsErr(err error) bool {
	return errors.Is(err, store.ErrBadCredentials) || errors.Is(err, store.ErrNotFound)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if id := identityFrom(r.Context()); id.session != nil {
		if err := s.db.DeleteSession(r.Context(), id.session.ID); err != nil {
			s.fail(w, r, "delete session", err)
			return
		}
	}
	s.clearCookie(w, sessionCookie, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// renderPassword shows the password form; next is where to go once the
// password is changed.
func (s *Server) renderPassword(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	s.render(w, r, status, "password", page{Title: "Change password", Error: msg, Next: safeNext(next)})
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	s.renderPassword(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// changePassword changes the caller's own password, ends every session of
// the user and, for a browser, starts a fresh one.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	dest := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) {
		if id.session == nil {
			writeJSONError(w, status, msg)
			return
		}
		s.renderPassword(w, r, status, dest, msg)
	}
	if msg := checkNewPassword(next, confirm); msg != "" {
		fail(http.StatusBadRequest, msg)
		return
	}
	if next == current {
		fail(http.StatusBadRequest, "The new password must differ from the current one.")
		return
	}
	now, client := s.now(), s.client(r)
	if ok, _ := s.limiter.loginAllowed(client, id.user.Name, now); !ok {
		fail(http.StatusTooManyRequests, "Too many failed attempts: try again later.")
		return
	}
	if _, err := s.db.CheckPassword(r.Context(), id.user.Name, current); err != nil {
		if !isCredentialsErr(err) {
			s.fail(w, r, "check password", err)
			return
		}
		s.limiter.loginFailed(client, id.user.Name, now)
		fail(http.StatusForbidden, "The current password is wrong.")
		return
	}
	if err := s.db.SetPassword(r.Context(), id.user.Name, next, false); err != nil {
		if errors.Is(err, store.ErrInvalid) {
			fail(http.StatusBadRequest, "New password refused: "+err.Error())
			return
		}
		s.fail(w, r, "set password", err)
		return
	}
	if err := s.db.DeleteUserSessions(r.Context(), id.user.Name); err != nil {
		s.fail(w, r, "end sessions", err)
		return
	}
	s.log.Info("password changed", "user", id.user.Name)
	if id.session == nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return
	}
	sess, err := s.db.CreateSession(r.Context(), id.user.Name, s.cfg.SessionTTL, now)
	if err != nil {
		s.fail(w, r, "create session", err)
		return
	}
	s.setSessionCookie(w, sess)
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

const minPassword = 8

func checkNewPassword(pw, confirm string) string {
	switch {
	case pw != confirm:
		return "The two new passwords differ."
	case len(pw) < minPassword:
		return fmt.Sprintf("The new password needs at least %d characters.", minPassword)
	case len(pw) > 72:
		return "The new password may have at most 72 bytes."
	}
	return ""
}
