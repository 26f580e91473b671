package blobs3_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/ports/porttest"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/s3server"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	if err := s3server.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the S3 server:", err)
	}
	os.Exit(code)
}

var stores atomic.Int64

// TestContract runs the suite on SeaweedFS's S3 gateway. Every case gets a
// prefix of its own in one bucket, as stores of several Keel installations
// might share a bucket; one case gets a bucket without a prefix.
func TestContract(t *testing.T) {
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	porttest.BlobStore(t, func(t *testing.T) porttest.BlobHarness {
		n := stores.Add(1)
		if n == 2 {
			// The bucket's root, in a bucket of its own.
			return porttest.BlobHarness{Store: newStore(t, srv, "s3://"+srv.NewBucket(t)), SignsURLs: true}
		}
		return porttest.BlobHarness{Store: newStore(t, srv, fmt.Sprintf("s3://%s/t%d", bucket, n)), SignsURLs: true}
	})
}

func newStore(t *testing.T, srv *s3server.Server, raw string) *blobs3.Store {
	t.Helper()
	cfg, err := blobs3.ParseURL(raw + "?region=" + s3server.Region + "&endpoint=" + srv.Endpoint)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey
	s, err := blobs3.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// TestCheck says what is wrong with the setting before anything is
// stored: a missing bucket, wrong credentials, an endpoint nobody answers.
func TestCheck(t *testing.T) {
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	if err := newStore(t, srv, "s3://"+bucket+"/keel").Check(t.Context()); err != nil {
		t.Errorf("Check of a good bucket: %v", err)
	}
	if err := newStore(t, srv, "s3://no-such-bucket-here").Check(t.Context()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Check of a missing bucket: %v, want one that says it does not exist", err)
	}

	cfg, err := blobs3.ParseURL("s3://" + bucket + "?endpoint=" + srv.Endpoint + "&region=" + s3server.Region)
	if err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string][2]string{"wrong secret": {s3server.AccessKey, "wrong-secret"}, "unknown key": {"wrong", "wrong-secret"}, "none": {"", ""}} {
		cfg.AccessKeyID, cfg.SecretAccessKey = keys[0], keys[1]
		s, err := blobs3.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Errorf("Check with %s credentials: %v, want access denied", name, err)
		}
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey

	// A port nobody listens on: refused at once, and said so.
	cfg.Endpoint = "http://127.0.0.1:1"
	s, err := blobs3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Check of a closed port: %v, want unreachable", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Check of a closed port took %v", d)
	}
}
