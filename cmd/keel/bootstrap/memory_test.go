package bootstrap

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestMemoryLimitSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want int64
		bad  bool
	}{
		{raw: "", want: 64 << 20}, // the default
		{raw: "off", want: 0},
		{raw: "64MiB", want: 64 << 20},
		{raw: "1GiB", want: 1 << 30},
		{raw: "20000KiB", want: 20000 << 10},
		{raw: "104857600", want: 100 << 20},
		{raw: "104857600B", want: 100 << 20},
		{raw: "7MiB", bad: true}, // below the floor
		{raw: "64MB", bad: true}, // decimal units are not GOMEMLIMIT's
		{raw: "-64MiB", bad: true},
		{raw: "99999999999TiB", bad: true},
		{raw: "lots", bad: true},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addFlags(fs, sMemoryLimit)
		got, err := loadMemoryLimit(fs, env(map[string]string{"KEEL_MEMORY_LIMIT": tt.raw}))
		if tt.bad {
			if err == nil || !strings.Contains(err.Error(), "KEEL_MEMORY_LIMIT") {
				t.Errorf("%q: %d, %v; want an error naming the setting", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %d, %v; want %d", tt.raw, got, err, tt.want)
		}
	}
}

func TestSearchMmapSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want int64
		bad  bool
	}{
		{raw: "", want: 512 << 20}, // the default
		{raw: "off", want: 0},
		{raw: "0", want: 0},
		{raw: "64MiB", want: 64 << 20},
		{raw: "2GiB", want: 2 << 30},
		{raw: "512MB", bad: true},
		{raw: "-1", bad: true},
		{raw: "on", bad: true},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addFlags(fs, sSearchMmap)
		got, err := loadSearchMmap(fs, env(map[string]string{"KEEL_SQLITE_SEARCH_MMAP": tt.raw}))
		if tt.bad {
			if err == nil || !strings.Contains(err.Error(), "KEEL_SQLITE_SEARCH_MMAP") {
				t.Errorf("%q: %d, %v; want an error naming the setting", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q = %d, %v; want %d", tt.raw, got, err, tt.want)
		}
	}
}
