package sqlstore

import "testing"

func TestPostgresRebind(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
	}
	for _, tt := range tests {
		if got := (postgres{}).rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDialectFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, dialect, dsnPrefix string
	}{
		{"postgres://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"postgresql://h/db", "postgres", "postgresql://h/db"},
		{"sqlite:keel-data/keel.db", "sqlite", "file:keel-data/keel.db?"},
		{"sqlite:///var/lib/keel/keel.db", "sqlite", "file:/var/lib/keel/keel.db?"},
		{"file:/tmp/k.db?x=1", "sqlite", "file:/tmp/k.db?"},
	}
	for _, tt := range tests {
		d, dsn, err := dialectFor(tt.url)
		if err != nil {
			t.Errorf("dialectFor(%q): %v", tt.url, err)
			continue
		}
		if d.name() != tt.dialect || len(dsn) < len(tt.dsnPrefix) || dsn[:len(tt.dsnPrefix)] != tt.dsnPrefix {
			t.Errorf("dialectFor(%q) = %s %q, want %s %q…", tt.url, d.name(), dsn, tt.dialect, tt.dsnPrefix)
		}
	}
}
