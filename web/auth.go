package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pastmon/pastmon/store"
)

const (
	sessionCookie = "pastmon_session"
	// loginCookie carries the login form's CSRF token (double submit):
	// there is no session yet to hold it.
	loginCookie = "pastmon_login"
	csrfField   = "csrf"
	csrfHeader  = "X-CSRF-Token"
	maxFormBody = 64 << 10
)

type ctxKey struct{}

// identity is who a request acts for. session is nil under HTTP Basic.
type identity struct {
	user    store.User
	session *store.Session
}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(ctxKey{}).(*identity)
	return id
}

// equalSecret compares secrets in constant time, length included.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// maxUserName bounds the user names a login may try: longer ones fail
// without reaching the database.
const maxUserName = 256

func (s *Server) checkPassword(ctx context.Context, name, password string) (store.User, error) {
	if len(name) > maxUserName {
		return store.User{}, store.ErrBadCredentials
	}
	return s.db.CheckPassword(ctx, name, password)
}

// client is the request's client address (see clientAddr).
func (s *Server) client(r *http.Request) string { return clientAddr(r, s.cfg.TrustedProxies) }

// authFailure logs a failed login or token at a bounded rate.
func (s *Server) authFailure(msg, user, client string) {
	ok, dropped := s.authLog.ok(s.now())
	if !ok {
		return
	}
	args := []any{"client", client}
	if user != "" {
		args = append(args, "user", clipName(user))
	}
	if dropped > 0 {
		args = append(args, "not_logged_before", dropped)
	}
	s.log.Warn(msg, args...)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// errAuth is an authentication failure with the status to answer.
type errAuth struct {
	status int
	msg    string
	wait   time.Duration
}

func (e *errAuth) Error() string { return e.msg }

// authenticate finds the user from the session cookie or HTTP Basic.
// It returns nil, nil for an anonymous request.
func (s *Server) authenticate(r *http.Request) (*identity, error) {
	ctx := r.Context()
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		sess, user, err := s.db.Session(ctx, c.Value, s.now())
		switch {
		case err == nil:
			return &identity{user: user, session: &sess}, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("look up session: %w", err)
		}
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		return nil, nil
	}
	now, client := s.now(), s.client(r)
	if ok, wait := s.limiter.loginAllowed(client, name, now); !ok {
		return nil, &errAuth{status: http.StatusTooManyRequests, msg: "too many failed logins; try again later", wait: wait}
	}
	user, err := s.checkPassword(ctx, name, password)
	if errors.Is(err, store.ErrBadCredentials) || errors.Is(err, store.ErrNotFound) {
		s.limiter.loginFailed(client, name, now)
		s.authFailure("basic auth failed", name, client)
		return nil, &errAuth{status: http.StatusUnauthorized, msg: "wrong user name or password"}
	}
	if err != nil {
		return nil, fmt.Errorf("check password of %s: %w", clipName(name), err)
	}
	s.limiter.loginSucceeded(client, name)
	return &identity{user: user}, nil
}

// requireUser refuses anonymous requests and, for sessions, state changes
// without the session's CSRF token.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.authenticate(r)
		if err != nil {
			s.authFailed(w, r, err)
			return
		}
		if id == nil {
			if wantsHTML(r) {
				// A redirect, not a login form in place: the address bar then
				// shows /login, and the deep link rides along in next.
				http.Redirect(w, r, "/login?next="+url.QueryEscape(safeNext(r.URL.RequestURI())), http.StatusSeeOther)
				return
			}
			writeJSONError(w, http.StatusUnauthorized, "login required: a session cookie or HTTP Basic credentials")
			return
		}
		if id.session != nil && !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			token := r.Header.Get(csrfHeader)
			if token == "" {
				token = r.PostFormValue(csrfField)
			}
			if token == "" || !equalSecret(token, id.session.CSRF) {
				s.log.Warn("CSRF token missing or wrong", "user", id.user.Name, "path", r.URL.Path)
				writeJSONError(w, http.StatusForbidden, "CSRF token missing or wrong: reload the page and try again")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *errAuth
	if !errors.As(err, &ae) {
		s.log.Error("authenticate", "err", err)
		s.httpError(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	if ae.wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(ae.wait.Seconds())+1))
	}
	writeJSONError(w, ae.status, ae.msg)
}

// requireChanged keeps a user with an initial password on the password
// page until it is changed.
func (s *Server) requireChanged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityFrom(r.Context())
		if id.user.MustChange {
			if wantsHTML(r) {
				s.renderPassword(w, r, http.StatusForbidden, r.URL.RequestURI(), "")
				return
			}
			writeJSONError(w, http.StatusForbidden, "password must be changed first: POST /password")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !identityFrom(r.Context()).user.Admin {
			writeJSONError(w, http.StatusForbidden, "administrators only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wantsHTML tells a browser navigation from a script. The API and
// /metrics always answer scripts.
func wantsHTML(r *http.Request) bool {
	return r.Method == http.MethodGet && fromBrowser(r)
}

// fromBrowser tells a browser (a navigation or a form post) from a script,
// for error replies: the API and /metrics always answer JSON.
func fromBrowser(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") &&
		!strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics"
}

func (s *Server) setSessionCookie(w http.ResponseWriter, sess store.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.ID, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: s.cfg.TLS, SameSite: http.SameSiteLaxMode,
	})
}

// clearCookie removes cookie name, set on path: a browser keeps a cookie
// cleared on another path.
func (s *Server) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.TLS, SameSite: http.SameSiteLaxMode,
	})
}

// safeNext keeps post-login redirects on this site: it returns next if it
// is a relative path of this site, else "/". Browsers drop tabs and
// newlines anywhere in a URL and read a backslash as a slash, so
// "/\t/evil.example" and "/\\evil.example" would leave the site: any control
// character, space or backslash, raw or percent-encoded, refuses next, as
// does anything url.Parse finds a scheme or host in.
func safeNext(next string) string {
	if !sameSitePath(next) || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func sameSitePath(next string) bool {
	if len(next) > 2048 || len(next) < 1 || next[0] != '/' {
		return false
	}
	for _, v := range []string{next, percentDecoded(next)} {
		if strings.HasPrefix(v, "//") || strings.ContainsFunc(v, func(r rune) bool {
			return r <= ' ' || r == '\\' || r == 0x7f || r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r)
		}) {
			return false
		}
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil
}

// percentDecoded undoes percent-encoding (twice, for double-encoded input);
// an invalid escape is kept as it is, which refuses nothing by itself.
func percentDecoded(s string) string {
	for range 2 {
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			break
		}
		s = d
	}
	return s
}
