package s3server

import (
	"os"
	"regexp"
	"testing"
)

// TestDefaultImageIsTheOneImagesBuilds keeps DefaultImage in step with
// the tag scripts/images.sh builds, so a plain go test finds the image.
func TestDefaultImageIsTheOneImagesBuilds(t *testing.T) {
	env, err := os.ReadFile("../../scripts/images/images.env")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LOCAL_SEAWEEDFS_IMAGE=(\S+)$`).FindSubmatch(env)
	if m == nil {
		t.Fatal("images.env sets no LOCAL_SEAWEEDFS_IMAGE")
	}
	if string(m[1]) != DefaultImage {
		t.Errorf("images.env builds %s, DefaultImage is %s", m[1], DefaultImage)
	}
}
