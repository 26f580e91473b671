package e2e

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/keelhq/keel/test/keelproc"
)

// TestServeSetsTheMemoryLimit runs the binary and reads the Go runtime's
// memory limit back from /metrics: KEEL_MEMORY_LIMIT's default, a value
// set, off, and GOMEMLIMIT winning over the setting. An empty GOMEMLIMIT
// is unset for the runtime and for Keel, whatever the test's environment.
func TestServeSetsTheMemoryLimit(t *testing.T) {
	t.Parallel()
	const none = 1<<63 - 1 // the runtime's "no limit"
	tests := []struct {
		name string
		env  []string
		want float64
	}{
		{"default", []string{"GOMEMLIMIT="}, 64 << 20},
		{"set", []string{"GOMEMLIMIT=", "KEEL_MEMORY_LIMIT=48MiB"}, 48 << 20},
		{"off", []string{"GOMEMLIMIT=", "KEEL_MEMORY_LIMIT=off"}, none},
		{"GOMEMLIMIT wins", []string{"GOMEMLIMIT=100MiB", "KEEL_MEMORY_LIMIT=48MiB"}, 100 << 20},
	}
	metric := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := keelproc.Serve(t, "keel", append(tt.env, "KEEL_DATA_DIR="+t.TempDir()))
			m := metric.FindStringSubmatch(p.Metrics(t))
			if m == nil {
				t.Fatal("/metrics has no go_gc_gomemlimit_bytes")
			}
			got, err := strconv.ParseFloat(m[1], 64)
			if err != nil || got != tt.want {
				t.Errorf("memory limit %s, want %.0f", m[1], tt.want)
			}
			p.Stop(t)
		})
	}
}
