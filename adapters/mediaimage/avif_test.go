package mediaimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/keelhq/keel/domain"
)

// box encodes an ISO BMFF box of type typ around the parts.
func box(typ string, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(out, typ...), body...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// fullBox is a box with a version and flags before its body.
func fullBox(typ string, version byte, flags uint32, parts ...[]byte) []byte {
	vf := u32(uint32(version)<<24 | flags)
	return box(typ, append([][]byte{vf}, parts...)...)
}

func ispe(w, h uint32) []byte { return fullBox("ispe", 0, 0, u32(w), u32(h)) }

// testAVIF lays out an AVIF as libavif writes one: ftyp, then meta with
// hdlr, pitm (item 1), iinf, iprp (ipco with a thumbnail's ispe first,
// then av1C, the primary's ispe and, when turned, an irot; ipma tying
// item 1 to its own properties and item 2 to the thumbnail's), then mdat.
func testAVIF(w, h uint32, turned bool) []byte {
	props := [][]byte{ispe(160, 90), box("av1C", []byte{0x81, 0, 0, 0}), ispe(w, h)}
	primary := []byte{0x82, 3} // av1C essential, the primary's ispe
	if turned {
		props = append(props, box("irot", []byte{1}))
		primary = append(primary, 0x84)
	}
	ipma := fullBox("ipma", 0, 0, u32(2),
		u16(1), []byte{byte(len(primary))}, primary,
		u16(2), []byte{2, 0x82, 1})
	meta := fullBox("meta", 0, 0,
		fullBox("hdlr", 0, 0, u32(0), []byte("pict"), make([]byte, 13)),
		fullBox("pitm", 0, 0, u16(1)),
		fullBox("iinf", 0, 0, u16(0)),
		box("iprp", box("ipco", props...), ipma))
	return bytes.Join([][]byte{
		box("ftyp", []byte("avif"), u32(0), []byte("avifmif1miaf")),
		meta,
		box("mdat", make([]byte, 64)),
	}, nil)
}

func TestAVIFDimensions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		file       []byte
		wantW      int
		wantH      int
		wantFailed bool
	}{
		{name: "PrimaryItemsIspeNotTheThumbnails", file: testAVIF(4032, 3024, false), wantW: 4032, wantH: 3024},
		{name: "IrotSwapsWidthAndHeight", file: testAVIF(4032, 3024, true), wantW: 3024, wantH: 4032},
		{name: "WithoutPitmTheFirstIspe", file: bytes.Join([][]byte{
			box("ftyp", []byte("avif"), u32(0)),
			fullBox("meta", 0, 0, box("iprp", box("ipco", ispe(640, 480)))),
		}, nil), wantW: 640, wantH: 480},
		{name: "LargeSizeBoxes", file: func() []byte {
			f := testAVIF(100, 50, false)
			// The same ftyp with a 64-bit size.
			ftyp := box("ftyp", []byte("avif"), u32(0), []byte("avifmif1miaf"))
			large := append(append(u32(1), "ftyp"...), binary.BigEndian.AppendUint64(nil, uint64(len(ftyp)+8))...)
			return append(append(large, ftyp[8:]...), f[len(ftyp):]...)
		}(), wantW: 100, wantH: 50},
		{name: "NoMeta", file: box("ftyp", []byte("avif"), u32(0)), wantFailed: true},
		{name: "ZeroSize", file: testAVIF(0, 10, false), wantFailed: true},
		{name: "BoxLongerThanTheFile", file: append(u32(1<<31), "meta"...), wantFailed: true},
		{name: "BoxShorterThanItsHeader", file: append(u32(3), "meta"...), wantFailed: true},
		{name: "LargeSizeBeyondTheFile", file: append(append(u32(1), "meta"...), binary.BigEndian.AppendUint64(nil, 1<<62)...), wantFailed: true},
		{name: "IpmaCountingMoreEntriesThanItHolds", file: func() []byte {
			ipma := fullBox("ipma", 0, 0, u32(0xffffffff), u16(1), []byte{200, 1})
			return fullBox("meta", 0, 0, fullBox("pitm", 0, 0, u16(1)), box("iprp", box("ipco", ispe(10, 10)), ipma))
		}(), wantW: 10, wantH: 10}, // a malformed ipma falls back to the first ispe
		{name: "IpmaIndexOutOfRange", file: func() []byte {
			ipma := fullBox("ipma", 0, 0, u32(1), u16(1), []byte{1, 0x7f})
			return fullBox("meta", 0, 0, fullBox("pitm", 0, 0, u16(1)), box("iprp", box("ipco", ispe(10, 10)), ipma))
		}(), wantFailed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, h, err := Processor{}.Dimensions(domain.MediaAVIF, bytes.NewReader(tc.file))
			if tc.wantFailed {
				if !errors.Is(err, domain.ErrMediaCorrupt) {
					t.Fatalf("Dimensions = %d×%d, %v; want media_corrupt", w, h, err)
				}
				return
			}
			if err != nil || w != tc.wantW || h != tc.wantH {
				t.Fatalf("Dimensions = %d×%d, %v; want %d×%d", w, h, err, tc.wantW, tc.wantH)
			}
		})
	}
}

// TestAVIFDimensionsTruncated cuts a valid file at every length: each
// cut is an answer or media_corrupt, never a panic.
func TestAVIFDimensionsTruncated(t *testing.T) {
	t.Parallel()
	f := testAVIF(1920, 1080, true)
	for n := range len(f) {
		w, h, err := Processor{}.Dimensions(domain.MediaAVIF, bytes.NewReader(f[:n]))
		if err == nil && (w <= 0 || h <= 0) {
			t.Fatalf("cut at %d: %d×%d without an error", n, w, h)
		}
	}
}

// TestAVIFDimensionsDeepNesting feeds boxes nested far deeper and more
// numerous than any image has: the walk stays bounded.
func TestAVIFDimensionsDeepNesting(t *testing.T) {
	t.Parallel()
	many := bytes.Repeat(box("free"), 200_000) // 1.6 MB of empty boxes
	if _, _, err := (Processor{}).Dimensions(domain.MediaAVIF, bytes.NewReader(many)); !errors.Is(err, domain.ErrMediaCorrupt) {
		t.Fatalf("a file of empty boxes: err = %v, want media_corrupt", err)
	}
	nested := ispe(5, 5)
	for range 1000 {
		nested = box("ipco", nested)
	}
	if _, _, err := (Processor{}).Dimensions(domain.MediaAVIF, bytes.NewReader(fullBox("meta", 0, 0, box("iprp", nested)))); !errors.Is(err, domain.ErrMediaCorrupt) {
		t.Fatalf("an ispe nested 1000 deep: err = %v, want media_corrupt", err)
	}
}

// FuzzAVIFDimensions checks that no input panics, and that a size is only
// ever answered positive.
func FuzzAVIFDimensions(f *testing.F) {
	f.Add(testAVIF(4032, 3024, false))
	f.Add(testAVIF(1, 1, true))
	f.Add(append(u32(1), "meta"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, err := Processor{}.Dimensions(domain.MediaAVIF, bytes.NewReader(b))
		if err == nil && (w <= 0 || h <= 0) {
			t.Fatalf("%d×%d without an error", w, h)
		}
		if err != nil && !errors.Is(err, domain.ErrMediaCorrupt) {
			t.Fatalf("err = %v, want media_corrupt", err)
		}
	})
}
