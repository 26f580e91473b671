// Package containers holds what every container-backed test in Keel needs:
// the settings testcontainers must run with on Keel's machines, the names of
// the images to run, a check that fails fast when an image is missing, a
// port binding that keeps test services on loopback, and a label that tells
// scripts/test.sh's sweep which containers are still in use.
package containers

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

// The images a plain `go test` runs. scripts/test.sh replaces them with
// local/postgres and local/mailpit, built by scripts/images.sh, on machines
// that cannot pull from a registry.
const (
	DefaultPostgresImage = "postgres:17-alpine"
	DefaultMailpitImage  = "axllent/mailpit:v1.33.1"
	DefaultRedisImage    = "redis:7-alpine"
)

// Environment variables that choose the images.
const (
	PostgresImageEnv = "KEEL_TEST_POSTGRES_IMAGE"
	MailpitImageEnv  = "KEEL_TEST_MAILPIT_IMAGE"
	RedisImageEnv    = "KEEL_TEST_REDIS_IMAGE"
)

// replacements maps each default image to the variable that overrides it
// and the image scripts/images.sh builds in its place, so an error about a
// missing default image can say what to do.
var replacements = map[string]struct{ env, local string }{
	DefaultPostgresImage: {PostgresImageEnv, "local/postgres:15"},
	DefaultMailpitImage:  {MailpitImageEnv, "local/mailpit:v1.33.1"},
	DefaultRedisImage:    {RedisImageEnv, "local/redis:7"},
}

// SetDefaults sets the two testcontainers settings without which nothing
// works on Keel's machines, unless the environment already chose otherwise.
// Call it first in TestMain, before any container starts: testcontainers
// reads its configuration once.
//
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1: the machines have a /.dockerenv,
// so testcontainers believes it runs inside a container and dials the default
// gateway instead of the mapped port; every wait strategy then times out.
//
// TESTCONTAINERS_RYUK_DISABLED=true: the reaper image cannot be pulled. Tests
// terminate their containers themselves (Stop in TestMain) and scripts/test.sh
// sweeps leftovers by the org.testcontainers=true label.
func SetDefaults() {
	setIfUnset("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	setIfUnset("TESTCONTAINERS_RYUK_DISABLED", "true")
}

// Main is a test package's TestMain: it sets the defaults, runs the tests,
// then stops what they started (the shared containers, a built binary),
// reporting a cleanup that fails without failing the run, whose verdict is
// the tests'.
func Main(m *testing.M, cleanups ...func() error) {
	SetDefaults()
	code := m.Run()
	for _, cleanup := range cleanups {
		if err := cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup after the tests:", err)
		}
	}
	os.Exit(code)
}

func setIfUnset(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		_ = os.Setenv(key, value) // fails only for an invalid key
	}
}

// PostgresImage returns the PostgreSQL image to run: $KEEL_TEST_POSTGRES_IMAGE,
// or DefaultPostgresImage.
func PostgresImage() string { return imageFrom(PostgresImageEnv, DefaultPostgresImage) }

// MailpitImage returns the Mailpit image to run: $KEEL_TEST_MAILPIT_IMAGE, or
// DefaultMailpitImage.
func MailpitImage() string { return imageFrom(MailpitImageEnv, DefaultMailpitImage) }

// RedisImage returns the Redis image to run: $KEEL_TEST_REDIS_IMAGE, or
// DefaultRedisImage. Keel does not use Redis; test/nodes compares it with
// PostgreSQL as the store of shared rate limits.
func RedisImage() string { return imageFrom(RedisImageEnv, DefaultRedisImage) }

func imageFrom(env, fallback string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return fallback
}

// RequireImage returns nil when the Docker daemon holds image, an error that
// says to run make images when it does not, and the daemon's error when it
// cannot tell. It never pulls: on a machine without a registry a pull fails
// only after a long wait, with an error that hides the real cause.
func RequireImage(ctx context.Context, image string) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("connect to docker (scripts/docker.sh starts it): %w", err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return missing(image)
		}
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	return nil
}

// missing is RequireImage's error for an image the daemon does not hold.
func missing(image string) error {
	return fmt.Errorf("image %s is missing: run make images%s", image, hint(image))
}

// hint tells how to use the locally built replacement of a default image;
// make test picks the images by itself.
func hint(image string) string {
	r, ok := replacements[image]
	if !ok {
		return ""
	}
	return fmt.Sprintf(" and set %s=%s (make test does both)", r.env, r.local)
}

// LoopbackPorts publishes each of ports ("5432/tcp") on 127.0.0.1 only, on
// a port Docker picks, so test services are never reachable from the
// network, whatever the daemon's default address (scripts/docker.sh starts
// dockerd with --ip=127.0.0.1; Docker Desktop and CI daemons do not). It
// composes with other host config modifiers.
func LoopbackPorts(ports ...string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		bindings := network.PortMap{}
		for _, p := range ports {
			port, err := network.ParsePort(p)
			if err != nil {
				return fmt.Errorf("parse port %q: %w", p, err)
			}
			bindings[port] = []network.PortBinding{{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1})}}
		}
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = bindings
		})(req)
	}
}

// PIDLabel is the label ProcessLabel sets: the process id of the test
// binary that started the container.
const PIDLabel = "org.keelhq.pid"

// ProcessLabel labels the container with the test binary's process id.
// Without Ryuk, scripts/test.sh sweeps leftover containers before and after
// a run; it spares those whose binary is still alive, so a sweep never pulls
// a container from under another test run on the same machine.
func ProcessLabel() testcontainers.CustomizeRequestOption {
	return testcontainers.WithLabels(map[string]string{PIDLabel: strconv.Itoa(os.Getpid())})
}
