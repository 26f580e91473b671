package mediaimage

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/keelhq/keel/domain"
)

// photo encodes a w×h JPEG with some texture, as a camera's would have.
func photo(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x ^ y), uint8(x * 3), uint8(y * 5), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkColdVariant12MP makes the 1920-wide variant of a 12-megapixel
// JPEG (4000×3000): decode, scale, encode, what the first request for a
// variant costs (the target is under 400 ms).
func BenchmarkColdVariant12MP(b *testing.B) {
	src := photo(b, 4000, 3000)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if err := (Processor{}).Resize(b.Context(), domain.MediaJPEG, bytes.NewReader(src), 1920, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestResizeKeepsAspectAndNeverEnlarges checks the variant's size: the
// aspect ratio kept, and an image narrower than the width left as wide.
func TestResizeKeepsAspectAndNeverEnlarges(t *testing.T) {
	for _, tc := range []struct{ w, h, width, wantW, wantH int }{
		{4000, 3000, 640, 640, 480},
		{300, 200, 640, 300, 200},
		{1000, 10, 320, 320, 3},
	} {
		var out bytes.Buffer
		if err := (Processor{}).Resize(t.Context(), domain.MediaJPEG, bytes.NewReader(photo(t, tc.w, tc.h)), tc.width, &out); err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(&out)
		if err != nil || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
			t.Errorf("%dx%d at %d = %dx%d (%v), want %dx%d", tc.w, tc.h, tc.width, cfg.Width, cfg.Height, err, tc.wantW, tc.wantH)
		}
	}
}

// TestStripMetadataDropsEXIFAndKeepsTheImage strips a JPEG with EXIF
// and a comment: both go, the rest is byte for byte the same image.
func TestStripMetadataDropsEXIFAndKeepsTheImage(t *testing.T) {
	src := photo(t, 64, 48)
	exif := append([]byte{0xFF, 0xE1, 0x00, 0x10}, []byte("Exif\x00\x00GPS-here")...)
	com := append([]byte{0xFF, 0xFE, 0x00, 0x07}, []byte("hello")...)
	in := append(append(append(append([]byte{}, src[:2]...), exif...), com...), src[2:]...)
	var out bytes.Buffer
	if err := (Processor{}).StripMetadata(domain.MediaJPEG, &out, bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), src) {
		t.Errorf("stripped = %d bytes, want the %d of the JPEG without its EXIF and comment", out.Len(), len(src))
	}
	if _, err := jpeg.Decode(bytes.NewReader(out.Bytes())); err != nil {
		t.Errorf("stripped JPEG does not decode: %v", err)
	}
}
