package store

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		password, login string
		mustChange      bool
	}{
		{"", "admin", true},
		{"s3cret-pass", "s3cret-pass", false},
	} {
		db := openTest(t)
		created, err := db.EnsureAdmin(ctx, tc.password)
		if err != nil || !created {
			t.Fatalf("EnsureAdmin(%q) = %v, %v", tc.password, created, err)
		}
		u, err := db.CheckPassword(ctx, "admin", tc.login)
		if err != nil {
			t.Fatalf("login admin/%s: %v", tc.login, err)
		}
		if !u.Admin || u.MustChange != tc.mustChange || u.Name != "admin" {
			t.Errorf("admin user %+v, want admin with MustChange=%v", u, tc.mustChange)
		}
		if created, err := db.EnsureAdmin(ctx, "another-pass"); err != nil || created {
			t.Errorf("second EnsureAdmin = %v, %v, want false", created, err)
		}
		if _, err := db.CheckPassword(ctx, "admin", "another-pass"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("second EnsureAdmin changed the password: %v", err)
		}
	}
	db := openTest(t)
	if _, err := db.EnsureAdmin(ctx, "short"); !errors.Is(err, ErrInvalid) {
		t.Errorf("EnsureAdmin with a 5-character password: %v", err)
	}
}

func TestUsers(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.EnsureAdmin(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, "ops.team_1-x", "password1", false); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, "ops.team_1-x", "password2", true); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate user: %v", err)
	}
	for _, tc := range []struct{ name, password string }{
		{"", "password1"},
		{strings.Repeat("a", 65), "password1"},
		{"bad name", "password1"},
		{"bad/name", "password1"},
		{"émile", "password1"},
		{"shortpw", "1234567"},
		{"longpw", strings.Repeat("p", 73)},
	} {
		if err := db.CreateUser(ctx, tc.name, tc.password, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateUser(%q, %q): %v, want ErrInvalid", tc.name, tc.password, err)
		}
	}
	if err := db.CreateUser(ctx, strings.Repeat("a", 64), "12345678", false); err != nil {
		t.Errorf("64-character name, 8-character password: %v", err)
	}
	u, err := db.CheckPassword(ctx, "ops.team_1-x", "password1")
	if err != nil || u.Admin || u.MustChange || time.Since(u.Created) > time.Minute {
		t.Fatalf("CheckPassword = %+v, %v", u, err)
	}
	for _, c := range [][2]string{{"ops.team_1-x", "password2"}, {"nobody", "password1"}, {"ops.team_1-x", ""}} {
		if _, err := db.CheckPassword(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("CheckPassword(%q, %q): %v, want ErrBadCredentials", c[0], c[1], err)
		}
	}
	users, err := db.Users(ctx)
	if err != nil || len(users) != 3 || users[0].Name != strings.Repeat("a", 64) || users[1].Name != "admin" {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if _, err := db.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("User(nobody): %v", err)
	}

	// Password change clears MustChange and leaves sessions to the caller.
	s, err := db.CreateSession(ctx, "admin", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetPassword(ctx, "admin", "new-admin-pw", false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPassword(ctx, "admin", "short", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetPassword short: %v", err)
	}
	if err := db.SetPassword(ctx, "nobody", "long-enough", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword of nobody: %v", err)
	}
	u, err = db.CheckPassword(ctx, "admin", "new-admin-pw")
	if err != nil || u.MustChange {
		t.Fatalf("after SetPassword: %+v, %v", u, err)
	}
	if _, _, err := db.Session(ctx, s.ID, t0); err != nil {
		t.Errorf("SetPassword ended the session: %v", err)
	}
	if err := db.DeleteUserSessions(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Session(ctx, s.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after DeleteUserSessions: %v", err)
	}

	// The last admin stays; deleting a user ends its sessions.
	if err := db.DeleteUser(ctx, "admin"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("deleting the last admin: %v", err)
	}
	s, err = db.CreateSession(ctx, "ops.team_1-x", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, "ops.team_1-x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Session(ctx, s.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of a deleted user: %v", err)
	}
	if err := db.DeleteUser(ctx, "ops.team_1-x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a deleted user: %v", err)
	}
	if err := db.CreateUser(ctx, "admin2", "password2", true); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, "admin"); err != nil {
		t.Errorf("deleting one of two admins: %v", err)
	}
}

func TestPasswordHashes(t *testing.T) {
	saved := bcryptCost
	bcryptCost = bcrypt.DefaultCost
	t.Cleanup(func() { bcryptCost = saved })
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, "carol", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	var hash []byte
	if err := db.r.QueryRow("SELECT hash FROM users WHERE name = 'carol'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost(hash); err != nil || cost < bcrypt.DefaultCost {
		t.Errorf("stored hash cost %d (%v), want ≥ %d", cost, err, bcrypt.DefaultCost)
	}
	if strings.Contains(string(hash), "correct horse") {
		t.Error("password stored in clear")
	}
	// An unknown name costs a bcrypt comparison like a wrong password.
	timeIt := func(name string) time.Duration {
		start := time.Now()
		if _, err := db.CheckPassword(ctx, name, "wrong password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	known, unknown := timeIt("carol"), timeIt("mallory")
	if unknown < known/4 {
		t.Errorf("unknown user answered in %s, known in %s: names can be probed by timing", unknown, known)
	}
}

func TestSessions(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, "dave", "password1", false); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`^[A-Z2-7]{52}$`) // two crypto/rand.Text: 260 bits
	seen := map[string]bool{}
	var s Session
	for range 20 {
		var err error
		s, err = db.CreateSession(ctx, "dave", time.Hour, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !token.MatchString(s.ID) || !token.MatchString(s.CSRF) || s.ID == s.CSRF {
			t.Fatalf("session id %q csrf %q: want two different random tokens", s.ID, s.CSRF)
		}
		if seen[s.ID] || seen[s.CSRF] {
			t.Fatal("token repeated")
		}
		seen[s.ID], seen[s.CSRF] = true, true
	}
	got, u, err := db.Session(ctx, s.ID, t0.Add(59*time.Minute))
	if err != nil || got != s || u.Name != "dave" {
		t.Fatalf("Session = %+v, %+v, %v; want %+v", got, u, err, s)
	}
	if !s.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("expires %s, want %s", s.Expires, t0.Add(time.Hour))
	}
	if _, _, err := db.Session(ctx, s.ID, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session: %v", err)
	}
	if _, _, err := db.Session(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	// The database holds a hash of the id, not the id.
	var n int
	if err := db.r.QueryRow("SELECT count(*) FROM sessions WHERE id = ?", s.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("session id stored in clear (%d, %v)", n, err)
	}
	if _, err := db.CreateSession(ctx, "ghost", time.Hour, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("session for an unknown user: %v", err)
	}
	s2, err := db.CreateSession(ctx, "dave", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Session(ctx, s2.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}
	// Maintain purges expired sessions.
	if err := db.Maintain(ctx, t0.Add(2*time.Hour), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.r.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d sessions left after expiry (%v)", n, err)
	}
}
