package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postgresBin finds PostgreSQL's server binaries, "" when not installed.
func postgresBin() (initdb, postgres string) {
	for _, dir := range append([]string{""}, globDirs("/usr/lib/postgresql/*/bin")...) {
		i, p := filepath.Join(dir, "initdb"), filepath.Join(dir, "postgres")
		if dir == "" {
			i, _ = exec.LookPath("initdb")
			p, _ = exec.LookPath("postgres")
		}
		if i != "" && p != "" && isExec(i) && isExec(p) {
			return i, p
		}
	}
	return "", ""
}

func globDirs(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// startPostgres runs a PostgreSQL server on ip:5432 inside namespace ns,
// as the postgres user, with trust authentication for the test's network.
// It reports false when PostgreSQL, psql or the postgres user is missing.
func (n *network) startPostgres(t *testing.T, logDir, ns, ip string) bool {
	t.Helper()
	initdb, postgres := postgresBin()
	_, psqlErr := exec.LookPath("psql")
	u, userErr := user.Lookup("postgres")
	if initdb == "" || psqlErr != nil || userErr != nil {
		t.Logf("PostgreSQL not installed (initdb %q, psql %v, user %v): HTTP traffic only", initdb, psqlErr, userErr)
		return false
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "pastmon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	for _, step := range []func() error{
		func() error { return os.Chmod(dir, 0o755) },
		func() error { return os.Mkdir(data, 0o700) },
		func() error { return os.Chown(data, uid, gid) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	asPostgres := []string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
	out, err := exec.Command("setpriv", append(asPostgres, initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")...).CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba := filepath.Join(data, "pg_hba.conf")
	f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "host all all 10.213.0.0/16 trust")
	f.Close()
	pg := n.start(t, logDir, ns, "postgres", nil, "setpriv", append(asPostgres, postgres, "-D", data,
		"-c", "listen_addresses="+ip, "-c", "unix_socket_directories="+data, "-c", "fsync=off")...)
	pg.waitLog(t, "ready to accept connections", 60*time.Second)
	t.Logf("PostgreSQL %s serving on %s:5432 in %s", postgres, ip, ns)
	return true
}

// psqlSessions runs psql from namespace ns: sessions connections, each
// running queries statements. Per session the server sees one turn for the
// startup (StartupMessage → authentication … ReadyForQuery) and one per
// query; the final Terminate gets no answer.
func (n *network) psqlSessions(t *testing.T, ns, ip string, sessions, queries int) (transactions, conns int64) {
	t.Helper()
	for s := range sessions {
		args := []string{"netns", "exec", n.ns(ns), "psql", "-X", "-q", "-h", ip, "-U", "postgres", "-d", "postgres"}
		for q := range queries {
			args = append(args, "-c", fmt.Sprintf("SELECT %d, repeat('x', %d)", s*queries+q, 100*(q+1)))
		}
		cmd := exec.Command("ip", args...)
		cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGGSSENCMODE=disable", "PGCONNECT_TIMEOUT=10")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("psql in %s: %v\n%s", ns, err, out)
		} else if !strings.Contains(string(out), "xxxx") {
			t.Fatalf("psql in %s: unexpected output\n%s", ns, out)
		}
		transactions += int64(1 + queries)
		conns++
	}
	return transactions, conns
}
