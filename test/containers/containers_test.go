package containers_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/containers"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	os.Exit(m.Run())
}

func TestRequireImageAcceptsAPresentImage(t *testing.T) {
	// The suite needs the Mailpit image anyway; make test provides it.
	if err := containers.RequireImage(t.Context(), containers.MailpitImage()); err != nil {
		t.Fatalf("RequireImage(%s): %v", containers.MailpitImage(), err)
	}
}

func TestRequireImageNeverPulls(t *testing.T) {
	start := time.Now()
	err := containers.RequireImage(t.Context(), "keel.invalid/never-pulled:0")
	if err == nil || !strings.Contains(err.Error(), "is missing: run make images") {
		t.Fatalf("err = %v, want one that says to run make images", err)
	}
	// An inspect answers in milliseconds; a pull attempt would take longer.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RequireImage took %v: did it pull?", d)
	}
}

func TestSetDefaultsKeepsChosenValues(t *testing.T) {
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "192.0.2.1")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "") // set, though empty
	_ = os.Unsetenv("TESTCONTAINERS_RYUK_DISABLED")

	containers.SetDefaults()

	if got := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); got != "192.0.2.1" {
		t.Errorf("TESTCONTAINERS_HOST_OVERRIDE = %q, want the chosen 192.0.2.1", got)
	}
	if got := os.Getenv("TESTCONTAINERS_RYUK_DISABLED"); got != "true" {
		t.Errorf("TESTCONTAINERS_RYUK_DISABLED = %q, want true", got)
	}
}

func TestImagesComeFromTheEnvironment(t *testing.T) {
	t.Setenv(containers.PostgresImageEnv, "")
	t.Setenv(containers.MailpitImageEnv, "example/mailpit:1")
	if got := containers.PostgresImage(); got != containers.DefaultPostgresImage {
		t.Errorf("PostgresImage() = %q, want the default %q", got, containers.DefaultPostgresImage)
	}
	if got := containers.MailpitImage(); got != "example/mailpit:1" {
		t.Errorf("MailpitImage() = %q, want example/mailpit:1", got)
	}
}
