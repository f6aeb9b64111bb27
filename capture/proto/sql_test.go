package proto

import "testing"

func TestSQLKeyword(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"SELECT 1", "SELECT"},
		{"select * from t", "SELECT"},
		{"  \n\tInsert into t values (1)", "INSERT"},
		{"BEGIN;", "BEGIN"},
		{"-- a comment\nUPDATE t SET a = 1", "UPDATE"},
		{"/* c */ DELETE FROM t", "DELETE"},
		{"/* outer /* nested */ still */ WITH x AS (SELECT 1) SELECT * FROM x", "WITH"},
		{"(SELECT 1) UNION (SELECT 2)", "SELECT"},
		{"/*!40101 SET NAMES utf8 */", "SET"},
		{"# mysql comment\nSHOW TABLES", "SHOW"},
		{"SELECTT now()", "SELECTT"},
		{"select_x", "SELECT_X"},
		{"", ""},
		{"   ", ""},
		{"1 + 1", ""},
		{"/* unterminated", ""},
		{"-- only a comment", ""},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF", "ABCDEFGHIJKLMNOPQRSTUVWX"},
		{"SELECT\x00garbage", "SELECT"},
		{"ÉCRIRE", ""},
	} {
		var buf [maxKeyword]byte
		if got := string(sqlKeyword([]byte(tc.q), &buf)); got != tc.want {
			t.Errorf("sqlKeyword(%q) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func FuzzSQLKeyword(f *testing.F) {
	for _, s := range []string{"SELECT 1", "/*!40101 SET x */", "-- c\nBEGIN", "/* /* */ */ x", "((("} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, q []byte) {
		var buf [maxKeyword]byte
		k := sqlKeyword(q, &buf)
		if len(k) > maxKeyword {
			t.Fatalf("keyword of %d bytes", len(k))
		}
		for _, c := range k {
			if !(c >= 'A' && c <= 'Z' || c == '_') {
				t.Fatalf("keyword %q has %q", k, c)
			}
		}
	})
}
