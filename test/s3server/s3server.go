// Package s3server runs one S3-compatible server per test binary, SeaweedFS
// (weed mini: its master, volume, filer and S3 gateway in one process) in
// a container built by scripts/images.sh, so the S3 blob store is tested
// against a real, independent implementation of the protocol.
//
// Tests share the server: each should use a bucket or a key prefix of its
// own (NewBucket gives a fresh bucket).
package s3server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keelhq/keel/test/containers"
)

// ImageEnv names the image to run; make test sets it to the image that
// scripts/images.sh builds (DefaultImage), which has no public twin here.
const ImageEnv = "KEEL_TEST_S3_IMAGE"

// DefaultImage is scripts/images/images.env's LOCAL_SEAWEEDFS_IMAGE.
const DefaultImage = "local/seaweedfs:4.53"

// The server's only identity. Test credentials, never secret.
const (
	AccessKey = "keeltest"
	SecretKey = "keeltest-secret-key"
	Region    = "us-east-1"
)

// Server is a running S3-compatible server.
type Server struct {
	// Endpoint is the S3 API's base URL, http://127.0.0.1:port.
	Endpoint string
	client   *minio.Client
	ctr      testcontainers.Container
}

// Image returns the image to run: $KEEL_TEST_S3_IMAGE, or DefaultImage.
func Image() string {
	if v := os.Getenv(ImageEnv); v != "" {
		return v
	}
	return DefaultImage
}

// The binary's server. Stop runs after m.Run, when no test can call Start,
// so once.Do is the only synchronisation needed.
var (
	once     sync.Once
	server   *Server
	startErr error
	buckets  atomic.Int64
)

// Start returns the binary's server, starting it on first use. It fails t
// when the image is missing (run make images) or the server does not
// start.
func Start(t testing.TB) *Server {
	t.Helper()
	// The container outlives the test that starts it, hence Background.
	once.Do(func() { server, startErr = start(context.Background()) })
	if startErr != nil {
		t.Fatalf("start the S3 server: %v", startErr)
	}
	return server
}

func start(ctx context.Context) (*Server, error) {
	image := Image()
	if err := containers.RequireImage(ctx, image); err != nil {
		return nil, err
	}
	ctr, err := testcontainers.Run(ctx, image,
		containers.LoopbackPorts("8333/tcp"),
		containers.ProcessLabel(),
		testcontainers.WithExposedPorts("8333/tcp"),
		testcontainers.WithCmd("mini", "-dir=/data", "-ip=127.0.0.1", "-ip.bind=0.0.0.0",
			"-webdav=false", "-admin.ui=false"),
		testcontainers.WithEnv(map[string]string{
			// weed mini makes these its S3 identity.
			"AWS_ACCESS_KEY_ID":     AccessKey,
			"AWS_SECRET_ACCESS_KEY": SecretKey,
		}),
		// The image holds only the binary: no shell for the internal
		// port check. The gateway answers before the filer behind it
		// is ready, so readiness is a bucket made below.
		testcontainers.WithWaitStrategy(wait.ForListeningPort("8333/tcp").SkipInternalCheck().WithStartupTimeout(2*time.Minute)),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("run %s: %w", image, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "8333/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("mapped port of %s: %w", image, err)
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, err
	}
	s := &Server{Endpoint: "http://" + endpoint, client: client, ctr: ctr}
	// Poll with a deadline until a bucket can be made: the first proof
	// that the whole chain (gateway, filer, master, volume) is up.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err = client.MakeBucket(ctx, "keel-ready", minio.MakeBucketOptions{Region: Region})
		if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = testcontainers.TerminateContainer(ctr)
			return nil, fmt.Errorf("%s never made a bucket: %w", image, err)
		}
		time.Sleep(200 * time.Millisecond) // polling another process, not synchronising
	}
}

// NewBucket makes a bucket of its own for t and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("keel-%d-%d", os.Getpid(), buckets.Add(1))
	if err := s.client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}

// Stop terminates the binary's server, if it started. Call it in TestMain
// after m.Run: without Ryuk nothing else removes the container.
func Stop() error {
	if server == nil {
		return nil
	}
	err := testcontainers.TerminateContainer(server.ctr, testcontainers.StopTimeout(time.Second))
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}
