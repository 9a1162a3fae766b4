package store

import "testing"

func TestWithConnectTimeout(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:p@h:5432/db", "postgres://u:p@h:5432/db?connect_timeout=5"},
		{"postgres://h/db?sslmode=disable", "postgres://h/db?connect_timeout=5&sslmode=disable"},
		{"postgres://h/db?connect_timeout=30", "postgres://h/db?connect_timeout=30"},
	}
	for _, tc := range tests {
		if got := withConnectTimeout(tc.in); got != tc.want {
			t.Errorf("withConnectTimeout(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	pg, lite := &DB{dialect: "postgres"}, &DB{dialect: "sqlite"}
	q := "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"
	if got, want := pg.q(q), "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	if got := lite.q(q); got != q {
		t.Errorf("sqlite: %q, want it unchanged", got)
	}
}
