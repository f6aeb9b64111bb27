package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is the cost of new password hashes (a variable so that tests
// can run fast; production uses the default).
var bcryptCost = bcrypt.DefaultCost

// MinPasswordLen is the shortest password accepted (except the built-in
// admin/admin of a first start, which must be changed at first login).
const MinPasswordLen = 8

// User is a web user.
type User struct {
	Name       string
	Admin      bool
	MustChange bool // must set a new password before anything else
	Created    time.Time
}

// dummyHash is compared against for unknown users, so that a wrong name
// costs as much time as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("pastmon dummy password"), bcrypt.DefaultCost)

// ValidUserName reports whether name is 1–64 characters of [a-zA-Z0-9._-].
func ValidUserName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if !ValidUserName(name) {
		return fmt.Errorf("user name %q: want 1 to 64 characters among a-z A-Z 0-9 . _ -: %w", name, ErrInvalid)
	}
	return nil
}

func hashPassword(password string) ([]byte, error) {
	if len(password) < MinPasswordLen {
		return nil, fmt.Errorf("password: want at least %d characters: %w", MinPasswordLen, ErrInvalid)
	}
	if len(password) > 72 {
		return nil, fmt.Errorf("password: at most 72 bytes: %w", ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// EnsureAdmin creates the first user when there is none: "admin" with
// password, or "admin"/"admin" with MustChange when password is "".
func (db *DB) EnsureAdmin(ctx context.Context, password string) (created bool, err error) {
	var n int
	if err := db.w.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return false, fmt.Errorf("ensure admin: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	var hash []byte
	mustChange := password == ""
	if mustChange {
		hash, err = bcrypt.GenerateFromPassword([]byte("admin"), bcryptCost)
	} else {
		hash, err = hashPassword(password)
	}
	if err != nil {
		return false, fmt.Errorf("ensure admin: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO users (name, hash, admin, must_change, created)
		SELECT 'admin', ?, 1, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)`, hash, mustChange, time.Now().Unix())
	if err != nil {
		return false, fmt.Errorf("ensure admin: %w", err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}

const userCols = "name, admin, must_change, created"

func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	var created int64
	err := row.Scan(append([]any{&u.Name, &u.Admin, &u.MustChange, &created}, extra...)...)
	u.Created = time.Unix(created, 0).UTC()
	return u, err
}

// CheckPassword returns the user when name and password match, else
// ErrBadCredentials. It runs bcrypt for unknown users too, so that timing
// does not tell which names exist.
func (db *DB) CheckPassword(ctx context.Context, name, password string) (User, error) {
	var hash []byte
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+", hash FROM users WHERE name = ?", name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("check password of %s: %w", name, err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// User returns one user, or ErrNotFound.
func (db *DB) User(ctx context.Context, name string) (User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users returns every user, sorted by name.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CreateUser adds a user; ErrExists when the name is taken, ErrInvalid for
// a bad name or a password shorter than MinPasswordLen.
func (db *DB) CreateUser(ctx context.Context, name, password string, admin bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO users (name, hash, admin, must_change, created) VALUES (?, ?, ?, 0, ?)
		ON CONFLICT DO NOTHING`, name, hash, admin, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("create user %s: %w", name, errors.Join(ErrExists, err))
	}
	return nil
}

// DeleteUser deletes a user and its sessions; it refuses (ErrLastAdmin) to
// delete the last administrator.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	defer tx.Rollback()
	var admin bool
	err = tx.QueryRowContext(ctx, "SELECT admin FROM users WHERE name = ?", name).Scan(&admin)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delete user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if admin {
		var admins int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE admin").Scan(&admins); err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if admins <= 1 {
			return fmt.Errorf("delete user %s: %w", name, ErrLastAdmin)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE name = ?", name); err != nil { // sessions cascade
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}

// SetPassword sets a user's password (at least MinPasswordLen characters)
// and its must-change flag. It leaves sessions alone: callers that want
// other sessions ended call DeleteUserSessions.
func (db *DB) SetPassword(ctx context.Context, name, password string, mustChange bool) error {
	hash, err := hashPassword(password)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	res, err := db.w.ExecContext(ctx, "UPDATE users SET hash = ?, must_change = ? WHERE name = ?", hash, mustChange, name)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("set password of %s: %w", name, errors.Join(ErrNotFound, err))
	}
	return nil
}

// DeleteUserSessions ends every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, name string) error {
	if _, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE user = ?", name); err != nil {
		return fmt.Errorf("delete sessions of %s: %w", name, err)
	}
	return nil
}

// Session is a login session. ID goes in the cookie; CSRF must come back
// with every form post.
type Session struct {
	ID, CSRF, User string
	Expires        time.Time
}

// sessionKey is what the database stores of a session id: its hash, so
// that a copy of the database does not hand out live sessions.
func sessionKey(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// CreateSession starts a session for user, valid for ttl from now.
func (db *DB) CreateSession(ctx context.Context, user string, ttl time.Duration, now time.Time) (Session, error) {
	// Two rand.Text each: 260 bits, as much as a session needs and more.
	id, csrf := rand.Text()+rand.Text(), rand.Text()+rand.Text()
	s := Session{ID: id, CSRF: csrf, User: user, Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	if db.readOnly.Load() {
		if _, err := db.User(ctx, user); err != nil {
			return Session{}, fmt.Errorf("create session: %w", err)
		}
		return s, db.memSession(s, now)
	}
	_, err := db.w.ExecContext(ctx, "INSERT INTO sessions (id, csrf, user, expires) VALUES (?, ?, ?, ?)",
		sessionKey(id), csrf, user, s.Expires.Unix())
	if err != nil {
		if _, uerr := db.User(ctx, user); errors.Is(uerr, ErrNotFound) {
			return Session{}, fmt.Errorf("create session: %w", uerr)
		}
		return Session{}, fmt.Errorf("create session for %s: %w", user, err)
	}
	return s, nil
}

// Session returns a live session and its user; ErrNotFound when missing or
// expired.
func (db *DB) Session(ctx context.Context, id string, now time.Time) (Session, User, error) {
	if m, ok := db.lookupMemSession(id); ok {
		u, err := db.User(ctx, m.User)
		if err != nil || !now.Before(m.Expires) {
			return Session{}, User{}, fmt.Errorf("session: %w", ErrNotFound)
		}
		return m, u, nil
	}
	s := Session{ID: id}
	var expires int64
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT u.name, u.admin, u.must_change, u.created, s.csrf, s.expires"+
		" FROM sessions s JOIN users u ON u.name = s.user WHERE s.id = ?", sessionKey(id)), &s.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, User{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("session: %w", err)
	}
	s.User, s.Expires = u.Name, time.Unix(expires, 0).UTC()
	if !now.Before(s.Expires) {
		return Session{}, User{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	return s, u, nil
}

// DeleteSession ends a session (logout). A missing session is not an error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if db.deleteMemSession(id) || db.readOnly.Load() {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", sessionKey(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
