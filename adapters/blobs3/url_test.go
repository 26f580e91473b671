package blobs3_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/domain"
)

func TestParseURL(t *testing.T) {
	for raw, want := range map[string]blobs3.Config{
		"s3://media":                     {Bucket: "media"},
		"s3://media/keel":                {Bucket: "media", Prefix: "keel/"},
		"s3://media/keel/site-1/":        {Bucket: "media", Prefix: "keel/site-1/"},
		"s3://media?region=eu-central-1": {Bucket: "media", Region: "eu-central-1"},
		"s3://media?endpoint=minio:9000": {Bucket: "media", Endpoint: "https://minio:9000", PathStyle: true},
		"s3://m.e-d?endpoint=http://127.0.0.1:8333&region=us-east-1":   {Bucket: "m.e-d", Endpoint: "http://127.0.0.1:8333", Region: "us-east-1", PathStyle: true},
		"s3://media?endpoint=https://s3.example.com/&path_style=false": {Bucket: "media", Endpoint: "https://s3.example.com"},
		"s3://media?path_style=true":                                   {Bucket: "media", PathStyle: true},
	} {
		got, err := blobs3.ParseURL(raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", raw, err)
			continue
		}
		if got != want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", raw, got, want)
		}
	}
	for raw, want := range map[string]string{
		"file:///tmp":                       "unsupported scheme",
		"s3:///keel":                        "no bucket",
		"s3://Media":                        "not valid",
		"s3://ab":                           "not valid",
		"s3://media/../etc":                 "prefix",
		"s3://media/Keel":                   "prefix",
		"s3://key:secret@media":             "credentials do not belong",
		"s3://media?endpoint=ftp://x":       "endpoint",
		"s3://media?endpoint=http://x/path": "endpoint",
		"s3://media?bucket=x":               "unknown parameter",
		"s3://media?path_style=yes":         "path_style",
		"s3://media/%zz":                    "cannot parse",
	} {
		_, err := blobs3.ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error with %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q)'s error shows the secret: %v", raw, err)
		}
	}
}

// TestUnreachableIsUnavailable: a server nobody answers at is a
// dependency that is down (503 to an API client), not a bug, for every
// method.
func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	cfg, err := blobs3.ParseURL("s3://media/keel?endpoint=http://127.0.0.1:1&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = "key", "secret"
	s, err := blobs3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	start := time.Now()
	_, putErr := s.Put(ctx, "a", "text/plain", 1, strings.NewReader("x"))
	_, _, getErr := s.Get(ctx, "a", 0, -1)
	_, statErr := s.Stat(ctx, "a")
	_, _, listErr := s.List(ctx, "", "", 10)
	for name, err := range map[string]error{"Put": putErr, "Get": getErr, "Stat": statErr, "List": listErr, "Delete": s.Delete(ctx, "a")} {
		if k := domain.KindOf(err); k != domain.KindUnavailable {
			t.Errorf("%s: err = %v (kind %v), want unavailable", name, err, k)
		}
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("five calls to a closed port took %v", d)
	}
}
