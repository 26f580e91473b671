package containers

import (
	"strings"
	"testing"
)

// The error for a missing default image names the variable that replaces
// it and the image make images builds. It is checked on the message
// itself, not through the daemon, so that it runs on every machine, those
// that hold the default images included.
func TestMissingDefaultImageTellsHowToReplaceIt(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]string{
		DefaultPostgresImage: "run make images and set KEEL_TEST_POSTGRES_IMAGE=local/postgres:15",
		DefaultMailpitImage:  "run make images and set KEEL_TEST_MAILPIT_IMAGE=local/mailpit:v1.33.1",
		DefaultRedisImage:    "run make images and set KEEL_TEST_REDIS_IMAGE=local/redis:7",
		"example/other:1":    "run make images",
	} {
		err := missing(image)
		if msg := err.Error(); !strings.Contains(msg, image+" is missing") || !strings.Contains(msg, want) {
			t.Errorf("missing(%s) = %q, want it to name the image and say %q", image, msg, want)
		}
	}
	if msg := missing("example/other:1").Error(); strings.Contains(msg, "KEEL_TEST_") {
		t.Errorf("missing(example/other:1) = %q: no variable replaces that image", msg)
	}
}
